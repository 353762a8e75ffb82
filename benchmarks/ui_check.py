"""Check the MLflow and Prefect UIs and the train run's report in a real headless browser, and take
the README's screenshots.

    python benchmarks/ui_check.py                        # ~3-5 min on 2 cores
    python benchmarks/ui_check.py --max-epochs 5 --out /tmp/ui   # quicker, elsewhere

Needs Chromium (Debian: ``apt-get install -y chromium``; ``--chromium PATH`` for another). In a
fresh temporary home it starts a Prefect server and an MLflow server on free loopback ports, runs
``forecast train`` twice against both (two parent runs with distinct names), then loads each page
in headless Chromium: ``--dump-dom`` after the page's scripts have run (``--virtual-time-budget``)
for the checks, ``--screenshot`` for the PNGs under ``--out`` (default ``benchmarks/results/ui``).
Each check names the page and the text it looked for; the script exits 1 when one fails. It is a
script, not a test: it needs a browser and minutes, and CI runs neither.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv, env, log):
    with open(log, "wb") as out:
        return subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


class Browser:
    def __init__(self, exe, profile, budget_ms=15000):
        self.exe, self.profile, self.budget = exe, profile, budget_ms

    def _run(self, url, *extra, size=(1400, 1000)):
        argv = [
            self.exe,
            *FLAGS,
            f"--user-data-dir={self.profile}",
            f"--window-size={size[0]},{size[1]}",
            f"--virtual-time-budget={self.budget}",
            *extra,
            url,
        ]
        return subprocess.run(argv, capture_output=True, text=True, timeout=180)

    def dom(self, url, size=(1400, 1000)):
        return self._run(
            url, "--dump-dom", size=size
        ).stdout  # wide enough that the grids render every column

    def screenshot(self, url, path, size=(1400, 1000)):
        self._run(url, f"--screenshot={path}", size=size)
        return Path(path).is_file()


def train(home, env, tracking, max_epochs, data="airpassengers"):
    argv = [
        sys.executable,
        "-m",
        "pipelines.cli",
        "train",
        "--data",
        data,
        "--tracking-uri",
        tracking,
        "--max-epochs",
        str(max_epochs),
        "--output-dir",
        str(home / "forecasts"),
    ]
    out = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(
            f"forecast train failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        )
    return out.stdout


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ui"))
    ap.add_argument("--max-epochs", type=int, default=20)
    ap.add_argument(
        "--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser")
    )
    args = ap.parse_args(argv)
    if not args.chromium:
        sys.exit("no Chromium found: apt-get install -y chromium (or pass --chromium PATH)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="ui-check-"))
    sys.path.insert(0, str(ROOT))
    from pipelines import server
    from pipelines.schedules import server_command

    pport, mport = free_port(), free_port()
    argv_p, env_p = server_command(pport)
    env_p["PREFECT_HOME"] = str(home / "prefect")
    procs = [
        start(argv_p, env_p, home / "prefect.log"),
        server.start_ui(mport, home / "mlflow", wait=0),
    ]
    try:
        server.wait_healthy(f"http://127.0.0.1:{pport}/api", 120)  # polls <url>/health
        server.wait_healthy(f"http://127.0.0.1:{mport}", 120)
        env = dict(
            os.environ,
            PREFECT_API_URL=f"http://127.0.0.1:{pport}/api",
            PREFECT_UI_URL=f"http://127.0.0.1:{pport}",
            PREFECT_HOME=str(home / "prefect-client"),
            FORECAST_HOME=str(home),
            OMP_NUM_THREADS="1",
        )
        tracking = f"http://127.0.0.1:{mport}"
        t0 = time.perf_counter()
        for _ in range(2):
            summary = train(home, env, tracking, args.max_epochs)
        print(f"two train runs in {time.perf_counter() - t0:.0f} s")
        failures = check_pages(
            Browser(args.chromium, home / "chromium"),
            tracking,
            f"http://127.0.0.1:{pport}",
            out,
            summary,
        )
    finally:
        for proc in procs:
            stop(proc)
        shutil.rmtree(home, ignore_errors=True)
    print("\n".join(failures) if failures else "all UI checks passed")
    return 1 if failures else 0


def artifact_id(prefect_url, flow_run, key="train-summary"):
    """Id of the flow run's artifact ``key``, through Prefect's REST API."""
    body = json.dumps(
        {"artifacts": {"key": {"any_": [key]}}, "flow_runs": {"id": {"any_": [flow_run]}}}
    ).encode()
    request = urllib.request.Request(
        f"{prefect_url}/api/artifacts/filter", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())[0]["id"]


def check_pages(browser, mlflow_url, prefect_url, out, summary):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_url)
    exp = client.get_experiment_by_name("forecast")
    trains = client.search_runs(
        [exp.experiment_id], "tags.`forecast.flow` = 'train'", order_by=["start_time DESC"]
    )
    parent = trains[0]
    kids = client.search_runs(
        [exp.experiment_id],
        f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        order_by=["metrics.rank ASC"],
    )
    chosen = next(k for k in kids if k.data.tags.get("forecast.best") == "true")
    flow_run = parent.data.tags["forecast.prefect.flow_run_id"]
    from pipelines import links

    board = f"{mlflow_url}/#/experiments/{exp.experiment_id}/runs?viewStateShareKey=leaderboard-{parent.info.run_id}"
    run = f"{mlflow_url}/#/experiments/{exp.experiment_id}/runs/{parent.info.run_id}"
    recurrent = [k.info.run_id for k in kids if k.info.run_name != "seasonal_naive"]
    pages = {  # name: (url, texts the page must show, screenshot size)
        "mlflow-runs": (
            board,
            [
                chosen.info.run_name,
                "seasonal_naive",
                "backtest_mase",
                "holdout_mase",
                "val_loss",
                "rank",
            ],
            (1800, 800),
        ),
        "mlflow-train-run": (
            run,
            [parent.info.run_name, "hold-out", "promoted", "report", "leaderboard"],
            (1400, 1500),
        ),
        "mlflow-candidate-curves": (
            links.curves_url([chosen.info.run_id], experiment_id=exp.experiment_id, uri=mlflow_url),
            ["train_loss", "val_loss"],
            (1400, 800),
        ),
        "mlflow-all-val-curves": (
            links.curves_url(recurrent, ("val_loss",), exp.experiment_id, mlflow_url),
            ["val_loss", chosen.info.run_name],
            (1400, 800),
        ),
        "mlflow-report": (f"{run}/artifacts/report.html", ["report.html"], (1400, 1200)),
        "mlflow-model-version": (
            f"{mlflow_url}/#/models/forecaster-airpassengers/versions/2",
            ["forecast.n_series", "Hold-out"],
            (1400, 900),
        ),
        "prefect-flow-run": (
            f"{prefect_url}/runs/flow-run/{flow_run}",
            ["train-airpassengers-h12", f"mlflow-run:{parent.info.run_id}"],
            (1400, 1000),
        ),
        "prefect-artifact": (
            f"{prefect_url}/artifacts/artifact/{artifact_id(prefect_url, flow_run)}",
            ["train-summary", "Leaderboard", "promoted", parent.info.run_id],
            (1400, 1300),
        ),
    }
    report = Path(client.download_artifacts(parent.info.run_id, "report.html"))
    pages["report"] = (
        report.as_uri(),
        ["Leaderboard", "Hold-out", chosen.info.run_name, "Training curves"],
        (1100, 3000),
    )
    failures, found = [], {}
    for name, (url, texts, size) in pages.items():
        dom = browser.dom(url, size)
        missing = [t for t in texts if t not in dom]
        found[name] = {"url": url, "missing": missing, "dom_chars": len(dom)}
        if missing:
            failures.append(f"{name}: {url} does not show {missing}")
        browser.screenshot(url, out / f"{name}.png", size)
        print(
            f"{name:26s} {'ok' if not missing else 'MISSING ' + str(missing)}  ({len(dom):,} chars of DOM)"
        )
    (out / "checks.json").write_text(json.dumps(found, indent=1) + "\n")
    print(summary[-1500:])
    return failures


if __name__ == "__main__":
    sys.exit(main())
