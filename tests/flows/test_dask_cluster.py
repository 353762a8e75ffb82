"""The flows on an external Dask cluster, started with distributed's own command-line tools.

One scheduler and two single-threaded workers (``dask scheduler``, ``dask worker --no-nanny``, so
that each worker's pid is the process the test started) on loopback ports they choose, pointed at
the session's real Prefect server (``prefect_server``: workers in ephemeral mode would each start
their own, 36-40 s), shared by the tests of this module. Three ``forecast train --dask-address``
commands, the smallest that show each behaviour: the grid (one recurrent candidate and seasonal
naive, one epoch, three short series), its candidates tagged with the worker that ran them, and
an Optuna search of two trials, its trials tagged so, run at the same time (one start-up's wait
covers both); then a grid stopped by SIGTERM while its candidates fit on the workers
(``pipelines.remote_stop``), which must leave the workers alive. Each command starts from a copy
of one empty MLflow store (creating its tables costs seconds).

MLflow is read through clients given both the tracking and the registry URI: an ``MlflowClient``
given only a tracking URI takes its registry from the process-wide one that any earlier test's
``store.configure`` left (``mlflow.set_registry_uri``), which is how this module once failed in
the full suite with "Registered Model forecaster-shop not found" after a grid flow that had
registered it in its own store.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
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

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DASK = str(Path(sys.executable).with_name("dask"))
SMALL = ["--cells", "gru", "--directions", "uni", "--window-norms", "none", "--hidden-sizes", "8"]
SMALL += ["--n-windows", "1", "--max-epochs", "1", "--horizon", "6", "--device", "cpu"]
# what the pytest process's earlier tests may have left in its environment: never handed on
LEAKED = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_NAME", "PREFECT_API_URL")


# the cluster's own monitoring (system monitor every 0.5 s, event-loop tick every 20 ms, a worker's
# profiler every 10 ms and memory monitor every 0.1 s) costs its idle processes a tenth of a core
QUIET = {
    "DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__INTERVAL": "10s",
    "DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL": "1s",
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
    "DASK_DISTRIBUTED__WORKER__MEMORY__MONITOR_INTERVAL": "2s",
}


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in LEAKED}
    env |= {"PYTHONPATH": str(REPO)}  # the workers unpickle pipelines' tasks
    # the logs stay on the consoles (the assertions read them): the server has less to do
    return env | {"PREFECT_LOGGING_TO_API_ENABLED": "false"} | extra


def _client(uri):
    return MlflowClient(uri, registry_uri=uri)


def _wait_for_workers(scheduler_file, n, procs, timeout=120):
    """The scheduler's address, once ``n`` workers have joined it."""
    from distributed import Client

    deadline = time.monotonic() + timeout
    while not scheduler_file.is_file():
        dead = [p.args for p in procs if p.poll() is not None]
        assert not dead and time.monotonic() < deadline, f"no scheduler: {dead}"
        time.sleep(0.1)
    address = json.loads(scheduler_file.read_text())["address"]
    with Client(address, timeout=timeout) as client:
        while len(client.scheduler_info(n_workers=-1)["workers"]) < n:
            dead = [p.args for p in procs if p.poll() is not None]
            assert not dead and time.monotonic() < deadline, f"cluster not up: {dead}"
            time.sleep(0.2)
    return address


def _start(argv, log, env):
    with open(log, "wb") as out:
        return subprocess.Popen(
            argv, cwd=log.parent, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def _stop_all(procs, grace=2):
    """SIGTERM to every process group at once; SIGKILL to what is left after ``grace`` s."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def cluster(prefect_server, tmp_path_factory):
    """``dask scheduler`` and two ``dask worker`` processes pointed at the real Prefect server,
    and an empty MLflow store that each command starts from (a copy: creating one costs seconds):
    address, worker labels, processes, the API URL, the store's file."""
    home = tmp_path_factory.mktemp("dask")
    env = _env(PREFECT_API_URL=prefect_server, PREFECT_HOME=str(home / "prefect"), **QUIET)
    where = ["--scheduler-file", str(home / "scheduler.json")]  # its port: any free one
    scheduler = [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", *where]
    scheduler += ["--no-dashboard", "--no-show"]
    worker = [DASK, "worker", *where, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1"]
    worker += ["--no-dashboard", "--preload", "pipelines.flows"]  # imports done before a task
    procs = []
    try:
        procs.append(_start(scheduler, home / "scheduler.log", env))
        procs += [_start(worker + ["--name", f"w{i}"], home / f"w{i}.log", env) for i in (0, 1)]
        store = home / "empty" / "mlflow.db"  # while the workers import
        store.parent.mkdir()
        _client(f"sqlite:///{store}").search_experiments()
        address = _wait_for_workers(home / "scheduler.json", 2, procs)
        labels = {f"{socket.gethostname()}:{p.pid}" for p in procs[1:]}
        yield SimpleNamespace(
            address=address, labels=labels, procs=procs, api=prefect_server, store=store
        )
    finally:
        _stop_all(procs[::-1])


def _command(cluster, folder, *flags):
    """(argv, env, MLflow URI) of a ``forecast train`` against ``cluster`` writing into
    ``folder``."""
    (folder / "mlruns").mkdir()
    shutil.copy(cluster.store, folder / "mlruns" / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    panel = make_panel(n_series=3, length=120, freq="h", seed=5)
    panel[["unique_id", "ds", "y"]].to_csv(folder / "shop.csv", index=False)
    env = _env(PREFECT_API_URL=cluster.api, PREFECT_HOME=str(folder / "home"))
    argv = [sys.executable, "-m", "pipelines.cli", "train", "--runner", "dask"]
    argv += ["--dask-address", cluster.address, *SMALL, *flags]
    argv += ["--data", str(folder / "shop.csv"), "--tracking-uri", uri]
    argv += ["--output-dir", str(folder / "out")]
    return argv, env, uri


def _launch(cluster, folder, *flags):
    """A train command started in the background: (process, its log file, MLflow URI)."""
    argv, env, uri = _command(cluster, folder, *flags)
    log = folder / "train.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, log, uri


def _runs(uri):
    client = _client(uri)
    experiment = client.get_experiment_by_name("forecast")
    return [] if experiment is None else client.search_runs([experiment.experiment_id])


@pytest.fixture(scope="module")
def finished(cluster, tmp_path_factory):
    """The grid and the search commands, run at the same time on the cluster: name -> (exit
    code, output, MLflow URI, study journal)."""
    journal = tmp_path_factory.mktemp("study") / "study.journal"  # a file the workers reach
    search = ["--search", "optuna", "--trials", "2", "--study-storage", str(journal)]
    started = {
        "grid": _launch(cluster, tmp_path_factory.mktemp("grid")),
        "search": _launch(cluster, tmp_path_factory.mktemp("search"), *search),
    }
    done = {}
    try:
        for name, (proc, log, uri) in started.items():
            code = proc.wait(timeout=300)
            done[name] = SimpleNamespace(code=code, log=log.read_text(), uri=uri, journal=journal)
    finally:
        for proc, _, _ in started.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return done


def test_the_grid_candidates_run_on_the_external_workers(cluster, finished, restore_tracking):
    grid = finished["grid"]
    assert grid.code == 0, grid.log[-4000:]
    assert f"Connecting to an existing Dask cluster at {cluster.address}" in grid.log
    runs = _runs(grid.uri)
    candidates = [r for r in runs if "forecast.candidate" in r.data.tags]
    assert {r.data.tags["forecast.candidate"] for r in candidates} == {"gru-h8", "seasonal_naive"}
    workers = {r.data.tags["forecast.worker"] for r in candidates}
    assert workers and workers <= cluster.labels, (workers, cluster.labels)  # not this process
    assert {r.info.status for r in runs} == {"FINISHED"}
    import mlflow

    # the process-wide registry elsewhere, as an earlier test's store.configure leaves it
    mlflow.set_registry_uri(grid.uri.replace("mlflow.db", "another.db"))
    champion = _client(grid.uri).get_model_version_by_alias("forecaster-shop", "champion")
    assert str(champion.version) == "1" and champion.run_id in {r.info.run_id for r in runs}


def test_search_trials_run_on_the_external_workers(cluster, finished):
    search = finished["search"]
    assert search.code == 0, search.log[-4000:]
    runs = _runs(search.uri)
    trials = [r for r in runs if "forecast.trial" in r.data.tags]
    assert len(trials) == 2 and search.journal.is_file()
    labelled = {r.data.tags["forecast.worker"] for r in trials} - {""}  # "": the defaults trial
    assert labelled and labelled <= cluster.labels, (labelled, cluster.labels)
    assert {r.info.status for r in runs} == {"FINISHED"}
    champion = _client(search.uri).get_model_version_by_alias("forecaster-shop", "champion")
    assert champion.run_id in {r.info.run_id for r in runs}


def test_a_sigterm_stops_the_fits_on_the_external_workers(cluster, tmp_path):
    flags = ["--window-norms", "none,last", "--max-epochs", "100000", "--max-time", "900"]
    proc, log, uri = _launch(cluster, tmp_path, *flags, "--model-name", "stopped")
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
        time.sleep(1)  # some epochs in
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


def test_the_search_tells_a_dask_runner_by_its_class_not_its_name():
    from prefect.task_runners import ThreadPoolTaskRunner

    from pipelines import remote_stop, runners, search

    class Renamed(remote_stop.DaskTaskRunner):
        pass

    class DaskTaskRunner:  # a stranger of that name
        pass

    assert search._is_dask(runners.task_runner("dask", address="tcp://127.0.0.1:1"))
    assert search._is_dask(runners.task_runner("dask", workers=2))
    assert search._is_dask(Renamed(address="tcp://127.0.0.1:1"))
    assert not search._is_dask(ThreadPoolTaskRunner(max_workers=1))
    assert not search._is_dask(DaskTaskRunner())
    assert not search._is_dask(None)
