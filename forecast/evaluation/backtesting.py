"""Rolling-origin evaluation of any estimator with the project's fit / predict_at API.

Origins are counted back from each series' own end, as in NeuralForecast's cross_validation:
window ``w`` (0 = oldest) of a series of length ``n`` has its cutoff (last observed point) at
position ``n - horizon - (n_windows - 1 - w) * step - 1``, and forecasts the ``horizon`` points
after it.

Windows are grouped by fit: every window (``refit=True`` or ``"warm"``), every ``k`` windows
(``refit=k``) or all windows (``refit=False``). Each group's model is fitted on data up to the
cutoff of the group's *first* window only, so scalers and covariate statistics never see the
future, and then forecasts every origin of the group in one batched ``predict_at`` call. The
frame handed to ``predict_at`` ends ``horizon`` points after the group's last cutoff, and after
that cutoff it keeps only the future-known and static covariates: targets and past covariates
there are replaced by the series' value at the cutoff, so no look-ahead is possible by construction.
"""

from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass, field

import pandas as pd
from sklearn.base import clone

from forecast.checks import check_int, is_int
from forecast.choices import BACKTEST_WINDOWS, DEFAULT_METRICS
from forecast.data import frames
from forecast.data.frames import ID
from forecast.evaluation.folds import Folds, assemble, fold_origins, make_folds, visible
from forecast.metrics.point import check_metrics
from forecast.metrics.tables import evaluate_groups

__all__ = ["Folds", "fold_origins", "make_folds"]  # re-exported: their old home
WINDOWS = BACKTEST_WINDOWS


@dataclass
class BacktestResult:
    """Forecasts of every window next to the actuals, and their metrics.

    forecasts : DataFrame [unique_id, window, cutoff, step, ds, y, y_pred], horizon rows per origin.
    per_series, per_window, by_step : metric tables grouped by unique_id / window / step
    (1..horizon).
    aggregate : dict metric -> value over all forecasts.
    n_fits : how many times a model was fitted; fit_seconds, predict_seconds : time spent in each.
    histories : the training History of each fit (estimators that keep ``history_``), in fit order.
    estimator : the last fitted model (a search may continue training it: ``forecast.tuning``).
    """

    forecasts: pd.DataFrame
    per_series: pd.DataFrame
    per_window: pd.DataFrame
    by_step: pd.DataFrame
    aggregate: dict
    n_fits: int
    fit_seconds: float
    predict_seconds: float
    params: dict = field(default_factory=dict)
    histories: list = field(default_factory=list)
    estimator: object = None


def backtest(
    estimator,
    df,
    n_windows=3,
    step=None,
    refit=True,
    window="expanding",
    train_length=None,
    season_length=1,
    metrics=DEFAULT_METRICS,
    warm_fraction=0.25,
    callbacks=None,
):
    """Rolling-origin backtest of ``estimator`` on ``df``.

    Parameters
    ----------
    estimator : unfitted estimator with ``horizon``, ``fit(df)`` and ``predict_at(df, origins)``
        (``RNNForecaster``, ``SeasonalNaive``, ...); it is cloned, never modified.
    df : long DataFrame [unique_id, ds, y, <covariates>], wide DataFrame or Series. Future-known
        covariates must cover the horizon after every cutoff (they lie inside ``df``).
    n_windows : number of forecast origins per series.
    step : points between consecutive origins (None: horizon, non-overlapping windows).
    refit : True (fit every window) | k >= 1 (every k windows) | False (fit once, on data up to
        the first cutoff) | "warm" (fit every window, each from the previous window's weights for
        ``warm_fraction`` of the epochs/steps; estimators without warm start fit cold).
    window : "expanding" (all history up to the cutoff) | "sliding" (its last ``train_length``
    points).
    season_length : m of the MASE scale; metrics : names from ``forecast.metrics.METRICS`` or
        probabilistic ones (``forecast.metrics.interval``: pinball, crps, coverage80, width80,
        msis95).
    callbacks : training-loop callbacks passed to every fit (``fit(train, callbacks=...)``), e.g.
        a search's pruning hook (``forecast.tuning``); None passes none.

    Returns
    -------
    BacktestResult ; ``forecasts`` has n_series * n_windows * horizon rows.
    """
    horizon = getattr(estimator, "horizon", None)
    check_int("horizon", horizon, 1, "the estimator's ")  # before step, which defaults to it
    horizon = int(horizon)
    step = horizon if step is None else step
    _check_args(n_windows, step, refit, window, train_length, metrics, warm_fraction)
    long = _validated(estimator, df)
    folds = make_folds(long, horizon, n_windows, step)
    runs, n_fits, fit_s, predict_s, histories, last = _run_groups(
        estimator, long, folds, refit, window, train_length, warm_fraction, callbacks
    )
    fc = assemble(long, folds, runs)
    tables = evaluate_groups(
        fc,
        long,
        metrics,
        season_length,
        {"per_series": (ID,), "per_window": ("window",), "by_step": ("step",)},
    )
    params = {
        "n_windows": n_windows,
        "step": step,
        "refit": refit,
        "window": window,
        "train_length": train_length,
        "season_length": season_length,
        "horizon": horizon,
    }
    return BacktestResult(
        fc,
        tables["per_series"],
        tables["per_window"],
        tables["by_step"],
        tables["all"],
        n_fits,
        fit_s,
        predict_s,
        params,
        histories,
        last,
    )


def _validated(estimator, df):
    """``df`` as the internal long frame, validated the way ``fit`` validates (the estimator's
    covariates
    and ``fill``, forward-only), so that no fault reaches the folds: the actuals after every cutoff,
    which
    no fit sees, are checked too."""
    raw, spec = frames.to_long(df)
    columns = [
        c
        for name in ("past_covariates", "future_covariates", "static_covariates")
        for c in (getattr(estimator, name, None) or ())
    ]
    fill = frames.causal_fill(getattr(estimator, "fill", None))
    return frames.validate(raw, columns, fill, where="backtest data", names=spec.names)[0]


def _check_args(n_windows, step, refit, window, train_length, metrics, warm_fraction):
    for name, value in (("n_windows", n_windows), ("step", step)):
        check_int(name, value, 1)
    if not (refit in (True, False, "warm") or is_int(refit, 1)):
        raise ValueError(f"refit must be True, False, 'warm' or an integer >= 1, got {refit!r}")
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {WINDOWS}, got {window!r}")
    if window == "sliding" and not is_int(train_length, 1):
        raise ValueError(
            f"window='sliding' needs train_length, an integer >= 1, got {train_length!r}"
        )
    check_metrics(metrics)
    if not 0 < warm_fraction <= 1:
        raise ValueError(f"warm_fraction must be in (0, 1], got {warm_fraction!r}")


def fit_groups(n_windows, refit):
    """Windows sharing one fit: [[0], [1], ...] for refit True/"warm", chunks of k, or all
    windows."""
    if refit is False:
        return [list(range(n_windows))]
    k = 1 if refit in (True, "warm") else int(refit)
    return [list(range(i, min(i + k, n_windows))) for i in range(0, n_windows, k)]


def _run_groups(estimator, long, folds, refit, window, train_length, warm_fraction, callbacks):
    pos = folds.positions()
    runs, fit_s, predict_s, est, histories, budget = [], 0.0, 0.0, None, [], None
    for g, group in enumerate(fit_groups(folds.n_windows, refit)):
        cut = folds.row_cutoffs(group[0])
        train_rows = (pos <= cut) & ((pos > cut - train_length) if window == "sliding" else True)
        t0 = time.perf_counter()
        est = _fit(
            estimator,
            est,
            long.loc[train_rows],
            warm=refit == "warm" and g > 0,
            fraction=warm_fraction,
            budget=budget,
            callbacks=callbacks,
        )
        budget = budget or _warm_budget(
            estimator, est, warm_fraction
        )  # from the first (cold) fit, once
        t1 = time.perf_counter()
        frame = visible(long, pos, folds.row_cutoffs(group[-1]), folds.horizon, est)
        origins = fold_origins(long, folds, group)
        fc = est.predict_at(frame, origins)
        predict_s += time.perf_counter() - t1
        fit_s += t1 - t0
        runs.append((group, fc))
        if getattr(est, "history_", None) is not None:
            histories.append(est.history_)
    return runs, len(runs), fit_s, predict_s, histories, est


def _fit(estimator, previous, train, warm, fraction, budget=None, callbacks=None):
    hooks = {} if callbacks is None else {"callbacks": callbacks}
    if not (
        warm and budget is not None and "warm_start" in inspect.signature(previous.fit).parameters
    ):
        return clone(estimator).fit(train, **hooks)
    return previous.set_params(**budget).fit(train, warm_start=True, **hooks)


def _warm_budget(estimator, first, fraction):
    """Epochs (and steps) of every warm refit: ``fraction`` of the first fit's, taken once from it
    (the estimator's own ``max_epochs``, or the value the first fit resolved it to): each refit
    shortens the first fit's count, never the previous refit's."""
    epochs = getattr(estimator, "max_epochs", None)
    epochs = epochs if epochs is not None else getattr(first, "max_epochs_", None)
    if epochs is None:
        return None
    budget = {"max_epochs": max(1, math.ceil(epochs * fraction))}
    if getattr(estimator, "max_steps", None) is not None:
        budget["max_steps"] = max(1, math.ceil(estimator.max_steps * fraction))
    return budget
