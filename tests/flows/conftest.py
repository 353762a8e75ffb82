"""Fixtures of the flow tests: one Prefect test harness and one real Prefect server per session.

The harness (a temporary in-process-managed API, ~13 s to start) serves the end-to-end flow
runs. The real server (``prefect server start`` on a free loopback port, its own process group)
is what schedules and Dask workers need; the serve and Dask tests share it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

# The train flow's smallest useful job: one cell, two window norms, two epochs (seconds a fit), with
# conformal 80/95 % intervals (issue 13: they reach the hold-out plots, metrics and forecast files).
TINY = dict(
    lookback=24,
    horizon=12,
    cells=["gru"],
    bidirectional=[True],
    window_norms=["none", "last"],
    hidden_sizes=[8],
    max_epochs=2,
    batch_size=64,
    n_windows=1,
    season_length=12,
    device="cpu",
    level=[80, 95],
)


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def trained(prefect_harness, tmp_path_factory):
    """One train flow run (tiny models) into a temporary MLflow store; its result and folders
    (shared by the flow tests and the UI tests)."""
    from pipelines import flows

    root = tmp_path_factory.mktemp("trained")
    uri, out = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}", root / "forecasts"
    t0 = time.perf_counter()
    state = flows.train(**TINY, tracking_uri=uri, output_dir=str(out), return_state=True)
    assert state.is_completed(), state.message
    return SimpleNamespace(
        result=state.result(), uri=uri, out=out, root=root, seconds=time.perf_counter() - t0
    )


@pytest.fixture
def mlflow_uri(tmp_path):
    """A fresh MLflow store for one test."""
    return f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url, timeout, proc=None, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = Path(log).read_text()[-3000:] if log else ""
            raise RuntimeError(f"process for {url} exited with {proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} not healthy after {timeout} s")


def stop(proc, timeout=20):
    """Stop a process started with start_new_session=True, by its process group."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """A real Prefect server on 127.0.0.1:<free port>; yields its API URL (``.../api``)."""
    from pipelines.schedules import server_command

    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    argv, env = server_command(port)
    env["PREFECT_HOME"] = str(home)
    log = home / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/api/health", 120, proc, log)
        yield f"http://127.0.0.1:{port}/api"
    finally:
        stop(proc)


@pytest.fixture
def restore_tracking():
    """Put MLflow's process-wide tracking and registry URIs back after a test that moves them."""
    import mlflow
    from pipelines import store

    saved = (
        mlflow.get_tracking_uri(),
        mlflow.get_registry_uri(),
        store.ACTIVE.config,
        {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")},
    )
    yield
    mlflow.set_tracking_uri(saved[0])
    mlflow.set_registry_uri(saved[1])
    store.ACTIVE.config = saved[2]
    for key, value in saved[3].items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def reliability(benchmark_script):
    """``benchmarks/reliability.py`` as a module (its servers, PostgreSQL and load run)."""
    return benchmark_script("reliability")
