"""Prefect tasks: each one call into ``forecast``, ``pipelines.io`` or the MLflow adapter (``store``,
``runs``, ``tracking``, ``registry``).

Retries with exponential backoff sit on I/O (reading data, writing forecasts, talking to MLflow)
and only for errors that can pass (connection and OS errors, not a missing file or bad data).
Data loading is cached on the data's content (bundled set + file stats, file bytes), so a
retrain or forecast over unchanged data reads it once. Deterministic compute has neither
retries nor caching (``NO_CACHE``): a failure there is a bug or bad data, and a fitted model is
not worth persisting in Prefect's result store (MLflow holds it).
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff
from sklearn.base import clone

from forecast import SeasonalNaive, backtest
from forecast.choices import DEFAULT_METRICS, METRICS
from forecast.data import frames, frequencies

from . import budget, io, locks, orphans, registry, resume, runs, store, tracking
from .environment import run_logger
from .future import split_future

# Errors that no retry can fix: bad input, a missing file, a missing registered model.
_PERMANENT = (
    ValueError,
    TypeError,
    LookupError,
    FileNotFoundError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
)
IO_RETRIES = 3
BACKOFF = exponential_backoff(backoff_factor=1)  # 1, 2, 4 s (+ jitter)


def transient(task, task_run, state):
    """Retry condition: retry only on errors that may pass (network, OS, server), never on bad input."""
    try:
        state.result()
    except _PERMANENT:
        return False
    except Exception:  # noqa: BLE001 - anything else (connection, timeout, server error) may pass
        return True
    return True


def _io(**kwargs):
    """Options of an I/O task: retried with backoff on transient errors, never cached."""
    return (
        dict(
            retries=IO_RETRIES,
            retry_delay_seconds=BACKOFF,
            retry_jitter_factor=0.5,
            retry_condition_fn=transient,
            cache_policy=NO_CACHE,
        )
        | kwargs
    )


def _compute(**kwargs):
    return dict(cache_policy=NO_CACHE) | kwargs


# ---------------------------------------------------------------------------------- data
def data_cache_key(context, parameters):
    """Cache key of ``load_data``: the data's content (None: not cacheable, e.g. SQL tables)."""
    key = io.content_key(parameters["source"], parameters.get("table"))
    columns = [parameters.get(k) for k in ("id_col", "time_col", "target_col")]
    return None if key is None else f"{key}|table={parameters.get('table')}|columns={columns}"


@task(
    name="load-data",
    retries=IO_RETRIES,
    retry_delay_seconds=BACKOFF,
    retry_jitter_factor=0.5,
    retry_condition_fn=transient,
    cache_key_fn=data_cache_key,
    cache_expiration=timedelta(days=1),
)
def load_data(
    source: str,
    table: str | None = None,
    id_col: str = frames.ID,
    time_col: str = frames.TIME,
    target_col: str = frames.TARGET,
) -> pd.DataFrame:
    """Read a bundled set, a CSV/Parquet file or a SQL table as a long frame [unique_id, ds, y, ...]."""
    df = io.load_frame(source, table, id_col, time_col, target_col)
    run_logger().info(
        "loaded %s: %d rows, %d series", io.redact(source), len(df), df[frames.ID].nunique()
    )
    return df


@task(name="split-future", **_compute())
def set_future_aside(df, future_columns=()):
    """(history, future): the trailing rows of each series whose target is still missing are the
    future, carrying the future covariates' values for the horizon (``pipelines.future.split_future``)."""
    history, future = split_future(df, list(future_columns))
    if len(future) and not future_columns:
        run_logger().warning(
            "%d trailing row(s) of %d series have no target yet and the model reads no future "
            "covariates: ignored; forecasts start after each series' last observed value",
            len(future),
            future[frames.ID].nunique(),
        )
    elif len(future):
        run_logger().info(
            "%d future row(s) of %d series (target not yet observed) set aside from the history",
            len(future),
            future[frames.ID].nunique(),
        )
    return history, future


@task(name="load-future", **_io())
def load_future(source, estimator, id_col=frames.ID, time_col=frames.TIME):
    """The model's future covariates for the horizon from a CSV/Parquet file."""
    return io.load_future(
        source, list(estimator.layout_.future), list(estimator.ids_), id_col, time_col
    )


@task(name="validate-data", **_compute())
def validate_data(df, min_length=1, columns=(), names=None, fill=None):
    """``forecast.data.frames.validate`` plus a length check; returns the sorted [unique_id, ds, y, *columns] frame.

    ``names``: {internal: the data's own name} of the id/time/target columns, for messages;
    ``fill``: how NaN targets are filled per series (None: they are an error).
    """
    long, _ = frames.validate(df, list(columns), fill=fill, where="data", names=names)
    budget.check_lengths(long, min_length)
    return long


def column_names(id_col, time_col, target_col):
    """{internal name: the data's name} of the id/time/target columns (renamed on load)."""
    return {frames.ID: id_col, frames.TIME: time_col, frames.TARGET: target_col}


def model_columns(estimator):
    """The data columns a fitted model reads besides [unique_id, ds, y] (its covariates)."""
    layout = getattr(estimator, "layout_", None)
    return [*layout.past, *layout.future, *layout.static] if layout is not None else []


@task(name="split-holdout", **_compute())
def split_holdout(df, horizon):
    """Everything but the last ``horizon`` points of each series: the data model selection sees."""
    keep = df.groupby(frames.ID, sort=False).cumcount(ascending=False) >= horizon
    return df.loc[keep].reset_index(drop=True)


@task(name="check-matches-model", **_compute())
def check_matches_model(df, estimator):
    """Refuse data whose series or frequency differ from the model's (``FittedState.mismatch``), before
    anything is written. ``df``: a validated long frame [unique_id, ds, y, ...]."""
    state = estimator.state_
    series = state.mismatch(dict.fromkeys(df[frames.ID].unique()))
    if series.unknown or series.missing:
        raise ValueError(
            f"data does not match the model: series not seen in training "
            f"{sorted(map(str, series.unknown))[:5]}, series of the model missing from the data "
            f"{sorted(map(str, series.missing))[:5]}"
        )
    other = state.mismatch(frequencies.infer_frequencies(df, where="forecast data")).frequencies
    if other:
        uid, freq, want = other[0]
        raise ValueError(
            f"data does not match the model: series {uid!r} has frequency {freq!r}, "
            f"the model was fitted at {want!r}"
        )


@task(name="write-forecasts", **_io())
def write_forecasts(fc, out_dir, stamp, fmt="parquet", names=None):
    """Atomically write ``out_dir/<stamp>/forecasts.<fmt>``; returns the path as a string.

    ``names`` ({internal: the data's name}, :func:`column_names`): the file uses the data's own
    id and time column names.
    """
    return str(io.write_forecasts(_renamed(fc, names), out_dir, stamp, fmt))


@task(name="write-sql", **_io())
def write_sql(fc, url, table, names=None):
    return io.write_sql(_renamed(fc, names), url, table)


def _renamed(fc, names):
    return (
        fc if not names else fc.rename(columns={k: v for k, v in names.items() if k in fc.columns})
    )


# ---------------------------------------------------------------------------------- models
@task(name="candidates", **_compute())
def make_candidates(
    cells, bidirectional, hidden_sizes, heads=("direct",), window_norms=("none",), **common
):
    """The candidate grid: ``forecast.evaluation.selection.candidate_grid`` -> {name: estimator}."""
    from forecast.evaluation import selection

    return selection.candidate_grid(
        cells=tuple(cells),
        bidirectional=tuple(bidirectional),
        hidden_sizes=tuple(hidden_sizes),
        heads=tuple(heads),
        window_norms=tuple(window_norms),
        **common,
    )


@task(name="evaluate-candidate", task_run_name="evaluate-{name}", **_compute())
def evaluate_candidate(job, name, estimator, df, args, parent_run_id=None):
    """One candidate's backtest: ``job`` is the callable ``forecast.evaluation.selection.select_model`` hands out.

    With ``parent_run_id`` the candidate's MLflow run is open while it runs (timed over its fit and
    backtest) and holds its parameters, backtest and training curves when it ends."""
    child = tracking.start_candidate(parent_run_id, name) if parent_run_id else None
    try:
        result = job(name, estimator, df, args)
    except BaseException as exc:
        if child:  # KILLED when stopped by a signal (``forecast.training.stopping.Interrupted``)
            store.client().set_terminated(
                child, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
            )
        raise
    tracking.finish_candidate(result, child)
    return result


class TaskExecutor:
    """The ``executor`` of ``select_model``: every ``submit`` becomes a Prefect task on the flow's runner.

    So candidates run concurrently on threads or Dask workers, each visible as its own task run
    (and, with ``parent_run_id``, as its own MLflow run under the flow's).
    """

    def __init__(self, parent_run_id=None):
        self.parent_run_id = parent_run_id

    def submit(self, fn, name, estimator, df, args):
        return evaluate_candidate.submit(fn, name, estimator, df, args, self.parent_run_id)


@task(name="select-model", **_compute())
def select(candidates, df, n_windows, season_length, metric, parent_run_id=None):
    """``forecast.evaluation.selection.select_model`` with one task per candidate; the winner is not refitted here."""
    from forecast.evaluation import selection

    first = next(iter(candidates.values()), None)
    return selection.select_model(
        candidates,
        df,
        n_windows=n_windows,
        metric=metric,
        season_length=season_length,
        executor=TaskExecutor(parent_run_id),
        refit_best=False,
        metrics=scored_on(metric, first),
    )


@task(name="best-candidate", **_compute())
def best_candidate(selection, candidates):
    """(name, unfitted estimator) of the best recurrent candidate (``SelectionResult.best``: the
    seasonal-naive reference row skipped)."""
    name = selection.best
    if name is None:
        board = selection.leaderboard
        raise ValueError(
            f"no candidate could be evaluated; errors: {dict(zip(board.candidate, board.error))}"
        )
    if name != selection.best_name:
        run_logger().warning(
            "no candidate beat %s in model selection; training the best candidate, %s",
            selection.best_name,
            name,
        )
    return name, clone(candidates[name])


@task(name="run-backtest", task_run_name="backtest-{name}", **_compute())
def run_backtest(estimator, df, n_windows, season_length, metric, name="model"):
    """``forecast.backtest`` -> BacktestResult, scored on :func:`scored_on` ``metric``; ``name`` says
    which model in the task run's name."""
    return backtest(
        estimator,
        df,
        n_windows=n_windows,
        season_length=season_length,
        metrics=scored_on(metric, estimator),
    )


def scored_on(metric, estimator=None):
    """The metrics a backtest reports: the library's defaults, and the ranking ``metric`` when it is
    not one of them (OWA is computed from two of them, against a reference backtest); for an
    estimator with intervals or quantiles also coverage, width and MSIS per level, pinball and CRPS."""
    from forecast.metrics.interval import is_interval_metric
    from forecast.probabilistic.decoder import Decoder

    names = [
        *DEFAULT_METRICS,
        *([metric] if metric in METRICS or is_interval_metric(metric) else []),
    ]
    levels = list(Decoder.default_levels(estimator))
    names += [f"{kind}{lv:g}" for lv in levels for kind in ("coverage", "width", "msis")]
    if levels or getattr(estimator, "quantiles", None):
        names += ["pinball", "crps"]
    return tuple(dict.fromkeys(names))


def holdout_score(result, reference, metric):
    """``metric`` of a BacktestResult's aggregate; ``"owa"`` against the ``reference`` backtest's."""
    from forecast.metrics import relative

    return relative(metric, result.aggregate, reference.aggregate)


def seasonal_naive(horizon, season_length):
    return SeasonalNaive(horizon=horizon, season_length=season_length)


def unfitted(estimator, **overrides):
    """A fresh copy of a fitted estimator's settings (``sklearn.base.clone``), ``overrides`` set (None: kept)."""
    return clone(estimator).set_params(**{k: v for k, v in overrides.items() if v is not None})


@task(name="fit-final", **_compute())
def fit(estimator, df, run_id=None):
    """Fit ``estimator`` on all of ``df``, streaming epochs into the MLflow run ``run_id``; a retry
    of the flow run resumes the fit from its last finished epoch (``pipelines.resume``)."""
    callbacks = [tracking.MlflowCallback(run_id)] if run_id else []
    return resume.resumable_fit(estimator, df, callbacks)


@task(name="predict", **_compute())
def predict(estimator, df, future=None):
    """Forecast ``horizon`` steps after the end of every series of ``df``: [unique_id, ds, y_pred].

    ``future`` holds the future covariates' values for the horizon when the model uses them.
    """
    wanted = list(estimator.layout_.future)
    if not wanted:
        return estimator.predict(df)
    if future is None or len(future) == 0:
        raise ValueError(
            f"the model uses future covariates {wanted}: give their values for the next "
            f"{estimator.horizon} steps of every series, either as rows after each series' last "
            f"observation with the target left empty, or in a file passed to the forecast flow "
            f"as future_data (`forecast forecast --future-data FILE`)"
        )
    return estimator.predict(df, X_future=future)


# ---------------------------------------------------------------------------------- tracking
@task(name="configure-tracking", **_io())
def configure_tracking(uri, experiment):
    """Point MLflow at ``uri`` (None: the local store); fails fast naming the URI when unreachable.
    Runs left RUNNING there by dead processes of this host are ended FAILED (``pipelines.orphans``)."""
    cfg = store.configure(uri, experiment=experiment, required=True)
    orphans.close_orphans(store.client(), cfg.experiment_id)
    run_logger().info("MLflow tracking at %s, experiment %r", cfg.uri, experiment)
    return cfg.uri


@task(name="load-model", **_io())
def load_model(model_name, version=None):
    """The registered champion (or ``version``): (RNNForecaster, version)."""
    try:
        return registry.load_champion(model_name, version)
    except Exception as exc:  # MLflow's "not found" errors carry no useful type: say what was asked
        if "RESOURCE_DOES_NOT_EXIST" in str(exc) or "not found" in str(exc).lower():
            what = f"version {version}" if version is not None else f"alias {registry.CHAMPION!r}"
            raise LookupError(
                f"registered model {model_name!r} has no {what}; run `forecast train` first"
            ) from exc
        raise


@task(name="log-params", **_io())
def log_params(params, run_id):
    runs.log_params(params, run_id)


@task(name="log-metrics", **_io())
def log_metrics(metrics, run_id):
    runs.log_metrics(metrics, run_id=run_id)


@task(name="log-selection", **_io())
def log_selection(result, run_id, metric=None):
    return tracking.log_selection(result, run_id=run_id, metric=metric)


@task(name="log-backtest", task_run_name="log-{prefix}", **_io())
def log_backtest(result, prefix, run_id):
    return tracking.log_backtest(result, prefix=prefix, run_id=run_id)


@task(name="log-training", **_io())
def log_training(estimator, data_name, df, run_id):
    tracking.log_training(estimator, data_name, df, run_id=run_id)


@task(name="log-forecast-plot", **_io())
def log_forecast_plot(history, fc, run_id, actuals=None, artifact_file="forecast.png"):
    tracking.log_forecast_plot(history, fc, actuals, run_id=run_id, artifact_file=artifact_file)


@task(name="log-diagnostics", **_io())
def log_gradient_through_time(estimator, df, run_id):
    """The vanishing-gradient diagnostic (d loss / d x_t per lookback step) into the run."""
    return tracking.log_gradient_through_time(estimator, df, run_id=run_id)


@task(name="log-model", **_io())
def log_model(estimator, run_id):
    return registry.log_model(estimator, run_id=run_id).model_uri


@task(name="register-and-promote", **_io())
def register_and_promote(
    run_id, model_name, metric_name, metric_value, estimator=None, champion_score=None
):
    """Register the run's model; promote it only past a champion of the same series (``series_scope``),
    compared on ``champion_score`` (see :func:`rescore_champion`) when there is one."""
    scope = registry.series_scope(estimator) if estimator is not None else None
    with locks.held(
        store.active_config().uri, model_name
    ):  # one promotion at a time per model (pipelines.locks)
        return registry.register_and_promote(
            run_id,
            model_name,
            metric_name,
            metric_value,
            scope=scope,
            champion_score=champion_score,
        )


@task(name="rescore-champion", **_compute())
def rescore_champion(model_name, candidate, df, reference, metric, season_length):
    """The champion's settings refitted on this run's training part and scored on its hold-out:
    (version, score), or None when there is no champion, or it covers other series (its
    ``series_scope`` differs from the fitted ``candidate``'s) or another horizon, or reads other columns.

    Promotion then compares like with like: the same hold-out points, the same metric (OWA
    included), whatever data the champion was first scored on.
    """
    version = registry.champion_version(model_name)
    if version is None:
        return None
    champion, version = registry.load_champion(model_name)
    if registry.series_scope(champion) != registry.series_scope(candidate):
        return None  # other series: register_and_promote's scope check says so
    if champion.horizon != candidate.horizon:
        run_logger().warning(
            "champion v%s forecasts %d steps, this run %d: not re-scored (other points); "
            "comparing logged metrics",
            version,
            champion.horizon,
            candidate.horizon,
        )
        return None
    try:
        result = backtest(
            clone(champion), df, n_windows=1, season_length=season_length, metrics=scored_on(metric)
        )
    except ValueError as exc:  # e.g. the champion reads covariates this data lacks
        run_logger().warning(
            "champion v%s cannot be re-scored on this data (%s); comparing logged metrics",
            version,
            exc,
        )
        return None
    score = holdout_score(result, reference, metric)
    run_logger().info("champion v%s re-scored on this hold-out: %s %.6g", version, metric, score)
    return version, score
