"""Soak of the served forecast deployment (issue 25): does anything grow with the number of runs?

In a temporary home (nothing of your own store is touched) this starts an MLflow tracking server
and a Prefect server on free loopback ports, trains and registers a tiny champion once
(airpassengers, one GRU of 8 units, 5 epochs), then runs ``forecast serve`` with the forecast
deployment on a 60-second interval (``--forecast-interval 60``; the weekly retrain is set to a
yearly cron so that it stays out of the way) for ``--minutes`` minutes. Every ``--sample-s``
seconds it records:

* RSS, open file descriptors, threads and processes of the serve process tree (psutil; the
  served runs are spawned child processes), and RSS of the two servers;
* MLflow runs by status (a RUNNING run that stays RUNNING is a leak);
* Prefect flow runs of the deployment by state, among those already due;
* forecast files, how many are whole (parse, 12 rows, no NaN) and temporary files left behind;
* files and bytes in the serve process's TMPDIR, the Prefect home and the MLflow store.

Samples go, one JSON object a line, to ``benchmarks/results/soak-<minutes>min-<UTC>.jsonl`` as
they are taken; at the end the script waits for the last runs to finish, records the final
accounting, stops every process it started (by process group, also on Ctrl-C, SIGTERM or an
error), removes the temporary home (kept after an error, or with ``--keep``) and writes ``benchmarks/RESULTS-soak.md`` (``--no-write``: not). ``--from-records FILE`` rewrites the
RESULTS text from a raw file. Not part of CI.

    nohup nice -n 5 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/soak.py > /tmp/soak.log 2>&1 &
    .venv/bin/python benchmarks/soak.py --minutes 5 --no-write       # a quick shake-out
    .venv/bin/python benchmarks/soak.py --from-records benchmarks/results/soak-60min-<UTC>.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import reliability  # noqa: E402 - its servers, commands and checks

RESULTS = HERE / "RESULTS-soak.md"
RAW = HERE / "results"
DEPLOYMENT = "hourly-forecast"  # pipelines.schedules.FORECAST_DEPLOYMENT, whatever its interval
TARGET = 0.05  # growth allowed after the settling time
MB = 2**20


# ------------------------------------------------------------------ starting and stopping
def start_mlflow(store):
    from pipelines import server

    port = reliability.free_port()
    return server.start_ui(port, store=store, wait=180), f"http://127.0.0.1:{port}"


def write_config(path, uri, out):
    path.write_text(
        "\n".join(
            [
                "[common]",
                'data = "airpassengers"',
                f'tracking_uri = "{uri}"',
                'experiment = "soak"',
                f'output_dir = "{out}"',
                "[serve]",
                'train_cron = "0 3 1 1 *"  # yearly: the soak is about the forecast deployment',
                "forecast_interval_seconds = 60",
                "",
            ]
        )
    )
    return path


def stop_group(proc, first=signal.SIGINT, grace=30):
    """Stop ``proc`` and its process group (it was started in a session of its own): ``first``,
    then SIGTERM, then SIGKILL, each after ``grace`` seconds."""
    if proc is None:
        return
    for sig in (first, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace)
            try:
                os.killpg(proc.pid, 0)  # the leader is gone; are its children?
            except ProcessLookupError:
                return
        except subprocess.TimeoutExpired:
            continue


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


# ------------------------------------------------------------------ measuring
def process_tree(pid):
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_stats(pid):
    """{rss_mb, fds, threads, procs} of ``pid`` and its descendants ("tree") and of ``pid`` alone
    ("serve"; None when it is gone). The descendants of ``forecast serve`` are its served runs
    (``python -m prefect.engine``, a fresh process each) and whatever it might leave behind."""
    import psutil

    tree, serve = [], []
    for i, p in enumerate(process_tree(pid)):
        try:
            with p.oneshot():
                stats = (p.memory_info().rss, p.num_fds(), p.num_threads())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # a served run that just ended
        tree.append(stats)
        if i == 0:
            serve.append(stats)
    return {"tree": _total(tree), "serve": _total(serve)}


def _total(stats):
    if not stats:
        return None
    rss, fds, threads = (sum(s[j] for s in stats) for j in range(3))
    return {"rss_mb": round(rss / MB, 1), "fds": fds, "threads": threads, "procs": len(stats)}


def folder_stats(path):
    files = [p for p in Path(path).rglob("*") if p.is_file()] if Path(path).exists() else []
    return [len(files), sum(p.stat().st_size for p in files if p.exists())]


def _post(url, body):
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def flow_runs(api):
    """Every flow run of the forecast deployment: [{name, state, expected, start, end}]."""
    runs, offset = [], 0
    while True:
        page = _post(
            f"{api}/flow_runs/filter",
            {
                "deployments": {"name": {"any_": [DEPLOYMENT]}},
                "sort": "EXPECTED_START_TIME_ASC",
                "limit": 200,
                "offset": offset,
            },
        )
        runs += [
            {
                "name": r["name"],
                "state": r["state_name"],
                "expected": r["expected_start_time"],
                "start": r["start_time"],
                "end": r["end_time"],
            }
            for r in page
        ]
        if len(page) < 200:
            return runs
        offset += 200


def due_by_state(runs, now):
    counts = {}
    for r in runs:
        if datetime.fromisoformat(r["expected"]) <= now:
            counts[r["state"]] = counts.get(r["state"], 0) + 1
    return counts


def mlflow_runs(uri):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    counts, token = {}, None
    while True:
        page = client.search_runs(ids, max_results=1000, page_token=token)
        for run in page:
            counts[run.info.status] = counts.get(run.info.status, 0) + 1
        token = page.token
        if not token:
            return counts


def sample(t0, serve, servers, paths, api, uri):
    now = datetime.now(timezone.utc)
    parts = tree_stats(serve.pid)
    return {
        "kind": "sample",
        "t_s": round(time.monotonic() - t0, 1),
        "utc": now.isoformat(timespec="seconds"),
        "load1": round(os.getloadavg()[0], 2),
        **parts,
        "servers_rss_mb": {k: tree_stats(p.pid)["tree"]["rss_mb"] for k, p in servers.items()},
        "prefect_due": due_by_state(flow_runs(api), now),
        "mlflow_runs": mlflow_runs(uri),
        "outputs": reliability.check_forecasts(paths["outputs"]),
        "disk": {k: folder_stats(v) for k, v in paths.items()},
    }


# ------------------------------------------------------------------ the soak
def soak(opts, raw):
    tmp = Path(tempfile.mkdtemp(prefix="forecast-soak-"))
    paths = {
        "outputs": tmp / "forecasts",
        "serve_tmp": tmp / "serve-tmp",
        "prefect_home": tmp / "prefect",
        "mlflow_store": tmp / "mlflow",
    }
    for p in paths.values():
        p.mkdir()
    os.environ.update(FORECAST_HOME=str(tmp), PREFECT_HOME=str(paths["prefect_home"]))
    signal.signal(signal.SIGTERM, _raise_interrupt)
    started, serve, ok = {}, None, False
    write = lambda rec: _append(raw, rec)  # noqa: E731
    try:
        started["mlflow"], uri = start_mlflow(paths["mlflow_store"])
        started["prefect"], api = reliability.start_prefect(paths["prefect_home"])
        log = paths["prefect_home"] / "server.log"
        reliability.wait_healthy(f"{api}/health", started["prefect"], log)
        env = dict(os.environ, PREFECT_API_URL=api, OMP_NUM_THREADS="1")
        common = ["--tracking-uri", uri, "--experiment", "soak"]
        t_train = time.monotonic()
        attempts = train_champion(tmp, env, common)
        cfg = write_config(tmp / "soak.toml", uri, paths["outputs"])
        argv = [reliability.FORECAST, "serve", "--config", str(cfg), "--forecast-interval", "60"]
        write(
            {
                "kind": "meta",
                "command": " ".join(map(shlex.quote, sys.argv)),
                "serve": " ".join(argv[1:]),
                "minutes": opts.minutes,
                "sample_s": opts.sample_s,
                "settle_min": opts.settle_minutes,
                "train_s": round(time.monotonic() - t_train, 1),
                "train_attempts": attempts,
                "cores": os.cpu_count(),
                "nice": os.nice(0),
                "omp_threads": os.environ.get("OMP_NUM_THREADS"),
                "cpu": _cpu(),
                "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
        )
        log = open(tmp / "serve.log", "ab")  # noqa: SIM115 - held while serve runs
        serve_env = dict(env, TMPDIR=str(paths["serve_tmp"]))
        serve = subprocess.Popen(
            argv, env=serve_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        t0 = time.monotonic()
        servers = {k: started[k] for k in ("mlflow", "prefect")}
        while (elapsed := time.monotonic() - t0) < opts.minutes * 60:
            if serve.poll() is not None:
                raise RuntimeError(f"forecast serve exited with {serve.returncode}; see {log.name}")
            rec = sample(t0, serve, servers, paths, api, uri)
            write(rec)
            print(_line(rec), flush=True)
            time.sleep(max(0.0, opts.sample_s - (time.monotonic() - t0 - elapsed)))
        end = datetime.now(timezone.utc)
        write(finish(t0, end, serve, servers, paths, api, uri, opts.drain_s))
        ok = True
    finally:
        stop_group(serve)
        for proc in started.values():
            stop_group(proc, signal.SIGTERM)
        if ok and not opts.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        kept = "removed" if ok and not opts.keep else f"kept at {tmp}"
        print(f"[soak] stopped every process it started; temporary home {kept}", flush=True)


def train_champion(tmp, env, common, attempts=3):
    """Train and register the champion, trying up to ``attempts`` times: one ``forecast train``
    on 2 busy cores can fail to reach a server it finds slow to answer ("Failed to reach API")."""
    argv = ["train", *common, "--output-dir", str(tmp / "train-forecasts"), *reliability.TINY]
    for attempt in range(1, attempts + 1):
        train, _ = reliability.run_all([argv], env, tmp, f"train{attempt}")
        if train[0]["code"] == 0:
            return attempt
        print(f"[soak] training attempt {attempt} failed (exit {train[0]['code']})", flush=True)
        time.sleep(10)
    raise RuntimeError(
        f"training the champion failed: {(tmp / f'train{attempts}-0.log').read_text()}"
    )


def finish(t0, end, serve, servers, paths, api, uri, drain_s):
    """Wait (up to ``drain_s``) for the runs due by ``end`` to finish; the final accounting."""
    deadline = time.monotonic() + drain_s
    while time.monotonic() < deadline:
        due = [r for r in flow_runs(api) if datetime.fromisoformat(r["expected"]) <= end]
        if not [r for r in due if r["state"] in ("Running", "Pending")]:
            break
        time.sleep(5)
    rec = sample(t0, serve, servers, paths, api, uri)
    due = [r for r in flow_runs(api) if datetime.fromisoformat(r["expected"]) <= end]
    rec.update(kind="end", end_utc=end.isoformat(timespec="seconds"), runs=due)
    rec["seconds"] = [_seconds(r) for r in due if r["state"] == "Completed"]
    return rec


def _seconds(r):
    return round(
        (datetime.fromisoformat(r["end"]) - datetime.fromisoformat(r["start"])).total_seconds(), 1
    )


def _append(path, rec):
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _cpu():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def _line(r):
    return (
        f"[soak] {r['t_s'] / 60:5.1f} min  tree {r['tree']['rss_mb']:7.1f} MB "
        f"{r['tree']['fds']:4d} fds {r['tree']['procs']} procs  serve {r['serve']['rss_mb']} MB "
        f"{r['serve']['fds']} fds {r['serve']['threads']} threads  prefect {r['prefect_due']}  mlflow {r['mlflow_runs']}  "
        f"files {r['outputs']['files']}/{r['outputs']['whole']} whole  load {r['load1']}"
    )


# ------------------------------------------------------------------ the summary
def load(path):
    recs = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    meta = next(r for r in recs if r["kind"] == "meta")
    end = next((r for r in recs if r["kind"] == "end"), None)
    samples = [r for r in recs if r["kind"] == "sample"]
    for r in samples:  # the serve process's children: served runs, or anything left behind
        t, s = r["tree"], r["serve"]
        n = t["procs"] - s["procs"]
        r["children"] = {"procs": n} | (
            {"rss_mb": round(t["rss_mb"] - s["rss_mb"], 1), "fds": t["fds"] - s["fds"]} if n else {}
        )
    return meta, samples, end


def _get(rec, key):
    part, name = key.split(".")
    return (rec.get(part) or {}).get(name)


def growth(samples, key, settle_s, span_s=300):
    """Median of ``key`` over the ``span_s`` after ``settle_s`` vs over the last ``span_s``."""
    after = [s for s in samples if s["t_s"] >= settle_s and _get(s, key) is not None]
    if len(after) < 2:
        return None
    first = [_get(s, key) for s in after if s["t_s"] < after[0]["t_s"] + span_s]
    last = [_get(s, key) for s in after if s["t_s"] > after[-1]["t_s"] - span_s]
    base, final = statistics.median(first), statistics.median(last)
    peak = max(_get(s, key) for s in after)
    return {
        "base": base,
        "final": final,
        "samples": [len(first), len(last)],
        "peak": peak,
        "growth": final / base - 1 if base else None,
        "peak_growth": peak / base - 1 if base else None,
    }


KEYS = {
    "serve.rss_mb": "RSS of the serve process (MB)",
    "serve.fds": "open fds of the serve process",
    "serve.threads": "threads of the serve process",
    "children.rss_mb": "RSS of its children (the served run), in samples taken during a run (MB)",
    "children.fds": "open fds of its children, in samples taken during a run",
}
FLAT = tuple(KEYS)


def fewest_children(samples, settle_s, span_s=300):
    """Fewest child processes in the ``span_s`` after ``settle_s`` and in the last ``span_s``: a
    process left behind by each run would raise the second (between runs there are none)."""
    after = [s for s in samples if s["t_s"] >= settle_s]
    if len(after) < 2:
        return None
    first = [s["children"]["procs"] for s in after if s["t_s"] < after[0]["t_s"] + span_s]
    last = [s["children"]["procs"] for s in after if s["t_s"] > after[-1]["t_s"] - span_s]
    return {
        "base": min(first),
        "final": min(last),
        "peak": max(s["children"]["procs"] for s in after),
    }


def summarize(meta, samples, end):
    settle = meta["settle_min"] * 60
    if not [s for s in samples if s["t_s"] >= settle]:
        settle = samples[-1]["t_s"] / 2  # a short shake-out: the second half
    out = {"settle_s": settle, "growth": {k: growth(samples, k, settle) for k in KEYS}}
    out["children"] = fewest_children(samples, settle)
    out["servers"] = {
        k: growth(samples, f"servers_rss_mb.{k}", settle) for k in samples[0]["servers_rss_mb"]
    }
    if end is None:
        return out | {"ended": False}
    due = end["runs"]
    states = {}
    for r in due:
        states[r["state"]] = states.get(r["state"], 0) + 1
    done = states.get("Completed", 0)
    first = samples[0]
    out |= {
        "ended": True,
        "due": len(due),
        "completed": done,
        "states": states,
        "not_completed": [f"{r['name']} {r['state']}" for r in due if r["state"] != "Completed"],
        "run_s": {
            "median": statistics.median(end["seconds"]) if end["seconds"] else None,
            "max": max(end["seconds"], default=None),
        },
        "outputs": end["outputs"],
        "mlflow_runs": end["mlflow_runs"],
        "disk_per_run": {
            k: [
                round((v[0] - first["disk"][k][0]) / max(done, 1), 2),
                round((v[1] - first["disk"][k][1]) / max(done, 1)),
            ]
            for k, v in end["disk"].items()
        },
    }
    return out


def verdict(s):
    ok = lambda g: g is not None and g["growth"] is not None and g["growth"] < TARGET  # noqa: E731
    kids = s["children"]
    flat = all(ok(s["growth"][k]) for k in FLAT) and kids and kids["final"] <= kids["base"]
    o = s.get("outputs", {})
    whole = s.get("ended") and o.get("files") == o.get("whole") == s["completed"]
    every = s.get("ended") and s["completed"] == s["due"] and s["due"] > 0
    clean = not o.get("temporary_left") and not s.get("mlflow_runs", {}).get("RUNNING")
    return {"flat": flat, "every_run_completed": every, "outputs_whole": whole, "clean": clean}


def _pct(g):
    return "n/a" if g is None or g["growth"] is None else f"{100 * g['growth']:+.1f} %"


def markdown(meta, samples, end, raw_name):
    s, v = summarize(meta, samples, end), None
    v = verdict(s)
    mins = int(samples[-1]["t_s"] // 60)
    rows = []
    for m in range(0, mins + 1, 5):
        r = min(samples, key=lambda x, m=m: abs(x["t_s"] - 60 * m))
        p, o, kid = r["prefect_due"], r["outputs"], r["children"]
        rows.append(
            f"| {r['t_s'] / 60:.1f} | {r['serve']['rss_mb']:.1f} | {r['serve']['fds']} | "
            f"{r['serve']['threads']} | {kid['procs']} | {kid.get('rss_mb', '-')} | "
            f"{kid.get('fds', '-')} | {p.get('Completed', 0)} / {sum(p.values())} | "
            f"{sum(r['mlflow_runs'].values())} ({r['mlflow_runs'].get('RUNNING', 0)}) | "
            f"{o['files']} / {o['whole']} | {r['disk']['serve_tmp'][0]} | "
            f"{r['servers_rss_mb'].get('prefect', 0):.0f} / {r['servers_rss_mb'].get('mlflow', 0):.0f} "
            f"| {r['load1']} |"
        )
    growth_rows = (
        [
            f"| {label} | {g['base']:.1f} ({g['samples'][0]}) | {g['final']:.1f} ({g['samples'][1]}) "
            f"| {g['peak']:.1f} | {_pct(g)} | "
            f"{('yes' if g['growth'] is not None and g['growth'] < TARGET else 'NO') if k in FLAT else '-'} |"
            for k, label in KEYS.items()
            if (g := s["growth"][k]) is not None
        ]
        + [
            f"| fewest child processes in a window (between runs) | {k['base']} | {k['final']} | "
            f"{k['peak']} | {k['final'] - k['base']:+d} | {'yes' if k['final'] <= k['base'] else 'NO'} |"
            for k in [s["children"]]
            if k is not None
        ]
        + [
            f"| RSS of the {k} server (MB; not the target) | {g['base']:.1f} ({g['samples'][0]}) | "
            f"{g['final']:.1f} ({g['samples'][1]}) | "
            f"{g['peak']:.1f} | {_pct(g)} | - |"
            for k, g in s["servers"].items()
            if g is not None
        ]
    )
    lines = [
        "# Soak of the served forecast deployment (issue 25)",
        "",
        f"`{_as_run(meta)}` ({meta['cpu']}, {meta['cores']} logical cores; started "
        f"{meta['started_utc']}; raw samples: `results/{raw_name}`; regenerate this text with "
        f"`.venv/bin/python benchmarks/soak.py --from-records benchmarks/results/{raw_name}`).",
        "",
        f"In a temporary home: an MLflow tracking server and a Prefect server on loopback, a tiny "
        f"champion trained and registered once ({meta['train_s']:.0f} s{_attempts(meta)}), then "
        "`forecast "
        f"{_generic(meta['serve'])}` serving the forecast "
        f"deployment every 60 s for {meta['minutes']} minutes, sampled every {meta['sample_s']} s. "
        f"Load: column `load1` (1-minute load average of the machine, shared with other jobs).",
        "",
        "| min | serve RSS MB | serve fds | serve threads | children | children RSS MB | "
        "children fds | Prefect completed / due | MLflow runs (RUNNING) | files / whole | "
        "TMPDIR files | Prefect / MLflow server RSS MB | load1 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Growth after the first {s['settle_s'] / 60:.0f} minutes (median of the 5 minutes after "
        "it vs median of the last 5 minutes). The serve process is the one that lives through the "
        "soak; each scheduled run is a fresh child process (`python -m prefect.engine`), measured "
        "when a sample falls during one (a run lasts seconds of each minute: few samples, and "
        "which stage of the run they catch moves its fds). Servers' RSS is shown for the record; "
        f"the target is the served deployment's. Target: < {100 * TARGET:.0f} %.",
        "",
        "| measure | base (samples) | final (samples) | peak | growth | < 5 % |",
        "|---|---|---|---|---|---|",
        *growth_rows,
        "",
    ]
    if "resident" in samples[0]:
        lines += [
            "(The raw samples also hold `resident` and `runs` fields written by an earlier version "
            "of the script, which took served runs for spawned processes and so counted them as "
            "resident; they are not used here: the children are the tree less the serve process.)",
            "",
        ]
    if s["ended"]:
        o = s["outputs"]
        lines += [
            f"**Runs**: {s['completed']} of {s['due']} scheduled runs completed (states "
            f"{s['states']}; not completed: {s['not_completed'] or 'none'}); a run took "
            f"{s['run_s']['median']} s (median), {s['run_s']['max']} s at most (Prefect's start to "
            "end of the flow run; the run's process starting and importing comes before it). "
            f"**Outputs**: {o['files']} forecast files in {o['partitions']} partitions, "
            f"{o['whole']} whole (12 rows, no NaN), {o['temporary_left']} temporary files left. "
            f"**MLflow runs** at the end: {s['mlflow_runs']} (one per forecast plus the training's).",
            "",
            "Growth per completed run of the folders (files / bytes): "
            + ", ".join(f"{k} {n} / {b}" for k, (n, b) in s["disk_per_run"].items())
            + ". Besides the forecast files themselves, only the two stores grow with the number "
            "of runs, by the records each run is meant to leave: in MLflow one run (its "
            "parameters, tags and `forecast.png`), in Prefect's database the flow run, its task "
            "runs and states, its logs and events (and the SQLite write-ahead log, which keeps its "
            "largest size until checkpointed). Left behind: "
            f"{end['disk']['serve_tmp'][0]} files in the serve process's TMPDIR, "
            f"{o['temporary_left']} temporary output files, "
            f"{s['mlflow_runs'].get('RUNNING', 0)} MLflow runs RUNNING. Prefect bounds its records with its own settings "
            "(`PREFECT_SERVER_EVENTS_RETENTION_PERIOD`, 7 days by default; "
            "`PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED=events,flow_runs` with "
            "`PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD` deletes old flow runs); MLflow "
            "keeps every run until it is deleted (`mlflow gc` then removes deleted runs).",
            "",
            "**Verdict**: "
            + ", ".join(f"{k.replace('_', ' ')}: {'yes' if ok else 'NO'}" for k, ok in v.items()),
            "",
        ]
    else:
        lines += ["The soak did not reach its end record (interrupted): no run accounting.", ""]
    return "\n".join(lines)


def _attempts(meta):
    n = meta.get("train_attempts", 1)
    return (
        f", {n} attempts: a first `forecast train` started before the Prefect server answered, "
        "which the script now waits for"
        if n > 1
        else ""
    )


def _as_run(meta):
    """The command as run; runs from before ``nice`` was recorded used the docstring's."""
    nice, omp = meta.get("nice", 5), meta.get("omp_threads", "1")
    prefix = (f"nice -n {nice} " if nice else "") + (f"env OMP_NUM_THREADS={omp} " if omp else "")
    return f"{prefix}.venv/bin/python {meta['command']}"


def _generic(serve):
    """The serve command with the temporary home's path left out."""
    return " ".join(Path(a).name if a.startswith("/") else a for a in serve.split())


def write_results(raw):
    meta, samples, end = load(raw)
    text = markdown(meta, samples, end, Path(raw).name)
    tmp = RESULTS.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(RESULTS)
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="how long to serve")
    parser.add_argument("--sample-s", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--settle-minutes", type=float, default=10.0, help="growth counted after")
    parser.add_argument("--drain-s", type=float, default=180.0, help="wait for the last runs")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS-soak.md")
    parser.add_argument("--from-records", metavar="JSONL", help="only rewrite RESULTS-soak.md")
    opts = parser.parse_args()
    if opts.from_records:
        print(write_results(opts.from_records))
        return
    if opts.minutes <= 0 or opts.sample_s <= 0:
        parser.error(f"--minutes and --sample-s must be > 0, got {opts.minutes}, {opts.sample_s}")
    RAW.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    raw = RAW / f"soak-{opts.minutes:g}min-{stamp}.jsonl"
    print(f"[soak] raw samples -> {raw}", flush=True)
    try:
        soak(opts, raw)
    except KeyboardInterrupt:
        print("[soak] interrupted", flush=True)
    meta, samples, end = load(raw) if raw.exists() else (None, [], None)
    if samples:
        summary = summarize(meta, samples, end)
        print(json.dumps(summary | {"verdict": verdict(summary)}, indent=1, default=str))
        if not opts.no_write:
            write_results(raw)


if __name__ == "__main__":
    main()
