"""The model steps of the flows: candidates, selection, backtests, the final fit, registration, the
forecast. Each task is one call into ``forecast`` (the estimator, ``forecast.evaluation``) and keeps
its own MLflow record as it goes (:mod:`pipelines.tracking`, :mod:`pipelines.selection_log`,
:mod:`pipelines.registry`), each write retried in place on a transient error
(:func:`pipelines.retries.retried`): the flow's graph shows the pipeline, not its logging.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect import task
from sklearn.base import clone

from forecast import SeasonalNaive, backtest
from forecast.choices import DEFAULT_METRICS, METRICS

from . import locks, logged_model, registry, resume, runs, selection_log, store, tracking
from .candidates import TaskExecutor, evaluate_candidate  # noqa: F401 - the flows' tasks
from .data_tasks import check_matches_model, column_names, model_columns, validate_data
from .environment import run_logger
from .retries import compute_options, retried

# tests/core/fuzz_oracle.py drives the flows' frame checks one at a time under these names
__all__ = ["check_matches_model", "column_names", "model_columns", "validate_data"]


@dataclass(frozen=True)
class Selected:
    """A model selection: ``result`` (``SelectionResult``), the ``best`` candidate's name, its
    unfitted ``estimator`` and ``children`` {candidate: MLflow run id}."""

    result: object
    best: str
    estimator: object
    children: dict


@dataclass(frozen=True)
class Compared:
    """A model's backtest beside seasonal naive's on the same windows, and both scores."""

    model: object
    naive: object
    score: float
    naive_score: float


@dataclass(frozen=True)
class Fitted:
    """The final fit: the fitted ``model`` and its gradient-through-time diagnostic ``grad``."""

    model: object
    grad: object


# ---------------------------------------------------------------------------------- models
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


@task(name="select-model", **compute_options())
def select(candidates, df, n_windows, season_length, metric, run_id=None):
    """``forecast.evaluation.selection.select_model`` with one task per candidate (the winner is not
    refitted here), recorded as the run's leaderboard and a child run per candidate: a
    :class:`Selected`."""
    from forecast.evaluation import selection

    first = next(iter(candidates.values()), None)
    result = selection.select_model(
        candidates,
        df,
        n_windows=n_windows,
        metric=metric,
        season_length=season_length,
        executor=TaskExecutor(run_id),
        refit_best=False,
        metrics=scored_on(metric, first),
    )
    best, estimator = best_candidate(result, candidates)
    children = retried(selection_log.log_selection, result, run_id=run_id, metric=metric)
    retried(runs.log_params, {"flow.best": best}, run_id)
    return Selected(result, best, estimator, children)


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


@task(name="backtest", task_run_name="{prefix}-{name}", **compute_options())
def compare_with_naive(
    estimator, df, n_windows, season_length, metric, run_id=None, prefix="holdout", name="model"
):
    """``forecast.backtest`` of ``estimator`` and of seasonal naive over the last ``n_windows``
    horizons of every series, recorded in the run as ``<prefix>_*`` and ``naive_<prefix>_*``
    (metrics, tables, error by horizon) with ``<prefix>_<metric>`` against naive (OWA too): a
    :class:`Compared`. ``name`` says which model in the task run's name."""
    naive = seasonal_naive(estimator.horizon, season_length)
    model_bt, naive_bt = (
        backtest(
            est,
            df,
            n_windows=n_windows,
            season_length=season_length,
            metrics=scored_on(metric, est),
        )
        for est in (estimator, naive)
    )
    score = holdout_score(model_bt, naive_bt, metric)
    retried(tracking.log_backtest, model_bt, prefix=prefix, run_id=run_id)
    retried(tracking.log_backtest, naive_bt, prefix=f"naive_{prefix}", run_id=run_id)
    retried(runs.log_metrics, {f"{prefix}_{metric}": score}, run_id=run_id)  # OWA: for Compare
    return Compared(model_bt, naive_bt, score, holdout_score(naive_bt, naive_bt, metric))


def scored_on(metric, estimator=None):
    """The metrics a backtest reports: the library's defaults, and the ranking ``metric`` when it is
    not one of them (OWA is computed from two of them, against a reference backtest); for an
    estimator with intervals or quantiles also coverage, width and MSIS per level, pinball and CRPS.
    """
    from forecast.metrics.interval import is_interval_metric
    from forecast.probabilistic.decoder import Decoder

    names = [
        *DEFAULT_METRICS,
        *([metric] if metric in METRICS or is_interval_metric(metric) else []),
    ]
    levels = list(Decoder.default_levels(estimator))
    names += [f"{kind}{lv:g}" for lv in levels for kind in ("coverage", "width", "msis")]
    if levels or getattr(estimator, "loss", None) == "pinball":
        names += ["pinball", "crps"]
    return tuple(dict.fromkeys(names))


def holdout_score(result, reference, metric):
    """``metric`` of a BacktestResult's aggregate; ``"owa"`` against the ``reference``
    backtest's."""
    from forecast.metrics import relative

    return relative(metric, result.aggregate, reference.aggregate)


def seasonal_naive(horizon, season_length):
    return SeasonalNaive(horizon=horizon, season_length=season_length)


def unfitted(estimator, **overrides):
    """A fresh copy of a fitted estimator's settings (``sklearn.base.clone``), ``overrides`` set
    (None: kept)."""
    return clone(estimator).set_params(**{k: v for k, v in overrides.items() if v is not None})


@task(name="fit-final", **compute_options())
def fit(estimator, df, run_id=None, data_name=None, nproc=None):
    """Fit ``estimator`` on all of ``df``, streaming epochs into the MLflow run ``run_id``, then
    record its parameters, data and history there with the gradient-through-time diagnostic: a
    :class:`Fitted`. A retry of the flow run resumes the fit from its last finished epoch
    (``pipelines.resume``). ``nproc`` > 1: one fit across that many local DDP processes
    (``pipelines.ddp_fit``)."""
    if nproc and nproc > 1:
        from .ddp_fit import fit_across

        model = fit_across(estimator, df, nproc, run_id, resume.checkpoint_dir("fit-final"))
    else:
        callbacks = [tracking.MlflowCallback(run_id)] if run_id else []
        model = resume.resumable_fit(estimator, df, callbacks)
    retried(tracking.log_training, model, data_name, df, run_id=run_id)
    grad = retried(tracking.log_gradient_through_time, model, df, run_id=run_id)
    return Fitted(model, grad)


@task(name="register", **compute_options())
def register(model, run_id, model_name, metric, holdout, df, season_length):
    """Log ``model`` into the run and register it; promote it only past a champion of the same
    series (``series_scope``), compared like with like: the champion's settings re-scored on the
    same hold-out (:func:`rescore_champion`). Returns ``registry.PromotionResult``."""
    champion = rescore_champion(model_name, model, df, holdout.naive, metric, season_length)
    if run_id is not None:
        retried(logged_model.log_model, model, run_id=run_id)
    scope = registry.series_scope(model)
    with locks.held(store.active_config().uri, model_name):  # one promotion at a time per model
        return retried(
            registry.register_and_promote,
            run_id,
            model_name,
            f"holdout_{metric}",
            holdout.score,
            scope=scope,
            champion_score=champion,
        )


def rescore_champion(model_name, candidate, df, reference, metric, season_length):
    """The champion's settings refitted on this run's training part and scored on its hold-out:
    (version, score), or None when there is no champion, or it covers other series (its
    ``series_scope`` differs from the fitted ``candidate``'s) or another horizon.

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
        metrics = scored_on(metric)
        result = backtest(
            clone(champion), df, n_windows=1, season_length=season_length, metrics=metrics
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


@task(name="predict", **compute_options())
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
