"""The MLflow tracking server and UI on 127.0.0.1 over the local store (``forecast ui``).

It starts mlflow as a subprocess and never imports it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from . import environment
from .store import UI_PORT, TrackingUnavailable, home, store_dir


def server_script():
    return home() / "mlflow" / "server.sh"


def ui_command(port=UI_PORT, store=None):
    """(argv, env) that start the tracking server + UI on 127.0.0.1:``port`` over the local store.

    Same flags as ``mlflow/server.sh``: one worker, job execution off, loopback only.
    """
    store = Path(store) if store is not None else store_dir()
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", **environment.TELEMETRY_OFF)
    argv = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{store / 'mlflow.db'}",
        "--artifacts-destination",
        str(store / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    return argv, env


def start_ui(port=UI_PORT, store=None, wait=60.0):
    """Start the server in its own process group; wait until /health answers (``wait`` seconds).

    Its output goes to ``<store>/server.log``. Stop it with ``os.killpg(proc.pid, signal.SIGTERM)``.
    """
    store = Path(store) if store is not None else store_dir()
    (store / "artifacts").mkdir(parents=True, exist_ok=True)
    argv, env = ui_command(port, store)
    log = store / "server.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv, env=env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT
        )
    if wait:
        wait_healthy(f"http://127.0.0.1:{port}", wait, proc, log)
    return proc


def wait_healthy(url, timeout=60.0, proc=None, log=None):
    """Poll ``url``/health until it answers 200; raise naming the URL (and the end of the
    server's log).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise TrackingUnavailable(
                f"MLflow server for {url} exited with code {proc.returncode}{_log_tail(log)}"
            )
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise TrackingUnavailable(
        f"MLflow server at {url} not healthy after {timeout:.0f} s{_log_tail(log)}"
    )


def _log_tail(log):
    if log is None or not Path(log).is_file():
        return ""
    return ":\n" + Path(log).read_text(errors="replace")[-2000:]
