"""Choose among candidate estimators by backtest.

``select_model`` backtests every candidate on the same folds (the last ``n_windows`` origins of
each series), adds a ``SeasonalNaive`` reference row, and ranks by one metric. Candidates are
independent jobs: :func:`evaluate_candidate` runs one, so a thread pool, any ``executor`` with
``submit(fn, *args)``, or a Prefect task can fan them out.

``candidate_grid`` (:mod:`forecast.evaluation.grid`) builds the candidates and ``TemporalSplit``
(:mod:`forecast.evaluation.splits`) is the same fold logic as a scikit-learn splitter; both are
re-exported here.
"""

from __future__ import annotations

import json
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone

from forecast.choices import (
    DEFAULT_METRICS,
    RANKING_METRICS,
)
from forecast.evaluation.backtesting import BacktestResult, backtest
from forecast.evaluation.baselines import SeasonalNaive
from forecast.evaluation.grid import candidate_grid
from forecast.evaluation.splits import TemporalSplit
from forecast.metrics.interval import is_interval_metric
from forecast.metrics.point import relative
from forecast.training.stopping import on_signals

__all__ = ["TemporalSplit", "candidate_grid"]  # re-exported: their old home
REFERENCE = "seasonal_naive"


@dataclass
class CandidateResult:
    """One candidate's backtest: its metrics (dict), parameters and timings."""

    name: str
    params: dict
    metrics: dict
    fit_seconds: float
    seconds: float
    backtest: BacktestResult | None = None
    error: str | None = None


def params_json(estimator):
    """The estimator's parameters as a JSON string (tuples become lists, odd values strings)."""
    return json.dumps(estimator.get_params(deep=False), sort_keys=True, default=str)


def evaluate_candidate(
    name,
    estimator,
    df,
    n_windows=2,
    step=None,
    refit=False,
    season_length=1,
    metrics=DEFAULT_METRICS,
    window="expanding",
    train_length=None,
):
    """Backtest one candidate (a job of :func:`select_model`); arguments as in
    :func:`forecast.evaluation.backtesting.backtest`."""
    t0 = time.perf_counter()
    result = backtest(
        estimator,
        df,
        n_windows=n_windows,
        step=step,
        refit=refit,
        window=window,
        train_length=train_length,
        season_length=season_length,
        metrics=metrics,
    )
    return CandidateResult(
        name,
        estimator.get_params(deep=False),
        result.aggregate,
        result.fit_seconds,
        time.perf_counter() - t0,
        result,
    )


@dataclass
class SelectionResult:
    """leaderboard : DataFrame [candidate, params, *metrics, fit_seconds, seconds, reference,
    error, rank]."""

    leaderboard: pd.DataFrame
    best_name: str
    best_params: dict
    best_estimator: object
    results: dict = field(default_factory=dict)  # name -> CandidateResult

    @property
    def best(self):
        """The best candidate other than the seasonal-naive reference: the first leaderboard row
        that is not the reference and ran without error (None when none did). It is ``best_name``
        unless the reference won; a pipeline that must train a candidate trains this one."""
        board = self.leaderboard
        ok = board[~board["reference"].astype(bool) & board["error"].isna()]
        return None if ok.empty else str(ok["candidate"].iloc[0])


def select_model(
    candidates,
    df,
    n_windows=2,
    step=None,
    metric="mase",
    season_length=1,
    refit=False,
    n_jobs=1,
    executor=None,
    refit_best=True,
    metrics=DEFAULT_METRICS,
    window="expanding",
    train_length=None,
):
    """Backtest every candidate on the same folds of ``df`` and rank them by ``metric`` (lower is
    better).

    Parameters
    ----------
    candidates : dict name -> unfitted estimator, all with the same ``horizon``.
    df : training data (long frame, as for ``fit``); the folds are its last ``n_windows`` origins.
    metric : ranking metric, one of ``metrics``, ``"owa"``, or a probabilistic one (``"crps"``,
        ``"pinball"``, ``"msis95"``, ``"width80"``: candidates need quantiles, a distribution or
        ``interval``; the reference row has point forecasts only, so it is ranked last by these,
        NaN); a ``SeasonalNaive(season_length)``
        reference row named ``"seasonal_naive"`` is ranked with the candidates (it wins when nothing
        beats it). The leaderboard also has an ``owa`` column: M4's ½(sMAPE/sMAPE_ref +
        MASE/MASE_ref)
        against that reference row (1.0 on the reference itself).
    refit : as in ``backtest`` (default False: one fit per candidate, all origins batched).
    n_jobs : threads when no ``executor`` is given; executor : anything with ``submit(fn, *args)``
        returning futures (``concurrent.futures`` pools, a Dask client).
    refit_best : refit the winner on all of ``df`` (else ``best_estimator`` is an unfitted clone).

    Returns
    -------
    SelectionResult ; a candidate that raises is kept in the leaderboard with its error and NaN
    metrics (warned), and ranked last.
    """
    horizon = _common_horizon(candidates, metric)
    metrics = list(
        dict.fromkeys([*([metric] if metric != "owa" else []), *metrics, "smape", "mase"])
    )
    jobs = {**candidates, REFERENCE: SeasonalNaive(horizon=horizon, season_length=season_length)}
    args = (n_windows, step, refit, season_length, tuple(metrics), window, train_length)
    with on_signals():  # SIGINT/SIGTERM stop the candidates' fits in their threads too
        results = _run_jobs(jobs, df, args, n_jobs, executor)
    board = _leaderboard(results, jobs, metric, metrics)
    best = board["candidate"].iloc[0]
    if not np.isfinite(board[metric].iloc[0]):
        errors = {r.name: r.error for r in results.values() if r.error}
        if errors:
            raise ValueError(f"no candidate could be evaluated on {metric!r}; errors: {errors}")
        raise ValueError(
            f"{metric!r} is undefined (NaN) for every candidate, though all ran: its scale is zero "
            f"here (e.g. MASE or OWA on series the seasonal-naive reference forecasts exactly, "
            f"such as constant ones); rank by metric='mae' or 'rmse' instead"
        )
    estimator = clone(jobs[best])
    return SelectionResult(
        board,
        best,
        jobs[best].get_params(deep=False),
        estimator.fit(df) if refit_best else estimator,
        results,
    )


def _common_horizon(candidates, metric):
    if not isinstance(candidates, dict):
        raise TypeError(
            f"candidates must be a dict name -> estimator (e.g. candidate_grid(...) or "
            f"{{'lstm': RNNForecaster(...)}}), got {type(candidates).__name__}"
        )
    if not candidates:
        raise ValueError(
            "candidates is empty: pass a dict name -> estimator (e.g. candidate_grid(...))"
        )
    if REFERENCE in candidates:
        raise ValueError(f"candidate name {REFERENCE!r} is reserved for the reference row")
    if metric not in RANKING_METRICS and not (
        is_interval_metric(metric) and not metric.startswith("coverage")
    ):
        raise ValueError(
            f"metric must be one of {RANKING_METRICS}, 'pinball', 'crps', 'msis<level>' or "
            f"'width<level>', got {metric!r}"
        )
    horizons = {name: est.horizon for name, est in candidates.items()}
    if len(set(horizons.values())) > 1:
        raise ValueError(
            f"candidates must share one horizon to be compared on the same folds, got {horizons}"
        )
    return next(iter(horizons.values()))


def _run_jobs(jobs, df, args, n_jobs, executor):
    own = executor is None and n_jobs > 1
    pool = ThreadPoolExecutor(max_workers=n_jobs) if own else executor
    try:
        if pool is None:
            return {name: _safe(name, est, df, args) for name, est in jobs.items()}
        futures = {name: pool.submit(_safe, name, est, df, args) for name, est in jobs.items()}
        return {name: future.result() for name, future in futures.items()}
    finally:
        if own:
            pool.shutdown()


def _safe(name, estimator, df, args):
    if name == REFERENCE:  # seasonal naive has point forecasts only: its interval metrics stay NaN
        args = (*args[:4], tuple(m for m in args[4] if not is_interval_metric(m)), *args[5:])
    try:
        return evaluate_candidate(name, estimator, df, *args)
    except Exception as exc:  # one broken candidate must not sink the search; it is reported
        warnings.warn(
            f"candidate {name!r} failed: {type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=2
        )
        return CandidateResult(
            name,
            estimator.get_params(deep=False),
            {},
            float("nan"),
            float("nan"),
            error=f"{type(exc).__name__}: {exc}",
        )


def _leaderboard(results, jobs, metric, metrics):
    ref = results[REFERENCE].metrics

    def owa(scores):
        if not scores or not ref:
            return np.nan
        with (
            warnings.catch_warnings()
        ):  # a degenerate reference gives NaN, already visible in its row
            warnings.simplefilter("ignore", RuntimeWarning)
            return relative("owa", scores, ref)

    rows = [
        {
            "candidate": name,
            "params": params_json(jobs[name]),
            **{m: r.metrics.get(m, np.nan) for m in metrics},
            "owa": owa(r.metrics),
            "fit_seconds": r.fit_seconds,
            "seconds": r.seconds,
            "reference": name == REFERENCE,
            "error": r.error,
        }
        for name, r in results.items()
    ]
    board = (
        pd.DataFrame(rows)
        .sort_values(metric, kind="stable", na_position="last")
        .reset_index(drop=True)
    )
    board["rank"] = np.arange(1, len(board) + 1)
    return board
