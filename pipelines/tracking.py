"""MLflow tracking adapter: with registry.py and pyfunc_model.py, the only code that talks to MLflow.

The core never imports mlflow; it reaches this module through the training callback hook
(:class:`MlflowCallback`). mlflow is imported lazily, inside the functions that need it.

API (stable; the Prefect flows and the CLI code against it)
-----------------------------------------------------------
``configure(uri=None, experiment="forecast", required=True) -> TrackingConfig``
    Point MLflow at ``uri`` (else ``$MLFLOW_TRACKING_URI``, else the local store
    ``sqlite:///<home>/mlflow/store/mlflow.db``), create/get the experiment, probe an http(s)
    server within ~3 s. Unreachable -> ``TrackingUnavailable`` naming the URI, or, with
    ``required=False``, a disabled config (falsy, ``.reason`` says why): every function below
    then logs nothing and ``run`` yields a handle with ``skipped=True``.
``run(name, params=None, tags=None, nested=False, parent_run_id=None)`` -> context manager
    yielding ``RunHandle(run_id, skipped, reason)``; the run ends FINISHED, or FAILED (KILLED on
    Ctrl-C) on any exception (tag ``forecast.error``), never left RUNNING.
``MlflowCallback(run_id=None)``
    ``forecast.training.Callback`` logging per-epoch metrics as steps (step = epoch).
``log_training(estimator, data_name, df, run_id=None)``
``log_backtest(result, prefix="backtest", run_id=None) -> dict of logged metrics``
``log_forecast_plot(history_df, forecast_df, actuals_df=None, n_series=4, run_id=None, artifact_file="forecast.png")``
``log_model(estimator, name="model", registered_model_name=None, input_example=None, run_id=None) -> ModelRef``
``log_selection(result, run_id=None, prefix="backtest") -> dict candidate -> child run id``
``register_and_promote(run_id_or_uri, model_name, metric_name, metric_value=None, lower_is_better=True) -> PromotionResult``
``load_champion(model_name, version=None, alias="champion") -> (RNNForecaster, version)``
``load_pyfunc(model_name_or_uri, version=None, alias="champion") -> mlflow PyFuncModel``
``pyfunc_input(history, X_future=None) -> DataFrame`` (the frame the pyfunc model takes)
``experiment_id()``, ``runs_url(experiment_id=None, uri=None, port=5000)``, ``local_experiment_id(name)``
``version_run_id(model_name, version=None, alias="champion")`` (the run that logged a registered version)
``default_uri()``, ``store_dir()``, ``ui_command(port=5000, store=None) -> (argv, env)``,
``start_ui(port=5000, store=None, wait=60.0) -> subprocess.Popen``

Every ``log_*`` function takes ``run_id=None`` (the active run of this thread) so that Prefect
tasks running in worker threads, where MLflow's thread-local active run is not visible, can log
into the flow's run by id.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from forecast.training import Callback

PROBE_TIMEOUT = 3.0
# MLflow 3's UI opens experiments without this tag on its GenAI overview; this value (the UI's
# "custom model development") opens the runs table instead.
KIND_TAG, KIND_ML = "mlflow.experimentKind", "custom_model_development"
EPOCH_METRICS = ("train_loss", "val_loss", "grad_norm_mean", "grad_norm_max", "clipped_fraction",
                 "learning_rate")


class TrackingUnavailable(RuntimeError):
    """The tracking server or store cannot be reached; the message names the URI."""


@dataclass(frozen=True)
class TrackingConfig:
    uri: str | None
    experiment: str
    experiment_id: str | None = None
    artifact_location: str | None = None
    enabled: bool = True
    reason: str | None = None  # why tracking is off (enabled=False)

    def __bool__(self):
        return self.enabled


@dataclass(frozen=True)
class RunHandle:
    run_id: str | None
    skipped: bool = False
    reason: str | None = None


_state: TrackingConfig | None = None


# ---------------------------------------------------------------------------------- where
def home():
    """Project home: ``$FORECAST_HOME``, else the checkout this package sits in, else the cwd."""
    if os.environ.get("FORECAST_HOME"):
        return Path(os.environ["FORECAST_HOME"]).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / "mlflow").is_dir():
        return checkout
    return Path.cwd()


def store_dir():
    """The embedded local store (gitignored): ``<home>/mlflow/store``."""
    return home() / "mlflow" / "store"


def default_uri():
    return f"sqlite:///{store_dir() / 'mlflow.db'}"


def _quiet_env():
    # Before mlflow is imported: no telemetry; http calls fail fast instead of retrying for minutes.
    for key, value in {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
                       "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
                       "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}.items():
        os.environ.setdefault(key, value)


# ---------------------------------------------------------------------------------- configure
def configure(uri=None, experiment="forecast", required=True):
    """Set the tracking URI explicitly and get-or-create ``experiment``.

    Parameters
    ----------
    uri : None ($MLFLOW_TRACKING_URI, else :func:`default_uri`) | "sqlite:///..." | "http(s)://..."
    required : False -> an unreachable store gives a disabled (falsy) config instead of raising.

    Returns
    -------
    TrackingConfig (falsy when tracking is off)
    """
    global _state
    _quiet_env()
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or default_uri()
    try:
        _probe(uri)
        import mlflow

        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        # Subprocesses (Dask workers, the `mlflow` CLI) see the same store and experiment.
        os.environ["MLFLOW_TRACKING_URI"], os.environ["MLFLOW_EXPERIMENT_NAME"] = uri, experiment
        exp_id, location = _experiment(uri, experiment)
        mlflow.set_experiment(experiment_id=exp_id)
    except TrackingUnavailable as exc:
        return _unavailable(uri, experiment, str(exc), required)
    except Exception as exc:  # any MLflow/store error: say which URI, keep the cause
        msg = f"MLflow tracking at {uri} is unavailable: {type(exc).__name__}: {exc}"
        if required:
            raise TrackingUnavailable(msg) from exc
        return _unavailable(uri, experiment, msg, required)
    _state = TrackingConfig(uri, experiment, exp_id, location)
    return _state


def _unavailable(uri, experiment, msg, required):
    global _state
    if required:
        raise TrackingUnavailable(msg)
    _state = TrackingConfig(uri, experiment, enabled=False, reason=f"tracking skipped: {msg}")
    return _state


def _probe(uri):
    """Fail within ~PROBE_TIMEOUT seconds when an http(s) server does not answer; make local dirs."""
    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https"):
        url = uri.rstrip("/") + "/health"
        try:
            urllib.request.urlopen(url, timeout=PROBE_TIMEOUT).close()
        except urllib.error.HTTPError:
            pass  # it answered (auth, proxy, no /health): reachable
        except (urllib.error.URLError, OSError, socket.timeout) as exc:
            reason = getattr(exc, "reason", exc)
            raise TrackingUnavailable(f"MLflow tracking server at {uri} is unreachable ({reason}); "
                                      "start it (mlflow/server.sh) or set MLFLOW_TRACKING_URI") from None
    elif parsed.scheme == "sqlite":
        db = uri[len("sqlite:///"):]
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)


def _experiment(uri, name):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if KIND_TAG not in exp.tags:
            client.set_experiment_tag(exp.experiment_id, KIND_TAG, KIND_ML)
        return exp.experiment_id, exp.artifact_location
    location = None
    if uri.startswith("sqlite:///"):
        # Next to the database, never the cwd (MLflow's default for a bare sqlite store).
        location = (Path(uri[len("sqlite:///"):]).parent / "artifacts" / name).resolve().as_uri()
    return client.create_experiment(name, artifact_location=location, tags={KIND_TAG: KIND_ML}), location


def experiment_id():
    """Id of the configured experiment (None when tracking is off)."""
    return _config().experiment_id


def runs_url(experiment_id=None, uri=None, port=5000):
    """The UI page of an experiment's runs table (MLflow 3 otherwise opens its GenAI overview).

    ``uri`` an http(s) tracking server: its own UI; anything else: ``forecast ui`` on ``port``.
    """
    base = uri.rstrip("/") if uri and uri.startswith(("http://", "https://")) else f"http://127.0.0.1:{port}"
    return f"{base}/#/experiments/{experiment_id}/runs" if experiment_id is not None else base


def local_experiment_id(name, store=None):
    """Id of experiment ``name`` in the local store without importing mlflow (None if absent)."""
    import sqlite3

    db = Path(store or store_dir()) / "mlflow.db"
    if not db.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT experiment_id FROM experiments WHERE name = ? AND lifecycle_stage = 'active'",
                               (name,)).fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def _config():
    """The active config; configures the default store on first use so the URI is never implicit."""
    if _state is None:
        return configure(experiment=os.environ.get("MLFLOW_EXPERIMENT_NAME", "forecast"))
    return _state


def _client():
    from mlflow.tracking import MlflowClient

    return MlflowClient(_config().uri)


def _run_id(run_id):
    """Explicit id, else this thread's active run; None when tracking is off."""
    if not _config():
        return None
    if run_id:
        return run_id
    import mlflow

    active = mlflow.active_run()
    if active is None:
        raise RuntimeError("no active MLflow run: call inside `with tracking.run(...)` or pass run_id=")
    return active.info.run_id


# ---------------------------------------------------------------------------------- runs
@contextlib.contextmanager
def run(name, params=None, tags=None, nested=False, parent_run_id=None):
    """Open a run; end it FINISHED, or FAILED (tag ``forecast.error``) when the block raises.

    With tracking off it yields ``RunHandle(None, skipped=True, reason=...)`` and logs nothing.
    """
    cfg = _config()
    if not cfg:
        yield RunHandle(None, True, cfg.reason)
        return
    import mlflow

    active = mlflow.start_run(run_name=name, nested=nested, parent_run_id=parent_run_id,
                              experiment_id=cfg.experiment_id, tags=_strings(tags or {}))
    run_id = active.info.run_id
    try:
        if params:
            log_params(params, run_id)
        yield RunHandle(run_id)
    except BaseException as exc:
        _client().set_tag(run_id, "forecast.error", f"{type(exc).__name__}: {exc}"[:5000])
        mlflow.end_run("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    else:
        mlflow.end_run("FINISHED")


def log_params(params, run_id=None):
    """Log a dict of parameters (values made plain strings; tuples as lists)."""
    from mlflow.entities import Param

    run_id = _run_id(run_id)
    if run_id is None:
        return
    items = [Param(k, _plain(v)) for k, v in params.items()]
    client = _client()
    for i in range(0, len(items), 100):  # MLflow's per-batch parameter limit
        client.log_batch(run_id, params=items[i:i + 100])


def log_metrics(metrics, step=0, run_id=None):
    """Log a dict name -> number at ``step`` (non-finite and None values are skipped)."""
    from mlflow.entities import Metric

    run_id = _run_id(run_id)
    if run_id is None:
        return
    now = int(time.time() * 1000)
    items = [Metric(k, float(v), now, int(step)) for k, v in metrics.items() if _finite(v)]
    client = _client()
    for i in range(0, len(items), 1000):
        client.log_batch(run_id, metrics=items[i:i + 1000])


def _finite(v):
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _plain(v):
    if isinstance(v, tuple):
        v = list(v)
    return v if isinstance(v, str) else json.dumps(v, default=str)


def _strings(d):
    return {str(k): str(v) for k, v in d.items()}


class MlflowCallback(Callback):
    """Stream each epoch's record into the run as metrics at step = epoch.

    Parameters
    ----------
    run_id : the run to log into (None: the active run when training begins).
    """

    def __init__(self, run_id=None):
        self.run_id = run_id

    def on_train_begin(self, state):
        self.run_id = _run_id(self.run_id)

    def on_epoch_end(self, state, record):
        if self.run_id is not None:
            log_metrics(epoch_metrics(record), step=record.epoch, run_id=self.run_id)


def epoch_metrics(record):
    out = {k: getattr(record, k) for k in EPOCH_METRICS}
    out["epoch_seconds"] = record.seconds
    return out


# ---------------------------------------------------------------------------------- training
def log_training(estimator, data_name, df, run_id=None):
    """Log a fitted estimator's parameters, the data's identity, the environment and its history.

    Parameters
    ----------
    estimator : fitted RNNForecaster (or any estimator with ``get_params``; fitted attributes
        that are absent are skipped).
    data_name : name of the training data set.
    df : the training frame (long, wide or Series); its content hash makes the run reproducible.
    """
    run_id = _run_id(run_id)
    if run_id is None:
        return
    params = {k: v for k, v in estimator.get_params().items()}
    # parameters left to the data (None): the values the fit resolved them to
    params |= {f"resolved.{k}": getattr(estimator, f"{k}_") for k, v in params.items()
               if v in (None, "auto") and hasattr(estimator, f"{k}_")}
    params |= {f"data.{k}": v for k, v in data_summary(df, estimator, data_name).items()}
    params |= {f"version.{k}": v for k, v in versions().items()}
    params["device"] = str(getattr(estimator, "device_", "n/a"))
    params["window.n_train_windows"] = getattr(estimator, "n_train_windows_", None)
    layout = getattr(estimator, "layout_", None)
    if layout is not None:
        params |= {"layout.past": layout.past, "layout.future": layout.future, "layout.static": layout.static,
                   "layout.calendar": layout.calendar}
    log_params(params, run_id)
    history = getattr(estimator, "history_", None)
    if history is not None:
        log_history(history, run_id)


def log_history(history, run_id=None):
    """Per-epoch metrics (unless an MlflowCallback already streamed them) and ``history.csv``."""
    run_id = _run_id(run_id)
    if run_id is None:
        return
    client = _client()
    if not client.get_metric_history(run_id, "train_loss"):
        for record in history.records:
            log_metrics(epoch_metrics(record), step=record.epoch, run_id=run_id)
    tags = {"history.stopped_early": history.stopped_early, "history.best_epoch": history.best_epoch,
            "history.epochs": len(history.records)}
    if history.rolled_back:
        tags["history.rolled_back"] = history.rolled_back
    for k, v in tags.items():
        client.set_tag(run_id, k, str(v))
    log_frame(history.to_frame(), "training/history.csv", run_id)


def data_summary(df, estimator=None, name=None):
    """name, content hash (sha256 of pandas' row hashes), number of series and points."""
    from forecast import frames

    spec = getattr(estimator, "spec_", frames.FrameSpec())
    long, _ = frames.to_long(df, spec.id_col, spec.time_col, spec.target_col)
    digest = hashlib.sha256(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes()).hexdigest()
    return {"name": name, "hash": digest[:16], "n_series": int(long[frames.ID].nunique()), "n_points": len(long)}


def versions():
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist, key in (("recurrent-forecast", "forecast"), ("torch", "torch"), ("pandas", "pandas"),
                      ("numpy", "numpy"), ("scikit-learn", "sklearn"), ("mlflow", "mlflow")):
        try:
            out[key] = version(dist)
        except PackageNotFoundError:
            out[key] = "absent"
    return out


def log_frame(frame, artifact_file, run_id=None):
    """Write ``frame`` as CSV into the run's artifacts at ``artifact_file``."""
    run_id = _run_id(run_id)
    if run_id is not None:
        _client().log_text(run_id, frame.to_csv(index=False), artifact_file)


def log_figure(fig, artifact_file, run_id=None):
    run_id = _run_id(run_id)
    if run_id is not None:
        _client().log_figure(run_id, fig, artifact_file)


# ---------------------------------------------------------------------------------- backtests
def log_backtest(result, prefix="backtest", run_id=None):
    """Aggregate metrics as ``<prefix>_<metric>``; per-series/window/step CSVs; error-by-horizon PNG.

    ``result`` is a ``forecast.backtesting.BacktestResult``, read by attribute: ``aggregate``,
    ``per_series``, ``per_window``, ``by_step``, ``forecasts`` [unique_id, cutoff, ds, y, y_pred],
    ``n_fits``, ``fit_seconds``, ``predict_seconds``, ``params`` (absent ones are skipped).
    Returns the metrics logged.
    """
    run_id = _run_id(run_id)
    if run_id is None:
        return {}
    metrics = backtest_metrics(result, prefix)
    log_metrics(metrics, run_id=run_id)
    _log_backtest_files(result, prefix, run_id)
    return metrics


def backtest_metrics(result, prefix="backtest"):
    """``<prefix>_<metric>`` for the finite aggregate metrics, n_fits and timings of ``result``."""
    metrics = {f"{prefix}_{k}": v for k, v in dict(result.aggregate).items() if _finite(v)}
    for extra in ("n_fits", "fit_seconds", "predict_seconds"):
        if _finite(getattr(result, extra, None)):
            metrics[f"{prefix}_{extra}"] = getattr(result, extra)
    return metrics


def _log_backtest_files(result, prefix, run_id):
    from . import plots

    if getattr(result, "params", None):
        log_params({f"{prefix}.{k}": v for k, v in result.params.items()}, run_id)
    for table in ("per_series", "per_window", "by_step"):
        frame = getattr(result, table, None)
        if isinstance(frame, pd.DataFrame):
            log_frame(frame.reset_index() if _named_index(frame) else frame, f"{prefix}/{table}.csv", run_id)
    by_step = plots.by_step_table(getattr(result, "by_step", None), getattr(result, "forecasts", None))
    if by_step is not None:
        log_figure(plots.horizon_figure(by_step, title=prefix), f"{prefix}/error_by_horizon.png", run_id)


def _named_index(frame):
    return any(name is not None for name in frame.index.names)


def log_forecast_plot(history_df, forecast_df, actuals_df=None, n_series=4, run_id=None,
                      artifact_file="forecast.png"):
    """PNG of a few series: the end of the history, the actuals (if given) and the forecast.

    Frames are long: history/actuals [unique_id, ds, y], forecast [unique_id, ds, y_pred].
    """
    run_id = _run_id(run_id)
    if run_id is None:
        return
    from . import plots

    log_figure(plots.forecast_figure(history_df, forecast_df, actuals_df, n_series), artifact_file, run_id)


def log_gradient_through_time(estimator, df, run_id=None, n_windows=256):
    """Log the gradient-through-time diagnostic of a fitted model: the norm of d loss / d x_t per
    lookback step as metrics (step = t), a CSV and a log-scale plot (vanishing gradients show as
    a curve falling toward early steps). Returns the (lookback,) array."""
    from forecast.diagnostics import gradient_through_time

    grad = gradient_through_time(estimator, df, n_windows=n_windows)
    run_id = _run_id(run_id)
    if run_id is None:
        return grad
    import matplotlib.figure

    lags = np.arange(1 - len(grad), 1)  # 0 = the step just before the forecast origin
    log_frame(pd.DataFrame({"lag": lags, "grad_norm": grad}), "diagnostics/gradient_through_time.csv", run_id)
    fig = matplotlib.figure.Figure(figsize=(7, 4))
    ax = fig.subplots()
    ax.semilogy(lags, grad / grad[-1])
    ax.set_xlabel("lookback step (0 = the forecast origin)")
    ax.set_ylabel("|d loss / d x_t| relative to the last step")
    ax.set_title(f"gradient through time ({estimator.cell}{', bidirectional' if estimator.bidirectional else ''})")
    fig.tight_layout()
    log_figure(fig, "diagnostics/gradient_through_time.png", run_id)
    log_metrics({"grad_ratio_first_to_last": float(grad[0] / grad[-1]) if grad[-1] > 0 else float("nan")},
                run_id=run_id)
    return grad


# ---------------------------------------------------------------------------------- selection
def log_selection(result, run_id=None, prefix="backtest"):
    """Log a model selection: leaderboard on the parent run, one child run per candidate.

    ``result`` is a ``forecast.selection.SelectionResult`` (read by attribute: ``leaderboard``
    with columns [candidate, params (JSON), metrics..., fit_seconds, rank], ``best_name`` and,
    when present, per-candidate ``backtests`` {name: BacktestResult}). Each child run holds the
    candidate's parameters, its backtest metrics (``<prefix>_<metric>``, so the UI's compare
    view lines candidates up), its backtest tables and training curves when available.

    Returns
    -------
    dict candidate name -> child run id ({} when tracking is off).
    """
    parent = _run_id(run_id)
    if parent is None:
        return {}
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

    client = _client()
    experiment_id = client.get_run(parent).info.experiment_id
    board = result.leaderboard.reset_index(drop=True)
    backtests = dict(getattr(result, "backtests", None) or {})
    for name, cand in (getattr(result, "results", None) or {}).items():  # forecast.selection.SelectionResult
        if getattr(cand, "backtest", None) is not None:
            backtests.setdefault(name, cand.backtest)
    metric_cols = [c for c in board.columns if c not in ("candidate", "params", "rank")
                   and pd.api.types.is_numeric_dtype(board[c])]
    children = {}
    for row in board.to_dict("records"):
        name = str(row["candidate"])
        child = client.create_run(experiment_id, run_name=name,
                                  tags={MLFLOW_PARENT_RUN_ID: parent, MLFLOW_RUN_NAME: name,
                                        "forecast.candidate": name, "forecast.rank": str(row.get("rank")),
                                        "forecast.best": str(name == str(result.best_name)).lower()})
        child_id = child.info.run_id
        try:
            _log_candidate(row, metric_cols, backtests.get(name), prefix, child_id)
        except BaseException:
            client.set_terminated(child_id, "FAILED")
            raise
        client.set_terminated(child_id, "FINISHED")
        children[name] = child_id
    log_frame(board, "selection/leaderboard.csv", parent)
    client.log_table(parent, data=board.astype({"params": str}) if "params" in board else board,
                     artifact_file="selection/leaderboard.json")
    client.set_tag(parent, "forecast.best_candidate", str(result.best_name))
    if getattr(result, "best_params", None) is not None:
        client.log_text(parent, json.dumps(result.best_params, indent=1, default=str), "selection/best_params.json")
    return children


def _log_candidate(row, metric_cols, backtest, prefix, run_id):
    params = row.get("params")
    params = json.loads(params) if isinstance(params, str) else dict(params or {})
    log_params(params, run_id)
    # The leaderboard's numbers are authoritative; the backtest adds what it lacks (n_fits, timings).
    metrics = backtest_metrics(backtest, prefix) if backtest is not None else {}
    metrics |= {f"{prefix}_{c}" if c != "fit_seconds" else c: row[c] for c in metric_cols}
    log_metrics(metrics, run_id=run_id)
    if backtest is None:
        return
    _log_backtest_files(backtest, prefix, run_id)
    history = _candidate_history(backtest)
    if history is not None:
        log_history(history, run_id)


def _candidate_history(backtest):
    """Training curves of a candidate's last fit, when its backtest kept them."""
    history = getattr(backtest, "history", None)
    if history is None:
        histories = getattr(backtest, "histories", None)
        history = histories[-1] if histories else None
    if history is None:
        est = getattr(backtest, "estimator", None)
        history = getattr(est, "history_", None)
    return history if hasattr(history, "records") else None


# The logged model and the registry live in pipelines/registry.py, the UI and server helpers in
# pipelines/server.py; their names are part of this module's API. Both modules import this one,
# so the names are resolved lazily (PEP 562): any of the three modules can be imported first.
_REEXPORTS = {
    **dict.fromkeys(("server_script", "start_ui", "ui_command", "wait_healthy"), "server"),
    **dict.fromkeys(("CHAMPION", "FUTURE_FLAG", "champion_version", "ModelRef", "PromotionResult", "example_history", "load_champion",
                     "load_pyfunc", "log_model", "pyfunc_input", "register_and_promote", "series_scope", "split_pyfunc_input",
                     "version_run_id"), "registry"),
}


def __getattr__(name):
    module = _REEXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__package__}.{module}"), name)
    globals()[name] = value
    return value
