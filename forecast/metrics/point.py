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
from forecast.choices import DEFAULT_METRICS, METRICS
from forecast.data.frames import ID, TARGET, TIME, rows_at, sorted_long
from forecast.metrics.interval import NAMES as INTERVAL_NAMES
from forecast.metrics.interval import is_interval_metric, needs_scale
from forecast.metrics.interval import terms as interval_terms

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


def _terms(name, y, y_pred, scale=None, who=None):
    err = np.abs(y - y_pred)
    if name == "mae":
        return err
    if name == "rmse":
        return err**2
    if name == "mape":
        zero = y == 0
        _warn_if(
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
        _warn_if(
            zero,
            who,
            "mase: in-sample scale is 0 (constant training data), the scaled error is "
            "undefined; those points are left out",
        )
        return np.where(zero, np.nan, err / np.where(zero, 1.0, scale))
    raise ValueError(f"unknown metric {name!r}; choose from {METRICS}")


def _warn_if(mask, who, message):
    mask = np.asarray(mask)
    if not mask.any():
        return
    where = ""
    if who is not None:
        names = pd.unique(np.broadcast_to(np.asarray(who), mask.shape)[mask])
        where = f" (series {list(names[:5])}{' ...' if len(names) > 5 else ''})"
    warnings.warn(f"{message}{where}: {int(mask.sum())} point(s)", RuntimeWarning, stacklevel=4)


def _finish(name, mean):
    return np.sqrt(mean) if name == "rmse" else mean


def _reduce(name, terms, axis=None):
    terms = np.asarray(terms, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN groups: warned below, by name
        mean = np.nanmean(terms, axis=axis)
    if np.any(np.isnan(mean)) and terms.size:
        warnings.warn(
            f"{name}: no defined point in {int(np.sum(np.isnan(mean)))} group(s); returning NaN there",
            RuntimeWarning,
            stacklevel=3,
        )
    out = _finish(name, mean)
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
    return _reduce(name, _terms(name, y, y_pred), axis)


def mae(y, y_pred, axis=None):
    """Mean absolute error. ``y, y_pred`` : arrays of one shape, e.g. (n_series, horizon) with ``axis=1``."""
    return _pointwise("mae", y, y_pred, axis)


def rmse(y, y_pred, axis=None):
    """Root mean squared error over ``axis`` (None: all points)."""
    return _pointwise("rmse", y, y_pred, axis)


def mape(y, y_pred, axis=None):
    """Mean absolute percentage error, in percent; points with ``y == 0`` are left out (warned)."""
    return _pointwise("mape", y, y_pred, axis)


def smape(y, y_pred, axis=None):
    """Symmetric MAPE as in M4, in percent: ``200/h * sum |y - y_hat| / (|y| + |y_hat|)``; 0/0 counts as 0."""
    return _pointwise("smape", y, y_pred, axis)


def seasonal_scale(y_train, season_length=1):
    """In-sample MAE of the seasonal naive forecast, ``mean_t |y_t - y_{t-m}|`` over ``y_train`` (T,).

    A series with ``T <= m`` falls back to the lag-1 scale (warned); with ``T < 2`` it is NaN.
    """
    _check_season(season_length)
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
    return _reduce("mase", _terms("mase", y, y_pred, scale), axis)


def owa(smape_value, mase_value, smape_ref, mase_ref):
    """Overall weighted average (M4): ``(sMAPE/sMAPE_ref + MASE/MASE_ref) / 2``; NaN (warned) on a zero reference."""
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
    """``metric`` of aggregate ``scores`` (dict metric -> value), with ``"owa"`` computed against the
    ``reference`` aggregates (e.g. seasonal naive on the same points; M4 uses Naive2, which is
    naive for weekly data): the one place where OWA meets the other aggregate metrics."""
    if metric != "owa":
        return scores[metric]
    return owa(scores["smape"], scores["mase"], reference["smape"], reference["mase"])


def _check_season(season_length):
    check_int("season_length", season_length, 1)


# ---------------------------------------------------------------------------------------------
# Frame metrics
# ---------------------------------------------------------------------------------------------


def scales(forecasts, train_df, season_length=1):
    """In-sample seasonal-naive MAE of each forecast row's series, from ``train_df``.

    With a ``cutoff`` column the scale of a row uses only the series' history up to that cutoff
    (no look-ahead in a backtest); without one it uses all of the series' training data.

    Returns
    -------
    (len(forecasts),) float64 array.
    """
    _check_season(season_length)
    train = sorted_long(train_df, (ID, TIME, TARGET), "train_df")
    pos = train.groupby(ID, sort=False).cumcount().to_numpy()
    cum, cnt = {}, {}
    for m in {season_length, 1}:
        lagged = train.groupby(ID, sort=False)[TARGET].shift(m).to_numpy()
        diff = np.abs(train[TARGET].to_numpy() - lagged)
        ok = (pos >= m) & np.isfinite(diff)  # differences across a gap (NaN) are not counted
        grouped = train.assign(_d=np.where(ok, diff, 0.0), _n=ok.astype(np.int64)).groupby(
            ID, sort=False
        )
        cum[m], cnt[m] = grouped["_d"].cumsum().to_numpy(), grouped["_n"].cumsum().to_numpy()
    rows = _last_rows(forecasts, train)
    n = pos[rows] + 1  # training points up to the cutoff
    m = np.where(n > season_length, season_length, 1)
    who = forecasts[ID].astype(str).to_numpy()
    _warn_if(
        (n <= season_length) & (n >= 2),
        who,
        f"mase: series no longer than season_length={season_length}; using the lag-1 (naive) scale",
    )
    _warn_if(n < 2, who, "mase: fewer than 2 training points, no scale (NaN)")
    total = np.where(m == season_length, cum[season_length][rows], cum[1][rows])
    count = np.where(m == season_length, cnt[season_length][rows], cnt[1][rows])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n >= 2) & (count > 0), total / count, np.nan)


def _last_rows(forecasts, train):
    """Row of ``train`` holding each forecast row's last training point (its cutoff or series end)."""
    ids = forecasts[ID].astype(str).to_numpy()
    if "cutoff" in forecasts.columns:
        rows = rows_at(train, ids, forecasts["cutoff"])
        what = "cutoff"
    else:
        last = pd.Series(np.arange(len(train)), index=train[ID].to_numpy()).groupby(level=0).max()
        rows = last.reindex(ids).fillna(-1).to_numpy(dtype=np.int64)
        what = "series"
    if (rows < 0).any():
        i = int(np.argmax(rows < 0))
        raise ValueError(
            f"train_df has no row for forecast {what} of series {ids[i]!r}"
            + (f" at {forecasts['cutoff'].iloc[i]}" if what == "cutoff" else "")
        )
    return rows


def evaluate(forecasts, train_df=None, metrics=DEFAULT_METRICS, season_length=1, by=(ID,)):
    """Metrics of a forecast frame per group.

    Parameters
    ----------
    forecasts : DataFrame [unique_id, ds, y, y_pred] (optionally ``cutoff`` and ``step``, as a
        backtest gives): actuals ``y`` next to forecasts ``y_pred``.
    train_df : DataFrame [unique_id, ds, y], the in-sample data (needed for ``mase``; with a
        ``cutoff`` column only rows up to each cutoff are used).
    metrics : names from ``METRICS``.
    season_length : m of the MASE scale.
    by : columns to group by, e.g. ("unique_id",), ("unique_id", "cutoff"), ("step",) or () for
        one overall row. ``step`` (1..horizon) is derived when absent.

    Returns
    -------
    DataFrame [*by, *metrics], one row per group (one row when ``by`` is empty).
    """
    by, metrics = list(by), list(metrics)
    check_metrics(metrics)
    fc = _with_terms(forecasts, train_df, metrics, season_length, by)
    if not by:
        return pd.DataFrame({m: [_reduce(m, fc[f"_{m}"].to_numpy())] for m in metrics})
    grouped = fc.groupby(by, sort=True)[[f"_{m}" for m in metrics]].mean()  # pandas mean skips NaN
    table = pd.DataFrame({m: _finish(m, grouped[f"_{m}"]) for m in metrics}).reset_index()
    empty = table[metrics].isna().any(axis=1)
    if empty.any():
        warnings.warn(
            f"no defined point for {int(empty.sum())} group(s) (e.g. {table.loc[empty, by].iloc[0].tolist()}); "
            "their metric is NaN",
            RuntimeWarning,
            stacklevel=2,
        )
    return table


def evaluate_groups(
    forecasts, train_df=None, metrics=DEFAULT_METRICS, season_length=1, groupings=None
):
    """Several groupings of one forecast frame at the cost of one pass over the per-point terms.

    ``groupings`` : dict name -> ``by`` columns (see :func:`evaluate`). Returns dict name -> table,
    plus ``"all"`` -> the :func:`aggregate` dict.
    """
    metrics, groupings = list(metrics), dict(groupings or {})
    needed = sorted({c for by in groupings.values() for c in by})
    fc = _with_terms(forecasts, train_df, metrics, season_length, needed)
    cols = [f"_{m}" for m in metrics]
    out = {}
    for name, by in groupings.items():
        grouped = fc.groupby(list(by), sort=True)[cols].mean()
        out[name] = pd.DataFrame({m: _finish(m, grouped[f"_{m}"]) for m in metrics}).reset_index()
    out["all"] = {m: _reduce(m, fc[f"_{m}"].to_numpy()) for m in metrics}
    return out


def aggregate(forecasts, train_df=None, metrics=DEFAULT_METRICS, season_length=1):
    """All rows of ``forecasts`` pooled: dict metric -> float (see :func:`evaluate`)."""
    row = evaluate(forecasts, train_df, metrics, season_length, by=())
    return {m: float(row[m].iloc[0]) for m in metrics}


def _with_terms(forecasts, train_df, metrics, season_length, by):
    fc = sorted_long(forecasts, (ID, TIME, TARGET, PRED), "forecasts")
    if "step" in by and "step" not in fc.columns:
        fc["step"] = (
            fc.groupby([ID, "cutoff"] if "cutoff" in fc.columns else [ID], sort=False).cumcount()
            + 1
        )
    missing = [c for c in by if c not in fc.columns]
    if missing:
        raise ValueError(f"cannot group by {missing}: forecasts has columns {list(fc.columns)}")
    scale = None
    scaled = [m for m in metrics if m == "mase" or needs_scale(m)]
    if scaled:
        if train_df is None:
            raise ValueError(
                f"metric {scaled[0]!r} needs train_df (the in-sample data that scales the errors)"
            )
        scale = scales(fc, train_df, season_length)
    y, y_pred, who = (
        fc[TARGET].to_numpy(np.float64),
        fc[PRED].to_numpy(np.float64),
        fc[ID].to_numpy(),
    )
    for m in metrics:
        fc[f"_{m}"] = (
            interval_terms(m, fc, y, scale)
            if is_interval_metric(m)
            else _terms(m, y, y_pred, scale, who)
        )
    return fc


def owa_frame(forecasts, reference, train_df, season_length=1):
    """M4 OWA of ``forecasts`` against ``reference`` forecasts of the same points (both with ``y``)."""
    ours = aggregate(forecasts, train_df, ("smape", "mase"), season_length)
    ref = aggregate(reference, train_df, ("smape", "mase"), season_length)
    return owa(ours["smape"], ours["mase"], ref["smape"], ref["mase"])


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
    return _reduce("smape_m3", terms, axis)
