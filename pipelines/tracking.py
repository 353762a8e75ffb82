"""MLflow logging of this project's objects: training history, backtests, selections, forecast
plots, the gradient-through-time diagnostic (model selection: :mod:`pipelines.selection_log`).
Built on :mod:`pipelines.runs` (run basics) and :mod:`pipelines.store` (where MLflow tracks); the
logged model and the registry are in :mod:`pipelines.registry`, the UI server in
:mod:`pipelines.server`.

The core never imports mlflow; it reaches this module through the training callback hook
(:class:`MlflowCallback`). mlflow is imported lazily, inside the functions that need it.

``MlflowCallback(run_id=None)``
    ``forecast.training.loop.Callback`` logging per-epoch metrics as steps (step = epoch).
``log_training(estimator, data_name, df, run_id=None)``
``log_backtest(result, prefix="backtest", run_id=None) -> dict of logged metrics``
``log_forecast_plot(history_df, forecast_df, actuals_df=None, n_series=4, run_id=None,
artifact_file="forecast.png")``
``log_gradient_through_time(estimator, df, run_id=None, n_windows=256) -> (lookback,) array``

Like :mod:`pipelines.runs`, every function takes ``run_id=None`` (the active run of this thread)
and logs nothing when tracking is off.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.training.loop import Callback

from . import store
from .runs import (
    current_run_id,
    finite,
    log_figure,
    log_file,
    log_frame,
    log_metrics,
    log_params,
    versions,
)

EPOCH_METRICS = (
    "train_loss",
    "val_loss",
    "grad_norm_mean",
    "grad_norm_max",
    "clipped_fraction",
    "learning_rate",
)


class MlflowCallback(Callback):
    """Stream each epoch's record into the run as metrics at step = epoch.

    Parameters
    ----------
    run_id : the run to log into (None: the active run when training begins).
    """

    def __init__(self, run_id=None):
        self.run_id = run_id

    def on_train_begin(self, state):
        self.run_id = current_run_id(self.run_id)

    def on_epoch_end(self, state, record):
        if self.run_id is not None:
            log_metrics(epoch_metrics(record), step=record.epoch, run_id=self.run_id)


def epoch_metrics(record):
    out = {k: getattr(record, k) for k in EPOCH_METRICS}
    out["epoch_seconds"] = record.seconds
    for i, loss in enumerate(
        getattr(record, "member_train_loss", None) or ()
    ):  # an ensemble's members
        out[f"train_loss_member{i}"] = loss
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
    run_id = current_run_id(run_id)
    if run_id is None:
        return
    params = {k: v for k, v in estimator.get_params().items()}
    # parameters left to the data (None): the values the fit resolved them to
    params |= {
        f"resolved.{k}": getattr(estimator, f"{k}_")
        for k, v in params.items()
        if v in (None, "auto") and hasattr(estimator, f"{k}_")
    }
    params |= {f"data.{k}": v for k, v in data_summary(df, estimator, data_name).items()}
    params |= {f"version.{k}": v for k, v in versions().items()}
    params["device"] = str(getattr(estimator, "device_", "n/a"))
    params["window.n_train_windows"] = getattr(estimator, "n_train_windows_", None)
    layout = getattr(estimator, "layout_", None)
    if layout is not None:
        params |= {
            "layout.past": layout.past,
            "layout.future": layout.future,
            "layout.static": layout.static,
            "layout.calendar": layout.calendar,
        }
    log_params(params, run_id)
    history = getattr(estimator, "history_", None)
    if history is not None:
        log_history(history, run_id)


def log_history(history, run_id=None, start_ms=None):
    """Per-epoch metrics at step = epoch (unless an MlflowCallback already streamed them) and
    ``history.csv``. ``start_ms``: when training began (ms since the epoch), so that each epoch's
    values carry the time it ended (start + the epochs' seconds) rather than the time of logging."""
    run_id = current_run_id(run_id)
    if run_id is None:
        return
    client = store.client()
    if not client.get_metric_history(run_id, "train_loss"):
        elapsed = 0.0
        for record in history.records:
            elapsed += record.seconds or 0.0
            when = None if start_ms is None else start_ms + 1000 * elapsed
            log_metrics(epoch_metrics(record), step=record.epoch, run_id=run_id, timestamp=when)
    tags = {
        "history.stopped_early": history.stopped_early,
        "history.best_epoch": history.best_epoch,
        "history.epochs": len(history.records),
    }
    if history.rolled_back:
        tags["history.rolled_back"] = history.rolled_back
    for k, v in tags.items():
        client.set_tag(run_id, k, str(v))
    log_frame(history.to_frame(), "training/history.csv", run_id)


def data_summary(df, estimator=None, name=None):
    """name, content hash (sha256 of pandas' row hashes), number of series and points."""
    from forecast.data import frames

    spec = getattr(estimator, "spec_", frames.FrameSpec())
    long, _ = frames.to_long(df, spec.id_col, spec.time_col, spec.target_col)
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes()
    ).hexdigest()
    return {
        "name": name,
        "hash": digest[:16],
        "n_series": int(long[frames.ID].nunique()),
        "n_points": len(long),
    }


# ---------------------------------------------------------------------------------- backtests
def log_backtest(result, prefix="backtest", run_id=None):
    """Aggregate metrics as ``<prefix>_<metric>``; per-series/window/step CSVs; error-by-horizon
    PNG.

    ``result`` is a ``forecast.evaluation.backtesting.BacktestResult``, read by attribute:
    ``aggregate``, ``per_series``, ``per_window``, ``by_step``, ``forecasts`` [unique_id, cutoff,
    ds, y, y_pred], ``n_fits``, ``fit_seconds``, ``predict_seconds``, ``params`` (absent ones are
    skipped). Returns the metrics logged.
    """
    run_id = current_run_id(run_id)
    if run_id is None:
        return {}
    metrics = backtest_metrics(result, prefix)
    log_metrics(metrics, run_id=run_id)
    log_backtest_files(result, prefix, run_id)
    return metrics


def backtest_metrics(result, prefix="backtest"):
    """``<prefix>_<metric>`` for the finite aggregate metrics, n_fits and timings of ``result``."""
    metrics = {f"{prefix}_{k}": v for k, v in dict(result.aggregate).items() if finite(v)}
    for extra in ("n_fits", "fit_seconds", "predict_seconds"):
        if finite(getattr(result, extra, None)):
            metrics[f"{prefix}_{extra}"] = getattr(result, extra)
    return metrics


def log_backtest_files(result, prefix, run_id):
    from . import plots

    if getattr(result, "params", None):
        log_params({f"{prefix}.{k}": v for k, v in result.params.items()}, run_id)
    for table in ("per_series", "per_window", "by_step"):
        frame = getattr(result, table, None)
        if isinstance(frame, pd.DataFrame):
            log_frame(
                frame.reset_index() if _named_index(frame) else frame,
                f"{prefix}/{table}.csv",
                run_id,
            )
    by_step = plots.by_step_table(
        getattr(result, "by_step", None), getattr(result, "forecasts", None)
    )
    if by_step is not None:
        log_figure(
            plots.horizon_figure(by_step, title=prefix), f"{prefix}/error_by_horizon.png", run_id
        )
        if any(str(c).startswith("coverage") for c in by_step.columns):
            log_figure(
                plots.coverage_figure(by_step, title=prefix),
                f"{prefix}/coverage_by_horizon.png",
                run_id,
            )


def _named_index(frame):
    return any(name is not None for name in frame.index.names)


def log_forecast_plot(
    history_df, forecast_df, actuals_df=None, n_series=4, run_id=None, artifact_file="forecast.png"
):
    """PNG of a few series: the end of the history, the actuals (if given) and the forecast.

    Frames are long: history/actuals [unique_id, ds, y], forecast [unique_id, ds, y_pred].
    """
    run_id = current_run_id(run_id)
    if run_id is None:
        return
    from . import plots

    log_figure(
        plots.forecast_figure(history_df, forecast_df, actuals_df, n_series), artifact_file, run_id
    )


def log_gradient_through_time(estimator, df, run_id=None, n_windows=256):
    """Log the gradient-through-time diagnostic of a fitted model: the norm of d loss / d x_t per
    lookback step as a CSV, a log-scale plot
    (``forecast.evaluation.diagnostics.plot_gradient_through_time``:
    vanishing gradients show as a curve falling toward early steps) and the first-to-last ratio
    as the metric ``grad_ratio_first_to_last``. Returns the (lookback,) array."""
    from forecast.evaluation.diagnostics import gradient_through_time, plot_gradient_through_time

    grad = gradient_through_time(estimator, df, n_windows=n_windows)
    run_id = current_run_id(run_id)
    if run_id is None:
        return grad
    lags = np.arange(1 - len(grad), 1)  # 0 = the step just before the forecast origin
    log_frame(
        pd.DataFrame({"lag": lags, "grad_norm": grad}),
        "diagnostics/gradient_through_time.csv",
        run_id,
    )
    model = f"{estimator.cell}{', bidirectional' if estimator.bidirectional else ''}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gradient_through_time.png"
        plot_gradient_through_time({model: grad}, path, title=f"gradient through time ({model})")
        log_file(path, "diagnostics", run_id)
    log_metrics(
        {"grad_ratio_first_to_last": float(grad[0] / grad[-1]) if grad[-1] > 0 else float("nan")},
        run_id=run_id,
    )
    return grad
