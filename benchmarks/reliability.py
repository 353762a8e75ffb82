"""Load and concurrency (issue 15): many ``forecast`` commands at once on one store and one folder.

1. One ``forecast train`` registers v1 of a model and writes its forecasts.
2. 8 ``forecast forecast`` commands start at once, writing into one output folder: every file
   must be whole and readable, each in its own partition, none partial, none lost.
3. 4 ``forecast train`` commands (seeds 1-4, 5 epochs; v1 had 1) start at once, registering
   versions of the same model: versions must be numbered without gaps, the ``champion`` alias on
   exactly one version, and that version the one the promotion rule picks whatever the order:
   the lowest hold-out score of all (every version is scored on the same hold-out).

All commands share one Prefect server (started here on 127.0.0.1) and one MLflow SQLite store,
in a temporary folder. Times and outcomes go to the "## Load and concurrency" section of
``benchmarks/RESULTS-reliability.md`` (``--no-write``: print only).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/reliability.py          # ~3-6 min on 2 cores
"""

from __future__ import annotations

import argparse
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


def start_prefect(home):
    import socket
    import urllib.request

    from pipelines import signals

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PREFECT_HOME=str(home), PREFECT_UI_ENABLED="0")
    env.pop("PREFECT_API_URL", None)
    proc = signals.start_server(port, env, home / "server.log")
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("Prefect server not healthy in 180 s")


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

    client = MlflowClient(uri)
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--forecasts", type=int, default=8)
    parser.add_argument("--trains", type=int, default=4)
    parser.add_argument("--no-write", action="store_true")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="forecast-load-") as tmp:
        tmp = Path(tmp)
        (tmp / "prefect").mkdir()
        server, api = start_prefect(tmp / "prefect")
        uri, out = f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}", tmp / "forecasts"
        env = dict(
            os.environ, PREFECT_API_URL=api, PREFECT_HOME=str(tmp / "prefect"), OMP_NUM_THREADS="1"
        )
        common = ["--tracking-uri", uri, "--output-dir", str(out)]
        try:
            weak = [
                a if a != "5" else "1" for a in TINY
            ]  # v1 trained 1 epoch: later versions can beat it
            first, first_s = run_all([["train", *common, *weak]], env, tmp, "first")
            fc_results, fc_s = run_all(
                [["forecast", *common]] * opts.forecasts, env, tmp, "forecast"
            )
            forecasts = check_forecasts(out)
            tr_results, tr_s = run_all(
                [["train", *common, *TINY, "--seed", str(s)] for s in range(1, opts.trains + 1)],
                env,
                tmp,
                "train",
            )
            registry = check_registry(uri)
            final = check_forecasts(out)
        finally:
            server.terminate()
            server.wait(timeout=30)
        failures = {
            p.name: p.read_text()[-1500:] for p in tmp.glob("*-*.log") if "error:" in p.read_text()
        }
    report = {
        "first_train": {"results": first, "seconds": first_s},
        "forecasts": {"results": fc_results, "seconds": fc_s, **forecasts},
        "trains": {"results": tr_results, "seconds": tr_s, **registry},
        "forecast_files_after_trains": final,
        "failures": failures,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    print(json.dumps(report, indent=1, default=str))
    (ROOT / "benchmarks" / "results").mkdir(exist_ok=True)
    (ROOT / "benchmarks" / "results" / "reliability-load.json").write_text(
        json.dumps(report, indent=1, default=str)
    )
    if not opts.no_write:
        write_section(RESULTS, "## Load and concurrency", markdown(report))


def write_section(path, heading, text):
    """Replace (or append) the section ``heading`` of ``path`` atomically; other sections stay."""
    old = path.read_text() if path.exists() else HEADER
    start = old.find(heading)
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
    f, t = r["forecasts"], r["trains"]
    codes = lambda rs: ", ".join(str(x["code"]) for x in rs)  # noqa: E731
    times = lambda rs: ", ".join(f"{x['seconds']:.0f}" for x in rs)  # noqa: E731
    return "\n".join(
        [
            "## Load and concurrency",
            "",
            "`OMP_NUM_THREADS=1 .venv/bin/python benchmarks/reliability.py` (one Prefect server on 127.0.0.1, one "
            f"MLflow SQLite store, one output folder; {r['machine']}; raw: `results/reliability-load.json`).",
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
            f"{t['champion']} (lowest hold-out MASE: v{t['best_by_score']}); MASE by version "
            f"{ {k: round(v, 3) for k, v in t['scores'].items()} }; promoted {t['promoted']} |",
            "",
            f"After the trains: {r['forecast_files_after_trains']['files']} forecast files, "
            f"{r['forecast_files_after_trains']['whole']} whole. Failures: {list(r['failures']) or 'none'}.",
            "",
        ]
    )


if __name__ == "__main__":
    main()
