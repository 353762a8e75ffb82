"""The flows on an external Dask cluster, started with distributed's own command-line tools.

One scheduler and two single-threaded workers (``dask scheduler``, ``dask worker --no-nanny``, so
that each worker's pid is the process the test started) on free loopback ports, shared by the
tests of this module: the train flow run against it with ``--dask-address`` (its candidates and
an Optuna search's trials tagged with the worker that ran them), and a SIGTERM to a train command
whose candidates are fitting there, which must stop them within seconds (``pipelines.remote_stop``)
and leave the workers alive.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from mlflow.tracking import MlflowClient

from forecast.datasets.synthetic import make_panel

from .conftest import free_port, stop

# Three flows on a real scheduler and two workers cost 5-7 minutes on a loaded 2-core machine and
# failed once there (the registered model missing after a grid flow); until that is understood and
# the module is faster, it runs on request only: FORECAST_EXTERNAL_DASK=1 python -m pytest ...
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("FORECAST_EXTERNAL_DASK") != "1",
        reason="external Dask cluster tests run with FORECAST_EXTERNAL_DASK=1",
    ),
]

REPO = Path(__file__).resolve().parents[2]
DASK = str(Path(sys.executable).with_name("dask"))
SMALL = ["--cells", "gru", "--directions", "uni", "--window-norms", "none,last"]
SMALL += ["--hidden-sizes", "8", "--n-windows", "1", "--device", "cpu"]


def _wait_for_workers(address, n, procs, timeout=60):
    from distributed import Client

    deadline = time.monotonic() + timeout
    with Client(address, timeout=timeout) as client:
        while len(client.scheduler_info(n_workers=-1)["workers"]) < n:
            dead = [p.args for p in procs if p.poll() is not None]
            assert not dead and time.monotonic() < deadline, f"cluster not up: {dead}"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """``dask scheduler`` and two ``dask worker`` processes: address, worker labels, processes."""
    home = tmp_path_factory.mktemp("dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=str(REPO))  # the workers unpickle pipelines' tasks
    argvs = [[DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port)]]
    argvs[0] += ["--dashboard-address", "127.0.0.1:0", "--no-show"]
    worker = [DASK, "worker", address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1"]
    argvs += [worker + ["--no-dashboard", "--name", f"w{i}"] for i in (0, 1)]
    procs = []
    try:
        for i, argv in enumerate(argvs):
            with open(home / f"{i}.log", "wb") as log:
                procs.append(
                    subprocess.Popen(
                        argv,
                        cwd=home,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )  # fmt: skip
                )
            if i == 0:
                time.sleep(1.0)
        _wait_for_workers(address, 2, procs)
        labels = {f"{socket.gethostname()}:{p.pid}" for p in procs[1:]}
        yield SimpleNamespace(address=address, labels=labels, procs=procs, home=home)
    finally:
        for proc in reversed(procs):
            stop(proc, timeout=10)


def _command(cluster, prefect_server, tmp_path, *flags):
    uri, out = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}", tmp_path / "out"
    make_panel(n_series=3, length=240, freq="h", seed=5)[["unique_id", "ds", "y"]].to_csv(
        tmp_path / "shop.csv", index=False
    )
    env = dict(os.environ, PREFECT_API_URL=prefect_server, PREFECT_HOME=str(tmp_path / "home"))
    argv = [sys.executable, "-m", "pipelines.cli", "train", "--runner", "dask"]
    argv += [
        "--dask-address",
        cluster.address,
        *SMALL,
        *flags,
        "--data",
        str(tmp_path / "shop.csv"),
    ]
    argv += ["--tracking-uri", uri, "--output-dir", str(out)]
    return argv, env, uri


def _runs(uri):
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("forecast")
    return [] if experiment is None else client.search_runs([experiment.experiment_id])


@pytest.mark.slow
def test_candidates_run_on_the_external_workers(cluster, prefect_server, tmp_path):
    flags = ["--max-epochs", "1", "--window-norms", "none"]  # one candidate and seasonal naive
    argv, env, uri = _command(cluster, prefect_server, tmp_path, *flags)
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert f"Connecting to an existing Dask cluster at {cluster.address}" in log
    runs = _runs(uri)
    candidates = [r for r in runs if "forecast.candidate" in r.data.tags]
    assert {r.data.tags["forecast.candidate"] for r in candidates} == {"gru-h8", "seasonal_naive"}
    workers = {r.data.tags["forecast.worker"] for r in candidates}
    assert workers and workers <= cluster.labels, (workers, cluster.labels)  # not this process
    assert {r.info.status for r in runs} == {"FINISHED"}
    client = MlflowClient(uri)
    champion = client.get_model_version_by_alias("forecaster-shop", "champion")
    assert str(champion.version) == "1" and champion.run_id in {r.info.run_id for r in runs}


@pytest.mark.slow
def test_search_trials_run_on_the_external_workers(cluster, prefect_server, tmp_path):
    # its study a journal file the workers reach
    journal = tmp_path / "study.journal"
    flags = ["--max-epochs", "1", "--search", "optuna", "--trials", "2"]
    argv, env, uri = _command(cluster, prefect_server, tmp_path, *flags, "--study-storage", journal)
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    trials = [r for r in _runs(uri) if "forecast.trial" in r.data.tags]
    assert len(trials) == 2 and journal.is_file()
    labelled = {r.data.tags["forecast.worker"] for r in trials} - {""}  # "": the defaults trial
    assert labelled and labelled <= cluster.labels, (labelled, cluster.labels)
    champion = MlflowClient(uri).get_model_version_by_alias("forecaster-shop", "champion")
    assert champion.run_id in {r.info.run_id for r in _runs(uri)}


@pytest.mark.slow
def test_a_sigterm_stops_the_fits_on_the_external_workers(cluster, prefect_server, tmp_path):
    flags = ["--max-epochs", "100000", "--max-time", "900", "--model-name", "stopped"]
    argv, env, uri = _command(cluster, prefect_server, tmp_path, *flags)
    log = tmp_path / "train.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until both candidates are fitting on the workers
            fitting = [
                r
                for r in _runs(uri)
                if "forecast.worker" in r.data.tags and r.info.status == "RUNNING"
            ]
            if len(fitting) >= 2:
                break
            assert proc.poll() is None, log.read_text()[-4000:]
            time.sleep(0.5)
        else:
            raise AssertionError(f"no candidate fitting in 120 s:\n{log.read_text()[-4000:]}")
        time.sleep(2)  # some epochs in
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        seconds = time.monotonic() - sent
        print(f"SIGTERM to exit: {seconds:.1f} s")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert code == 143, text[-4000:]
    assert seconds < 30, (seconds, text[-4000:])
    assert "stop request passed to 2 Dask worker(s)" in text, text[-4000:]
    runs = _runs(uri)
    assert "RUNNING" not in {r.info.status for r in runs}, [
        (r.info.run_name, r.info.status) for r in runs
    ]
    killed = [r for r in runs if r.data.tags.get("forecast.candidate", "naive").startswith("gru")]
    assert len(killed) == 2  # the recurrent candidates; seasonal naive's run had finished
    assert {r.info.status for r in killed} == {"KILLED"}, [r.info.status for r in killed]
    assert all(p.poll() is None for p in cluster.procs), "a worker died of the stop"


def test_a_pushed_stop_is_cleared_by_the_worker_itself():
    from forecast.training.stopping import STOP, Interrupted
    from pipelines import remote_stop

    STOP.clear()
    try:
        remote_stop.request_stop(signal.SIGTERM, "t1", clear_after=0.2)
        with pytest.raises(Interrupted):
            STOP.check()
        time.sleep(0.5)
        assert STOP.signum == 0  # a long-lived worker is ready for the next flow run
        STOP.request(signal.SIGINT)  # the process's own signal: not the bridge's to clear
        remote_stop.clear_stop("t1")
        assert STOP.signum == signal.SIGINT
    finally:
        STOP.clear()
