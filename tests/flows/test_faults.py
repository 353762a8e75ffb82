"""Faults the pipelines must survive with nothing lost: a full disk while writing forecasts, a
crash in the middle of the final fit (a retried flow run resumes it), the MLflow tracking server
stopped before and during a train flow (one-line failure naming the URI, no run left RUNNING,
earlier forecasts and registered versions intact). NaN batches and damaged model folders are
tested in tests/core (test_checkpoint, test_model_files)."""

from __future__ import annotations

import errno
import subprocess
import time

import pandas as pd
import pytest
import torch

from forecast import RNNForecaster
from forecast.datasets.synthetic import make_panel
from forecast.training.loop import Callback
from pipelines import cli, environment, flows, io, io_tasks, orphans, resume, runs, server

from .conftest import free_port, stop

pytestmark = pytest.mark.usefixtures(
    "restore_tracking"
)  # tests here point MLflow at their own stores

TINY = dict(
    lookback=24,
    horizon=12,
    cells=["gru"],
    bidirectional=[False],
    window_norms=["none"],
    hidden_sizes=[8],
    max_epochs=2,
    batch_size=64,
    n_windows=1,
    season_length=12,
    device="cpu",
)


def snapshot(folder):
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _forecasts():
    return pd.DataFrame(
        {
            "unique_id": ["a"] * 3,
            "ds": pd.date_range("2025-01-01", periods=3, freq="h"),
            "y_pred": [1.0, 2.0, 3.0],
        }
    )


@pytest.mark.parametrize("fmt,writer", [("parquet", "to_parquet"), ("csv", "to_csv")])
def test_a_full_disk_while_writing_forecasts_leaves_no_partial_file(
    tmp_path, monkeypatch, fmt, writer
):
    out = tmp_path / "forecasts"
    io.write_forecasts(_forecasts(), out, io.run_stamp(), fmt)
    before = snapshot(out)

    def half_then_full(self, path, *args, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"PAR1" + b"\0" * 4096)  # what got written before the disk filled up
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, writer, half_then_full)
    with pytest.raises(OSError, match="No space left on device"):
        io_tasks.write_forecasts.fn(_forecasts(), str(out), io.run_stamp(), fmt)
    assert snapshot(out) == before  # no partial file, no temporary file, no empty partition
    assert len(list(out.iterdir())) == 1


class FailOnce(Callback):
    """Raise at the end of epoch 2 of the first attempt only (a crash in the middle of the fit)."""

    attempts = 0

    def on_train_begin(self, state):
        FailOnce.attempts += 1
        self.first_epoch = None

    def on_epoch_end(self, state, record):
        self.first_epoch = self.first_epoch or state.epoch
        if FailOnce.attempts == 1 and state.epoch == 2:
            raise RuntimeError("the machine went away")


def test_a_retried_flow_run_resumes_the_fit_from_its_checkpoint(prefect_harness):
    from prefect import flow

    df = make_panel(n_series=2, length=100, freq="h", seed=4)
    params = dict(
        cell="gru",
        hidden_size=8,
        lookback=24,
        horizon=6,
        season_length=12,
        batch_size=16,
        windows_per_epoch=64,
        max_epochs=4,
        device="cpu",
        seed=1,
        verbose=False,
    )
    callback, seen = FailOnce(), {}

    @flow(retries=1, retry_delay_seconds=0)
    def fit_flow():
        seen.setdefault("folders", []).append(resume.checkpoint_dir("fit-final"))
        model = resume.resumable_fit(RNNForecaster(**params), df, [callback])
        return {k: v.clone() for k, v in model.module_.state_dict().items()}

    FailOnce.attempts = 0
    weights = fit_flow()
    reference = RNNForecaster(**params).fit(df).module_.state_dict()
    assert (
        FailOnce.attempts == 2 and callback.first_epoch == 2
    )  # epoch 2 failed before its checkpoint: redone
    assert all(torch.equal(weights[k], reference[k]) for k in reference)
    first, again = seen["folders"]
    assert (
        first == again and not first.exists()
    )  # one flow run id across the retry; removed once fitted


@pytest.mark.slow
def test_tracking_server_down_before_and_during_a_train_flow(
    prefect_harness, tmp_path, monkeypatch, capsys
):
    """A train flow on a live tracking server registers v1 and writes forecasts. Then: the server
    is stopped and the CLI's train fails on one line naming the URI; the server is stopped again in
    the middle of a train flow (inside the final fit) and the flow fails naming the URI. The next
    flow over that store ends the run left RUNNING (its process gone), and v1, the champion alias
    and the forecast files are as they were."""
    from mlflow.tracking import MlflowClient

    port, store = free_port(), tmp_path / "store"
    uri, out = f"http://127.0.0.1:{port}", tmp_path / "forecasts"
    proc = server.start_ui(port, store, wait=180)
    try:
        first = flows.train(**TINY, tracking_uri=uri, output_dir=str(out), return_state=True)
        assert first.is_completed(), first.message
        before = snapshot(out)
        stop(proc)
        code = cli.main(
            [
                "train",
                "--tracking-uri",
                uri,
                "--output-dir",
                str(out),
                "--cells",
                "gru",
                "--directions",
                "uni",
                "--hidden-sizes",
                "8",
                "--window-norms",
                "none",
                "--max-epochs",
                "1",
                "--n-windows",
                "1",
                "--lookback",
                "24",
            ]
        )
        err = capsys.readouterr().err.strip().splitlines()
        assert (
            code == 1
            and err[-1].startswith("forecast train: error: TrackingUnavailable: ")
            and uri in err[-1]
        )
        environment.quiet_prefect_errors(debug=True)
        proc = server.start_ui(port, store, wait=180)
        gone = _dead_pid()
        monkeypatch.setattr(
            runs,
            "owner_tags",
            lambda: {orphans.HOST: orphans.owner_tags()[orphans.HOST], orphans.PID: str(gone)},
        )  # as if run by a killed process
        fit = resume.resumable_fit

        def server_dies_then_fit(*args, **kwargs):
            stop(proc)
            return fit(*args, **kwargs)

        monkeypatch.setattr(resume, "resumable_fit", server_dies_then_fit)
        during = flows.train(**TINY, tracking_uri=uri, output_dir=str(out), return_state=True)
        assert during.is_failed() and f"127.0.0.1:{port}" in during.message, during.message
        monkeypatch.undo()
        local = f"sqlite:///{store / 'mlflow.db'}"  # the server's own database: no restart needed to read it
        client = MlflowClient(local, registry_uri=local)
        exp = client.get_experiment_by_name("forecast").experiment_id
        assert [
            r for r in client.search_runs([exp], "attributes.status = 'RUNNING'")
        ]  # left by the dead process
        io_tasks.configure_tracking.fn(local, "forecast")  # the next flow's opening
        assert not client.search_runs([exp], "attributes.status = 'RUNNING'")
        versions = sorted(
            int(v.version)
            for v in client.search_model_versions("name = 'forecaster-airpassengers'")
        )
        assert (
            versions == [1]
            and str(
                client.get_model_version_by_alias("forecaster-airpassengers", "champion").version
            )
            == "1"
        )
        assert snapshot(out) == before
    finally:
        stop(proc)


def _dead_pid():
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.mark.slow
def test_a_served_deployment_survives_a_prefect_server_restart(tmp_path):
    """``forecast serve`` creates both deployments with their schedules from its config file and
    waits on a Prefect server; the server is stopped and started again on the same port and
    database; a run then triggered on the deployment completes, and serve is still up."""
    import os
    import sys
    from pathlib import Path

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from pipelines import logged_model, registry, schedules, signals, store

    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    store.configure(uri)
    model = RNNForecaster(
        cell="gru",
        hidden_size=8,
        lookback=24,
        horizon=12,
        max_epochs=1,
        device="cpu",
        verbose=False,
    ).fit(__import__("forecast.datasets", fromlist=["load"]).load("airpassengers"))
    with runs.run("seed") as run:
        logged_model.log_model(model, run_id=run.run_id)
        registry.register_and_promote(run.run_id, "forecaster-airpassengers", "holdout_mase", 1.0)
    home, port, out = tmp_path / "prefect", free_port(), tmp_path / "served"
    home.mkdir()
    api = f"http://127.0.0.1:{port}/api"
    env = dict(os.environ, PREFECT_HOME=str(home), PREFECT_UI_ENABLED="0")
    env.pop("PREFECT_API_URL", None)

    def start_server():
        proc = signals.start_server(port, env, home / "server.log")
        from .conftest import wait_for

        wait_for(f"{api}/health", 120, proc, home / "server.log")
        return proc

    cfg = tmp_path / "serve.toml"
    cfg.write_text(
        f'[common]\ntracking_uri = "{uri}"\noutput_dir = "{out}"\n'
        '[train]\nmax_epochs = 1\nhidden_sizes = [8]\ncells = ["gru"]\nbidirectional = [false]\n'
        '[serve]\ntrain_cron = "0 3 * * 1"\nforecast_interval_seconds = 3600\n'
    )
    server_proc = start_server()
    log = tmp_path / "serve.log"
    with open(log, "wb") as fh:
        serve = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "serve", "--config", str(cfg)],
            cwd=Path(__file__).resolve().parents[2],
            env=dict(env, PREFECT_API_URL=api),
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        with (
            temporary_settings(updates={PREFECT_API_URL: api}),
            get_client(sync_client=True) as client,
        ):
            train = _wait_for_deployment(client, f"train/{schedules.TRAIN_DEPLOYMENT}", serve, log)
            dep = _wait_for_deployment(
                client, f"forecast/{schedules.FORECAST_DEPLOYMENT}", serve, log
            )
            assert [s.schedule.cron for s in train.schedules] == ["0 3 * * 1"]
            assert [s.schedule.interval.total_seconds() for s in dep.schedules] == [3600]
        stop(server_proc)
        time.sleep(5)  # serve polls a server that is down
        server_proc = start_server()
        with (
            temporary_settings(updates={PREFECT_API_URL: api}),
            get_client(sync_client=True) as client,
        ):
            run = client.create_flow_run_from_deployment(dep.id)
            state = _wait_for_final_state(client, run.id, 240, serve, log)
        assert state.is_completed(), f"{state.type}: {state.message}\n{log.read_text()[-3000:]}"
        assert serve.poll() is None
        assert len(list(out.rglob("forecasts.parquet"))) == 1
    finally:
        stop(serve)
        stop(server_proc)


def _wait_for_deployment(client, name, proc, log, timeout=120):
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"forecast serve exited:\n{log.read_text()[-3000:]}"
        try:
            return client.read_deployment_by_name(name)
        except ObjectNotFound:
            time.sleep(1)
    raise TimeoutError(f"deployment {name} not created in {timeout} s:\n{log.read_text()[-3000:]}")


def _wait_for_final_state(client, run_id, timeout, proc, log):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.read_flow_run(run_id).state
        if state is not None and state.is_final():
            return state
        assert proc.poll() is None, f"forecast serve exited:\n{log.read_text()[-3000:]}"
        time.sleep(1)
    raise TimeoutError(f"flow run {run_id} not finished in {timeout} s:\n{log.read_text()[-3000:]}")
