"""Forecast accuracy: pure functions on arrays, and the same metrics on forecast frames.

Every metric is the mean of a per-point term, so a metric of a group (one series, one cutoff,
one horizon step, everything) is just that term averaged over the group's rows:

========  ===========================================  =========================================
name      per-point term                               undefined where (-> excluded, warned)
========  ===========================================  =========================================
mae       |y - y_hat|
rmse      (y - y_hat)^2, square root after the mean
mape      100 |y - y_hat| / |y|                        y == 0
smape     200 |y - y_hat| / (|y| + |y_hat|)  (M4)      never: 0/0 (both zero) counts as 0
mase      |y - y_hat| / scale  (M4)                    scale == 0 (constant training data)
========  ===========================================  =========================================

``scale`` is the in-sample mean absolute error of the seasonal naive forecast,
``mean_t |y_t - y_{t-m}|`` over the training data (for a backtest: the series' history up to the
cutoff). Edge cases never crash and never return a silent ``inf``: a point whose term is undefined
is left out of the mean with a ``RuntimeWarning`` naming the series, and a group with no defined
point gets NaN. A series no longer than the season falls back to the lag-1 (naive) scale, with a
warning. OWA is the M4 convention ``(sMAPE / sMAPE_ref + MASE / MASE_ref) / 2``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from forecast.checks import check_int
from forecast.choices import METRICS
from forecast.metrics.interval import NAMES as INTERVAL_NAMES
from forecast.metrics.interval import is_interval_metric

PRED = "y_pred"


def is_metric(name):
    """A point metric of ``METRICS`` or a probabilistic one (``forecast.metrics.interval``)."""
    return name in METRICS or is_interval_metric(name)


def check_metrics(metrics):
    unknown = [m for m in metrics if not is_metric(m)]
    if unknown:
        raise ValueError(
            f"unknown metric(s) {unknown}; choose from {METRICS} or {INTERVAL_NAMES} "
            f"(e.g. coverage80, msis95)"
        )


# ---------------------------------------------------------------------------------------------
# Per-point terms: (n,) actuals and forecasts -> (n,) terms, NaN where undefined
# ---------------------------------------------------------------------------------------------


def point_terms(name, y, y_pred, scale=None, who=None):
    err = np.abs(y - y_pred)
    if name == "mae":
        return err
    if name == "rmse":
        return err**2
    if name == "mape":
        zero = y == 0
        warn_if(
            zero, who, "mape: actual y == 0 (percentage error undefined); those points are left out"
        )
        return 100.0 * err / np.where(zero, np.nan, np.abs(y))
    if name == "smape":
        denom = np.abs(y) + np.abs(y_pred)
        return np.where(denom == 0, 0.0, 200.0 * err / np.where(denom == 0, 1.0, denom))
    if name == "mase":
        if scale is None:
            raise ValueError(
                "mase needs the in-sample scale: pass y_train (arrays) or train_df (frames)"
            )
        scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), err.shape)
        zero = scale == 0
        warn_if(
            zero,
            who,
            "mase: in-sample scale is 0 (constant training data), the scaled error is "
            "undefined; those points are left out",
        )
        return np.where(zero, np.nan, err / np.where(zero, 1.0, scale))
    raise ValueError(f"unknown metric {name!r}; choose from {METRICS}")


def warn_if(mask, who, message):
    mask = np.asarray(mask)
    if not mask.any():
        return
    where = ""
    if who is not None:
        names = pd.unique(np.broadcast_to(np.asarray(who), mask.shape)[mask])
        where = f" (series {list(names[:5])}{' ...' if len(names) > 5 else ''})"
    warnings.warn(f"{message}{where}: {int(mask.sum())} point(s)", RuntimeWarning, stacklevel=4)


def finish_mean(name, mean):
    return np.sqrt(mean) if name == "rmse" else mean


def reduce_terms(name, terms, axis=None):
    terms = np.asarray(terms, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN groups: warned below, by name
        mean = np.nanmean(terms, axis=axis)
    if np.any(np.isnan(mean)) and terms.size:
        warnings.warn(
            f"{name}: no defined point in {int(np.sum(np.isnan(mean)))} group(s); NaN there",
            RuntimeWarning,
            stacklevel=3,
        )
    out = finish_mean(name, mean)
    return float(out) if np.ndim(out) == 0 else out


# ---------------------------------------------------------------------------------------------
# Array metrics
# ---------------------------------------------------------------------------------------------


def _pair(y, y_pred):
    y, y_pred = np.asarray(y, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if y.shape != y_pred.shape:
        raise ValueError(f"y has shape {y.shape} but y_pred has shape {y_pred.shape}")
    return y, y_pred


def _pointwise(name, y, y_pred, axis):
    y, y_pred = _pair(y, y_pred)
    return reduce_terms(name, point_terms(name, y, y_pred), axis)


def mae(y, y_pred, axis=None):
    """Mean absolute error. ``y, y_pred`` : arrays of one shape, e.g. (n_series, horizon) with
    ``axis=1``.
    """
    return _pointwise("mae", y, y_pred, axis)


def rmse(y, y_pred, axis=None):
    """Root mean squared error over ``axis`` (None: all points)."""
    return _pointwise("rmse", y, y_pred, axis)


def mape(y, y_pred, axis=None):
    """Mean absolute percentage error, in percent; points with ``y == 0`` are left out (warned)."""
    return _pointwise("mape", y, y_pred, axis)


def smape(y, y_pred, axis=None):
    """Symmetric MAPE as in M4, in percent: ``200/h * sum |y - y_hat| / (|y| + |y_hat|)``; 0/0
    counts as 0.
    """
    return _pointwise("smape", y, y_pred, axis)


def check_season(season_length):
    check_int("season_length", season_length, 1)


# ---------------------------------------------------------------------------------------------
# Frame metrics
# ---------------------------------------------------------------------------------------------


def seasonal_scale(y_train, season_length=1):
    """In-sample MAE of the seasonal naive forecast, ``mean_t |y_t - y_{t-m}|`` over ``y_train``
    (T,).

    A series with ``T <= m`` falls back to the lag-1 scale (warned); with ``T < 2`` it is NaN.
    """
    check_season(season_length)
    y_train = np.asarray(y_train, dtype=np.float64).ravel()
    m = season_length
    if len(y_train) <= m:
        if len(y_train) < 2:
            warnings.warn(
                f"mase: {len(y_train)} training point(s), too few for any scale; NaN",
                RuntimeWarning,
                stacklevel=2,
            )
            return float("nan")
        warnings.warn(
            f"mase: {len(y_train)} training points, no longer than season_length={m}; "
            "using the lag-1 (naive) scale",
            RuntimeWarning,
            stacklevel=2,
        )
        m = 1
    diffs = np.abs(y_train[m:] - y_train[:-m])
    return (
        float(np.nanmean(diffs)) if np.isfinite(diffs).any() else float("nan")
    )  # gaps (NaN) are skipped


def mase(y, y_pred, y_train=None, season_length=1, scale=None, axis=None):
    """Mean absolute scaled error (M4): MAE / in-sample seasonal-naive MAE of ``y_train``.

    Parameters
    ----------
    y, y_pred : arrays of one shape, (h,) or (n_series, h).
    y_train : (T,) training data of one series (ignored when ``scale`` is given).
    season_length : m, in steps.
    scale : float or array broadcastable to ``y`` (e.g. (n_series, 1)), precomputed scales.
    """
    y, y_pred = _pair(y, y_pred)
    if scale is None:
        if y_train is None:
            raise ValueError("mase needs y_train (the in-sample data) or scale")
        scale = seasonal_scale(y_train, season_length)
    return reduce_terms("mase", point_terms("mase", y, y_pred, scale), axis)


def owa(smape_value, mase_value, smape_ref, mase_ref):
    """Overall weighted average (M4): ``(sMAPE/sMAPE_ref + MASE/MASE_ref) / 2``; NaN (warned) on a
    zero reference.
    """
    values = np.array([smape_value, mase_value, smape_ref, mase_ref], dtype=np.float64)
    if values[2] == 0 or values[3] == 0 or np.isnan(values).any():
        warnings.warn(
            f"owa: reference sMAPE={smape_ref}, MASE={mase_ref} (zero or NaN) cannot scale "
            f"sMAPE={smape_value}, MASE={mase_value}; returning NaN",
            RuntimeWarning,
            stacklevel=2,
        )
        return float("nan")
    return float(0.5 * (values[0] / values[2] + values[1] / values[3]))


def relative(metric, scores, reference):
    """``metric`` of aggregate ``scores`` (dict metric -> value), with ``"owa"`` computed against
    the
    ``reference`` aggregates (e.g. seasonal naive on the same points; M4 uses Naive2, which is
    naive for weekly data): the one place where OWA meets the other aggregate metrics."""
    if metric != "owa":
        return scores[metric]
    return owa(scores["smape"], scores["mase"], reference["smape"], reference["mase"])


def smape_m3(y, y_pred, axis=None):
    """sMAPE as the M3 competition scores it, in percent: mean of ``200 |y - y_hat| / (y + y_hat)``.

    No absolute values in the denominator (M3 holds only positive values): the figure the M3
    literature reports (Makridakis & Hibon 2000; Theta, N-BEATS). Equal to :func:`smape` when
    ``y`` and ``y_pred`` are positive; a non-positive forecast makes its term negative or
    unbounded, as in the original definition.
    """
    y, y_pred = _pair(y, y_pred)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = 200.0 * np.abs(y - y_pred) / (y + y_pred)
    return reduce_terms("smape_m3", terms, axis)
