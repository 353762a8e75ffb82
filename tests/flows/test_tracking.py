"""MLflow tracking adapter: runs, step metrics, artifacts, pyfunc round trip, selection, champion rule, failures.

Every test logs into a temporary SQLite store under tmp_path (never the repository's store) and
reads back through MlflowClient, or, for the server test, through the REST API.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from forecast import RNNForecaster
from forecast.datasets.synthetic import make_panel
from pipelines import logged_model, registry, selection_log, server, tracking
from pipelines import runs as run_log  # `runs` and `store` are names of this module's own
from pipelines import store as tracking_store

TINY = dict(
    hidden_size=8,
    lookback=24,
    horizon=6,
    max_epochs=2,
    batch_size=64,
    windows_per_epoch=128,
    val_size=6,
    seed=0,
    verbose=False,
)
REPO = Path(__file__).resolve().parents[2]


def sqlite_uri(folder):
    return f"sqlite:///{folder / 'mlflow.db'}"


ENV_KEYS = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR",
)


@pytest.fixture(scope="module", autouse=True)
def isolated_tracking_state():
    """configure() sets process-wide env and module state: give other test modules theirs back."""
    saved_env = {k: os.environ.get(k) for k in ENV_KEYS}
    saved_state = tracking_store.ACTIVE.config
    yield
    for key, value in saved_env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    tracking_store.ACTIVE.config = saved_state
    if saved_state is not None and saved_state.enabled:
        import mlflow

        mlflow.set_tracking_uri(saved_state.uri)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return tmp_path_factory.mktemp("mlstore")


@pytest.fixture
def tracked(store, request):
    """Tracking configured on the module's store, one experiment per test."""
    cfg = tracking_store.configure(sqlite_uri(store), experiment=request.node.name[:60])
    yield cfg
    tracking_store.configure(
        sqlite_uri(store), experiment="default-after-test"
    )  # undo a test's reconfiguration


def client():
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_store.active_config().uri)


@pytest.fixture(scope="module")
def panel():
    return make_panel(n_series=3, length=120, seed=0)


@pytest.fixture(scope="module")
def trained(store, panel):
    """One tracked training run: streamed epochs, training log, forecast plot, logged model."""
    tracking_store.configure(sqlite_uri(store), experiment="trained")
    est = RNNForecaster(**TINY)
    with run_log.run("train", params={"flow": "test"}, tags={"purpose": "test"}) as handle:
        est.fit(panel, callbacks=[tracking.MlflowCallback()])
        tracking.log_training(est, "make_panel", panel)
        tracking.log_forecast_plot(panel, est.predict(), n_series=2)
        ref = logged_model.log_model(est)
    return est, handle.run_id, ref


def artifacts(run_id, path=""):
    out = []
    for item in client().list_artifacts(run_id, path):
        out += artifacts(run_id, item.path) if item.is_dir else [item.path]
    return out


# ----------------------------------------------------------------------------- training runs
def test_training_run_has_params_step_metrics_and_artifacts(tracked, trained, panel, store):
    est, run_id, _ = trained
    run = client().get_run(run_id)
    params = run.data.params
    assert run.info.status == "FINISHED"
    assert params["hidden_size"] == "8" and params["lookback"] == "24" and params["flow"] == "test"
    assert params["data.name"] == "make_panel" and params["data.n_series"] == "3"
    assert params["data.n_points"] == str(len(panel)) and len(params["data.hash"]) == 16
    assert (
        params["window.n_train_windows"] == str(est.n_train_windows_) and params["device"] == "cpu"
    )
    assert {
        "version.forecast",
        "version.torch",
        "version.pandas",
        "version.numpy",
        "version.mlflow",
    } <= set(params)
    for name in (
        "train_loss",
        "val_loss",
        "grad_norm_mean",
        "grad_norm_max",
        "clipped_fraction",
        "learning_rate",
        "epoch_seconds",
    ):
        history = client().get_metric_history(run_id, name)
        assert [m.step for m in history] == [1, 2], (
            name
        )  # streamed once by the callback, not again by log_training
    losses = [m.value for m in client().get_metric_history(run_id, "train_loss")]
    assert losses == pytest.approx([r.train_loss for r in est.history_.records])
    assert {"training/history.csv", "forecast.png"} <= set(artifacts(run_id))
    assert run.info.artifact_uri.startswith(
        store.resolve().as_uri()
    )  # next to the store, never the cwd


def test_log_training_without_callback_logs_the_history(tracked, trained, panel):
    est = trained[0]  # its epochs were streamed into another run, not this one
    with run_log.run("no-callback") as handle:
        tracking.log_training(est, "make_panel", panel)
    steps = [m.step for m in client().get_metric_history(handle.run_id, "val_loss")]
    assert steps == [1, 2]


def test_data_hash_changes_with_content(panel):
    a = tracking.data_summary(panel, name="p")
    b = tracking.data_summary(panel.assign(y=panel["y"] + 1e-9), name="p")
    assert a["hash"] != b["hash"] and a["n_series"] == b["n_series"] == 3


# ----------------------------------------------------------------------------- pyfunc model
def test_pyfunc_round_trip_equals_estimator_forecasts(tracked, trained, panel):
    import mlflow

    est, _, ref = trained
    model = mlflow.pyfunc.load_model(ref.model_uri)
    pd.testing.assert_frame_equal(model.predict(logged_model.pyfunc_input(panel)), est.predict())
    recent = panel.groupby("unique_id").tail(40).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        model.predict(logged_model.pyfunc_input(recent)), est.predict(recent)
    )
    inputs = {c.name: c.type.name for c in model.metadata.get_input_schema().inputs}
    assert inputs == {"unique_id": "string", "ds": "datetime", "y": "double"}


def test_pyfunc_takes_future_covariates_as_flagged_rows(tracked):
    df = make_panel(n_series=2, length=120, seed=1, future_covariates=1)
    hist = df.groupby("unique_id").head(110).reset_index(drop=True)
    future = (
        df.groupby("unique_id")
        .nth(list(range(110, 116)))[["unique_id", "ds", "future_0"]]
        .reset_index(drop=True)
    )
    est = RNNForecaster(**TINY, future_covariates=("future_0",)).fit(hist)
    with run_log.run("future-covariates"):
        ref = logged_model.log_model(est, input_example=logged_model.pyfunc_input(hist, future))
    model = registry.load_pyfunc(ref.model_uri)
    got = model.predict(logged_model.pyfunc_input(hist, future))
    pd.testing.assert_frame_equal(got, est.predict(hist, X_future=future))
    with pytest.raises(Exception, match="is_future"):
        model.predict(logged_model.pyfunc_input(hist).assign(future_0=0.0))


# ----------------------------------------------------------------------------- backtests and selection
@dataclass
class StandInBacktest:
    """Duck-typed forecast.evaluation.backtesting.BacktestResult (tracking reads attributes only)."""

    forecasts: pd.DataFrame
    per_series: pd.DataFrame
    per_window: pd.DataFrame
    aggregate: dict
    n_fits: int = 2
    by_step: pd.DataFrame = None
    history: object = None


def stand_in_backtest(seed=0, history=None):
    rng = np.random.default_rng(seed)
    rows = [
        (uid, cut, cut + pd.Timedelta(hours=h))
        for uid in ("a", "b")
        for cut in pd.to_datetime(["2024-01-02", "2024-01-03"])
        for h in range(1, 5)
    ]
    fc = pd.DataFrame(rows, columns=["unique_id", "cutoff", "ds"])
    fc["y"] = rng.normal(10, 1, len(fc))
    fc["y_pred"] = fc["y"] + rng.normal(0, 0.5, len(fc)) * (
        1 + fc.groupby(["unique_id", "cutoff"]).cumcount()
    )
    err = (fc.y - fc.y_pred).abs()
    per_series = (
        fc.assign(err=err)
        .groupby("unique_id", as_index=False)["err"]
        .mean()
        .rename(columns={"err": "mae"})
    )
    per_window = (
        fc.assign(err=err)
        .groupby("cutoff", as_index=False)["err"]
        .mean()
        .rename(columns={"err": "mae"})
    )
    return StandInBacktest(
        fc,
        per_series,
        per_window,
        {"mae": float(err.mean()), "rmse": float(np.sqrt((err**2).mean())), "mase": float("nan")},
        history=history,
    )


def test_log_backtest_metrics_tables_and_horizon_plot(tracked):
    result = stand_in_backtest()
    with run_log.run("backtest") as handle:
        logged = tracking.log_backtest(result)
    run = client().get_run(handle.run_id)
    assert run.data.metrics["backtest_mae"] == pytest.approx(result.aggregate["mae"])
    assert (
        run.data.metrics["backtest_n_fits"] == 2 and "backtest_mase" not in run.data.metrics
    )  # NaN skipped
    assert set(logged) == {"backtest_mae", "backtest_rmse", "backtest_n_fits"}
    assert {
        "backtest/per_series.csv",
        "backtest/per_window.csv",
        "backtest/error_by_horizon.png",
    } <= set(artifacts(handle.run_id))


@dataclass
class StandInSelection:
    leaderboard: pd.DataFrame
    best_name: str
    best_params: dict
    backtests: dict = field(default_factory=dict)


def test_log_selection_nests_one_run_per_candidate(tracked, trained):
    est = trained[0]
    board = pd.DataFrame(
        {
            "candidate": ["gru-8", "lstm-8"],
            "params": [
                json.dumps({"cell": "gru", "hidden_size": 8}),
                json.dumps({"cell": "lstm", "hidden_size": 8}),
            ],
            "mae": [1.0, 1.5],
            "rmse": [1.2, 1.9],
            "fit_seconds": [0.5, 0.6],
            "rank": [1, 2],
        }
    )
    result = StandInSelection(
        board,
        "gru-8",
        {"cell": "gru", "hidden_size": 8},
        {"gru-8": stand_in_backtest(1, est.history_), "lstm-8": stand_in_backtest(2)},
    )
    with run_log.run("selection") as parent:
        children = selection_log.log_selection(result)
    runs = client().search_runs(
        [tracked.experiment_id], f"tags.mlflow.parentRunId = '{parent.run_id}'"
    )
    assert {r.info.run_id for r in runs} == set(children.values()) and len(runs) == 2
    by_name = {r.data.tags["forecast.candidate"]: r for r in runs}
    gru = by_name["gru-8"]
    assert gru.info.status == "FINISHED" and gru.data.params["cell"] == "gru"
    assert gru.data.metrics["backtest_mae"] == 1.0 and gru.data.tags["forecast.best"] == "true"
    assert by_name["lstm-8"].data.metrics["backtest_rmse"] == 1.9
    assert [m.step for m in client().get_metric_history(gru.info.run_id, "train_loss")] == [1, 2]
    assert "backtest/error_by_horizon.png" in artifacts(gru.info.run_id)
    parent_files = artifacts(parent.run_id)
    assert {"selection/leaderboard.csv", "selection/leaderboard.json"} <= set(parent_files)
    assert client().get_run(parent.run_id).data.tags["forecast.best_candidate"] == "gru-8"


# ----------------------------------------------------------------------------- registry
def test_champion_alias_moves_only_to_a_better_model(tracked, trained):
    est = trained[0]
    name = "champion-test"
    outcomes = []
    for mae in (2.0, 1.0, 1.5):
        with run_log.run(f"candidate-{mae}") as handle:
            run_log.log_metrics({"backtest_mae": mae})
            logged_model.log_model(est)
        outcomes.append(
            (handle.run_id, registry.register_and_promote(handle.run_id, name, "backtest_mae"))
        )
    (_, first), (_, second), (third_run, third) = outcomes
    assert first.promoted and "first champion" in first.reason
    assert second.promoted and second.version == "2"
    assert (
        not third.promoted and third.version == "3" and "does not beat champion v2" in third.reason
    )
    assert str(client().get_model_version_by_alias(name, "champion").version) == "2"
    assert client().get_model_version(name, "3").aliases == []
    tags = client().get_run(third_run).data.tags
    assert (
        tags["forecast.promoted"] == "false"
        and "does not beat" in tags["forecast.promotion_reason"]
    )
    assert "promotion.txt" in artifacts(third_run)
    loaded, version = registry.load_champion(name)
    assert version == "2"
    np.testing.assert_array_equal(loaded.predict()["y_pred"], est.predict()["y_pred"])


def test_a_champion_of_other_series_is_never_compared(tracked, trained, panel):
    est = trained[0]
    other = RNNForecaster(**TINY).fit(panel.assign(unique_id=panel.unique_id + "-other"))
    assert registry.series_scope(est) == registry.series_scope(RNNForecaster(**TINY).fit(panel))
    assert registry.series_scope(other) != registry.series_scope(est)
    name, results = "scope-test", []
    for model, mae in ((est, 2.0), (other, 1.0), (est, 1.5)):
        with run_log.run(f"scope-{mae}") as handle:
            logged_model.log_model(model)
        results.append(
            registry.register_and_promote(
                handle.run_id, name, "backtest_mae", mae, scope=registry.series_scope(model)
            )
        )
    first, lower_elsewhere, better_here = results
    assert first.promoted and first.comparable
    assert not lower_elsewhere.promoted and not lower_elsewhere.comparable
    assert (
        "covers other series" in lower_elsewhere.reason
        and "set_registered_model_alias" in lower_elsewhere.reason
    )
    assert better_here.promoted and better_here.comparable  # compared with v1, its own series
    assert registry.champion_version(name) == "3"


def test_champion_is_rescored_only_on_the_same_points(tracked, trained, panel):
    from forecast import SeasonalNaive
    from forecast.evaluation.backtesting import backtest
    from pipelines import tasks

    name = "rescore-test"
    assert (
        registry.champion_version(name) is None and registry.version_run_id(name) is None
    )  # no champion yet
    assert tasks.rescore_champion(name, trained[0], panel, None, "mae", 1) is None
    with run_log.run("rescore") as handle:
        logged_model.log_model(trained[0])
    registry.register_and_promote(
        handle.run_id, name, "holdout_mae", 1.0, scope=registry.series_scope(trained[0])
    )
    reference = backtest(SeasonalNaive(horizon=6), panel, n_windows=1)
    version, score = tasks.rescore_champion(name, trained[0], panel, reference, "mae", 1)
    assert version == "1" and np.isfinite(score) and score > 0
    longer = SimpleNamespace(horizon=12, freqs_=trained[0].freqs_)  # same series, another horizon
    assert (
        tasks.rescore_champion(name, longer, panel, reference, "mae", 1) is None
    )  # other horizon: other points


def test_higher_is_better_metric_and_repeat_registration(tracked, trained):
    with run_log.run("r2") as handle:
        logged_model.log_model(trained[0])
    first = registry.register_and_promote(
        handle.run_id, "higher-test", "r2", 0.5, lower_is_better=False
    )
    again = registry.register_and_promote(
        handle.run_id, "higher-test", "r2", 0.5, lower_is_better=False
    )
    assert (
        first.promoted and not again.promoted and again.version == first.version
    )  # same source, same version


# ----------------------------------------------------------------------------- failure behaviour
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_fails_fast_naming_the_uri(tracked):
    uri = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(tracking_store.TrackingUnavailable, match=uri.replace(".", r"\.")):
        tracking_store.configure(uri)
    assert time.monotonic() - start < 5


def test_optional_tracking_skips_logging_and_training_completes(tracked, panel):
    uri = f"http://127.0.0.1:{free_port()}"
    cfg = tracking_store.configure(uri, required=False)
    assert not cfg and uri in cfg.reason and cfg.reason.startswith("tracking skipped")
    est = RNNForecaster(**TINY)
    with run_log.run("skipped", params={"a": 1}) as handle:
        est.fit(panel, callbacks=[tracking.MlflowCallback()])
        assert (
            tracking.log_training(est, "p", panel) is None and logged_model.log_model(est) is None
        )
        assert tracking.log_backtest(stand_in_backtest()) == {}
    assert handle.skipped and handle.run_id is None and uri in handle.reason
    assert len(est.history_.records) == 2


def test_exception_inside_run_ends_it_failed(tracked):
    with pytest.raises(RuntimeError, match="boom"), run_log.run("crash") as handle:
        run_log.log_metrics({"x": 1.0})
        raise RuntimeError("boom")
    run = client().get_run(handle.run_id)
    assert run.info.status == "FAILED" and "boom" in run.data.tags["forecast.error"]
    import mlflow

    assert mlflow.active_run() is None


def test_a_failed_run_is_never_left_active_even_when_the_store_fails_too(tracked, monkeypatch):
    import mlflow

    class Down:
        def set_tag(self, *args):
            raise ConnectionError("store down")

    with pytest.raises(RuntimeError, match="boom"), run_log.run("crash") as handle:
        monkeypatch.setattr(tracking_store, "client", Down)  # the error tag cannot be written
        raise RuntimeError("boom")
    monkeypatch.undo()
    assert mlflow.active_run() is None and client().get_run(handle.run_id).info.status == "FAILED"
    with run_log.run("next") as after:  # the next run in this process starts
        pass
    assert client().get_run(after.run_id).info.status == "FINISHED"


def test_default_store_follows_forecast_home(monkeypatch, tmp_path):
    monkeypatch.setenv("FORECAST_HOME", str(tmp_path))
    assert tracking_store.default_uri() == f"sqlite:///{tmp_path.resolve()}/mlflow/store/mlflow.db"
    monkeypatch.delenv("FORECAST_HOME")
    assert tracking_store.home() == REPO
    argv, env = server.ui_command(5055, store=tmp_path)
    assert argv[-6:] == ["--host", "127.0.0.1", "--port", "5055", "--workers", "1"]
    assert (
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
        and f"sqlite:///{tmp_path}/mlflow.db" in argv
    )


# ----------------------------------------------------------------------------- the server script
@pytest.mark.slow
def test_server_script_serves_logged_runs_over_rest(tmp_path, panel):
    server_store = tmp_path / "store"
    tracking_store.configure(sqlite_uri(server_store), experiment="served")
    with run_log.run("before-server", params={"lookback": 24}) as handle:
        run_log.log_metrics({"backtest_mae": 0.25})
    port = free_port()
    env = dict(os.environ, PORT=str(port), MLFLOW_STORE=str(server_store), PYTHON=sys.executable)
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["bash", str(REPO / "mlflow" / "server.sh")],
            env=env,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        server.wait_healthy(url, timeout=90, proc=proc, log=log)
        with urllib.request.urlopen(
            f"{url}/api/2.0/mlflow/runs/get?run_id={handle.run_id}", timeout=10
        ) as resp:
            run = json.load(resp)["run"]
        assert run["info"]["status"] == "FINISHED"
        assert {"key": "lookback", "value": "24"} in run["data"]["params"]
        assert any(
            m["key"] == "backtest_mae" and m["value"] == 0.25 for m in run["data"]["metrics"]
        )
        cfg = tracking_store.configure(
            url, experiment="through-server"
        )  # logging through the server works too
        with run_log.run("via-http") as via:
            run_log.log_metrics({"m": 2.0})
        assert client().get_run(via.run_id).data.metrics["m"] == 2.0 and cfg.uri == url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        tracking_store.configure(sqlite_uri(tmp_path / "after"), experiment="after-server")
