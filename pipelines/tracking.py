"""MLflow logging of this project's objects: training history, backtests, selections, forecast plots,
the gradient-through-time diagnostic. Built on :mod:`pipelines.runs` (run basics) and
:mod:`pipelines.store` (where MLflow tracks); the logged model and the registry are in
:mod:`pipelines.registry`, the UI server in :mod:`pipelines.server`.

The core never imports mlflow; it reaches this module through the training callback hook
(:class:`MlflowCallback`). mlflow is imported lazily, inside the functions that need it.

``MlflowCallback(run_id=None)``
    ``forecast.training.loop.Callback`` logging per-epoch metrics as steps (step = epoch).
``log_training(estimator, data_name, df, run_id=None)``
``log_backtest(result, prefix="backtest", run_id=None) -> dict of logged metrics``
``log_forecast_plot(history_df, forecast_df, actuals_df=None, n_series=4, run_id=None, artifact_file="forecast.png")``
``log_gradient_through_time(estimator, df, run_id=None, n_windows=256) -> (lookback,) array``
``start_candidate(parent_run_id, name) -> run id``, ``finish_candidate(result, run_id)``: a candidate's run, live
``log_selection(result, run_id=None, prefix="backtest", metric=None) -> dict candidate -> child run id``

Like :mod:`pipelines.runs`, every function takes ``run_id=None`` (the active run of this thread)
and logs nothing when tracking is off.
"""

from __future__ import annotations

import hashlib
import json
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
    now_ms,
    set_note,
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
    """Aggregate metrics as ``<prefix>_<metric>``; per-series/window/step CSVs; error-by-horizon PNG.

    ``result`` is a ``forecast.evaluation.backtesting.BacktestResult``, read by attribute: ``aggregate``,
    ``per_series``, ``per_window``, ``by_step``, ``forecasts`` [unique_id, cutoff, ds, y, y_pred],
    ``n_fits``, ``fit_seconds``, ``predict_seconds``, ``params`` (absent ones are skipped).
    Returns the metrics logged.
    """
    run_id = current_run_id(run_id)
    if run_id is None:
        return {}
    metrics = backtest_metrics(result, prefix)
    log_metrics(metrics, run_id=run_id)
    _log_backtest_files(result, prefix, run_id)
    return metrics


def backtest_metrics(result, prefix="backtest"):
    """``<prefix>_<metric>`` for the finite aggregate metrics, n_fits and timings of ``result``."""
    metrics = {f"{prefix}_{k}": v for k, v in dict(result.aggregate).items() if finite(v)}
    for extra in ("n_fits", "fit_seconds", "predict_seconds"):
        if finite(getattr(result, extra, None)):
            metrics[f"{prefix}_{extra}"] = getattr(result, extra)
    return metrics


def _log_backtest_files(result, prefix, run_id):
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
    lookback step as a CSV, a log-scale plot (``forecast.evaluation.diagnostics.plot_gradient_through_time``:
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


# ---------------------------------------------------------------------------------- selection
NOT_METRICS = ("candidate", "params", "rank", "reference", "error")


def start_candidate(parent_run_id, name):
    """A child run of ``parent_run_id`` for candidate ``name``, RUNNING from now (None: tracking off).

    The train flow opens it as the candidate's evaluation begins, so the run's duration is the
    candidate's fit and backtest, and the UI shows it running meanwhile."""
    if current_run_id(parent_run_id) is None:
        return None
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    client = store.client()
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    return client.create_run(
        experiment_id,
        run_name=name,
        start_time=now_ms(),
        tags={MLFLOW_PARENT_RUN_ID: parent_run_id, "forecast.candidate": name},
    ).info.run_id


def finish_candidate(result, run_id, prefix="backtest"):
    """Log a candidate's evaluation (``forecast.evaluation.selection.CandidateResult``) into its run and end it:
    parameters, backtest metrics and tables, the training curves of its fit (val_loss included when
    it held back a validation tail), FINISHED, or FAILED with the error as tag ``forecast.error``."""
    if run_id is None:
        return
    client = store.client()
    log_params(result.params, run_id)
    if result.error:
        client.set_tag(run_id, "forecast.error", str(result.error)[:5000])
        client.set_terminated(run_id, "FAILED", end_time=now_ms())
        return
    started = client.get_run(run_id).info.start_time
    _log_candidate_backtest(result.backtest, prefix, run_id, start_ms=started)
    log_metrics({"fit_seconds": result.fit_seconds, "seconds": result.seconds}, run_id=run_id)
    client.set_terminated(run_id, "FINISHED", end_time=now_ms())


def candidate_runs(parent_run_id):
    """{candidate name: run id} of the candidate runs already under ``parent_run_id``."""
    client = store.client()
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    found = client.search_runs(
        [experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}'", max_results=1000
    )
    return {
        r.data.tags["forecast.candidate"]: r.info.run_id
        for r in found
        if "forecast.candidate" in r.data.tags
    }


def log_selection(result, run_id=None, prefix="backtest", metric=None):
    """Log a model selection: leaderboard on the parent run, one child run per candidate.

    ``result`` is a ``forecast.evaluation.selection.SelectionResult`` (read by attribute: ``leaderboard``
    with columns [candidate, params (JSON), metrics..., fit_seconds, rank], ``best_name`` and,
    when present, per-candidate ``backtests`` {name: BacktestResult}). Each child run holds the
    candidate's parameters, its backtest metrics (``<prefix>_<metric>``) and its ``rank`` as
    metrics (sorting the runs table by ``metrics.backtest_<metric>`` or ``metrics.rank`` gives the
    leaderboard), tags ``forecast.rank``/``forecast.best``, a description, its backtest tables and
    training curves. Candidate runs already opened by :func:`start_candidate` are completed, not
    duplicated. ``metric``: the ranking metric (None: the first metric column).

    Returns
    -------
    dict candidate name -> child run id ({} when tracking is off).
    """
    parent = current_run_id(run_id)
    if parent is None:
        return {}
    from . import describe, links

    client = store.client()
    board = result.leaderboard.reset_index(drop=True)
    backtests = _backtests(result)
    metric_cols = [
        c for c in board.columns if c not in NOT_METRICS and pd.api.types.is_numeric_dtype(board[c])
    ]
    metric = metric or (metric_cols[0] if metric_cols else None)
    existing = candidate_runs(parent)
    parent_name, experiment_id = (
        client.get_run(parent).info.run_name,
        client.get_run(parent).info.experiment_id,
    )
    chosen = str(
        getattr(result, "best", None) or result.best_name
    )  # the reference row is never trained
    children = {}
    for row in board.to_dict("records"):
        name = str(row["candidate"])
        child_id = existing.get(name)
        if child_id is None:
            child_id = start_candidate(parent, name)
            _log_new_candidate(row, backtests.get(name), prefix, child_id)
        log_metrics(
            {
                f"{prefix}_{c}" if c not in ("fit_seconds", "seconds") else c: row[c]
                for c in metric_cols
            }
            | {"rank": row.get("rank")},
            run_id=child_id,
        )
        client.set_tag(child_id, "forecast.rank", str(row.get("rank")))
        client.set_tag(child_id, "forecast.best", str(name == chosen).lower())
        curves = (
            None
            if row.get("reference")
            else links.curves_url([child_id], experiment_id=experiment_id)
        )
        set_note(
            child_id, describe.candidate_description(name, row, metric, chosen, parent_name, curves)
        )
        children[name] = child_id
    _log_leaderboard(board, describe.leaderboard_table(board, metric), parent)
    client.set_tag(parent, "forecast.best_candidate", chosen)
    if getattr(result, "best_params", None) is not None:
        client.log_text(
            parent,
            json.dumps(result.best_params, indent=1, default=str),
            "selection/best_params.json",
        )
    return children


def _backtests(result):
    backtests = dict(getattr(result, "backtests", None) or {})
    for name, cand in (
        getattr(result, "results", None) or {}
    ).items():  # forecast.evaluation.selection.SelectionResult
        if getattr(cand, "backtest", None) is not None:
            backtests.setdefault(name, cand.backtest)
    return backtests


def _log_new_candidate(row, backtest, prefix, run_id):
    """A candidate run opened after the fact (no :func:`start_candidate` while it ran)."""
    client = store.client()
    try:
        params = row.get("params")
        log_params(json.loads(params) if isinstance(params, str) else dict(params or {}), run_id)
        _log_candidate_backtest(backtest, prefix, run_id)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")


def _log_candidate_backtest(backtest, prefix, run_id, start_ms=None):
    if backtest is None:
        return
    log_metrics(backtest_metrics(backtest, prefix), run_id=run_id)
    _log_backtest_files(backtest, prefix, run_id)
    history = _candidate_history(backtest)
    if history is not None:
        log_history(history, run_id, start_ms=start_ms)
        from . import plots

        log_figure(
            plots.curves_figure({"fit": history.to_frame()}, title="training curves by epoch"),
            "training/curves.png",
            run_id,
        )


def _log_leaderboard(board, table, parent):
    """The leaderboard as CSV (as selected, params as JSON), as a table with the parameters as
    columns (``selection/leaderboard.json``, shown as a table by the UI) and as markdown."""
    from . import describe

    log_frame(board, "selection/leaderboard.csv", parent)
    store.client().log_table(
        parent,
        data=table.astype({c: str for c in table.columns if table[c].dtype == object}),
        artifact_file="selection/leaderboard.json",
    )
    store.client().log_text(
        parent, describe.markdown_table(table) + "\n", "selection/leaderboard.md"
    )


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
