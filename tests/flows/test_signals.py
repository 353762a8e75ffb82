"""SIGTERM stops a ``forecast train`` command within seconds (exit 143), its Prefect flow run ends
Crashed and its MLflow runs KILLED (none left RUNNING); the temporary Prefect server the command
starts dies with it, even when the command is SIGKILLed. (SIGINT takes the same path with exit
130; both signals are also sent to a library fit in tests/core/test_checkpoint.py.)

Each test runs the real console script in a subprocess with its own PREFECT_HOME and MLflow store.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FOREVER = [
    "--max-epochs",
    "2000",
    "--cells",
    "gru",
    "--directions",
    "uni",
    "--hidden-sizes",
    "8",
    "--n-windows",
    "1",
    "--window-norms",
    "last",
]


def _start(tmp_path):
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect"), OMP_NUM_THREADS="1")
    env.pop("PREFECT_API_URL", None)
    db = tmp_path / "mlruns" / "mlflow.db"
    argv = [
        str(Path(sys.executable).with_name("forecast")),
        "train",
        "--tracking-uri",
        f"sqlite:///{db}",
        "--output-dir",
        str(tmp_path / "out"),
        *FOREVER,
    ]
    with open(tmp_path / "log.txt", "wb") as log:  # the child keeps its own copy
        proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, db


def _runs(db):
    if not db.is_file():
        return []
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT name, status FROM runs").fetchall()
    except sqlite3.Error:
        return []


def _children(pid):
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text() if (task / "children").exists() else ""
        found |= {int(p) for p in text.split()}
    return found


def _alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _wait_for(condition, timeout, proc, tmp_path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        assert proc.poll() is None, (tmp_path / "log.txt").read_text()[-3000:]
        time.sleep(0.5)
    raise AssertionError(
        f"not reached in {timeout} s:\n" + (tmp_path / "log.txt").read_text()[-3000:]
    )


def _training(db):
    return any(status == "RUNNING" for _, status in _runs(db))


def _stop_while_training(tmp_path, sig):
    proc, db = _start(tmp_path)
    _wait_for(lambda: _training(db), 240, proc, tmp_path)
    time.sleep(2.0)  # inside the fits (2,000 epochs of selection and final fit)
    servers = _children(proc.pid)
    t0 = time.monotonic()
    proc.send_signal(sig)
    proc.wait(timeout=60)
    return proc, db, servers, time.monotonic() - t0


@pytest.mark.slow
def test_sigterm_stops_train_within_seconds_and_leaves_no_server(tmp_path):
    proc, db, servers, seconds = _stop_while_training(tmp_path, signal.SIGTERM)
    log = (tmp_path / "log.txt").read_text()
    assert proc.returncode == 143, log[-3000:]
    assert seconds < 20, seconds
    assert "forecast train: stopped by SIGTERM" in log
    runs = _runs(db)
    assert runs and not [r for r in runs if r[1] == "RUNNING"], runs
    assert any(status == "KILLED" for _, status in runs), runs
    with sqlite3.connect(tmp_path / "prefect" / "prefect.db") as conn:
        states = [row[0] for row in conn.execute("SELECT state_type FROM flow_run")]
    assert states == ["CRASHED"], states
    assert servers and not [pid for pid in servers if _alive(pid)]


@pytest.mark.slow
def test_a_sigkilled_command_takes_its_prefect_server_with_it(tmp_path):
    proc, _ = _start(tmp_path)
    _wait_for(lambda: bool(_children(proc.pid)), 120, proc, tmp_path)
    servers = _children(proc.pid)
    proc.kill()
    proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and [pid for pid in servers if _alive(pid)]:
        time.sleep(0.2)
    assert not [pid for pid in servers if _alive(pid)], servers
