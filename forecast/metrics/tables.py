"""Accuracy of forecast frames: the point metrics of :mod:`forecast.metrics.point` (and the interval
metrics of :mod:`forecast.metrics.interval`) over the rows of a forecast frame, per series, per
cutoff, per step or over everything, each MASE scaled by its series' history up to the cutoff.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from forecast.choices import DEFAULT_METRICS
from forecast.data.frames import ID, TARGET, TIME, as_times, sorted_long, times_like
from forecast.data.lookup import series_rows
from forecast.metrics.interval import is_interval_metric, needs_scale
from forecast.metrics.interval import terms as interval_terms
from forecast.metrics.point import (
    PRED,
    check_metrics,
    check_season,
    finish_mean,
    owa,
    point_terms,
    reduce_terms,
    warn_if,
)

CHUNK = 1 << 22  # rows of training data per pass of the seasonal sums


def scales(forecasts, train_df, season_length=1):
    """In-sample seasonal-naive MAE of each forecast row's series, from ``train_df``.

    With a ``cutoff`` column the scale of a row uses only the series' history up to that cutoff
    (no look-ahead in a backtest); without one it uses all of the series' training data.
    ``train_df`` is read by its series' offsets (:mod:`forecast.data.lookup`: no copy or sort of
    a frame already in (id, ds) order, no per-row index) and each cutoff found by bisection.

    Returns
    -------
    (len(forecasts),) float64 array.
    """
    check_season(season_length)
    missing = [c for c in (ID, TIME, TARGET) if c not in train_df.columns]
    if missing:
        raise ValueError(
            f"train_df is missing column(s) {missing}; it has {list(train_df.columns)}"
        )
    times = as_times(train_df[TIME])
    train = series_rows(train_df[ID], times)
    twice = train.duplicate() if "cutoff" in forecasts.columns else None
    if twice is not None:  # which of them would be the cutoff's row?
        uid, when = train_df[ID].iloc[twice], times.iloc[twice]
        raise ValueError(f"train_df: series {str(uid)!r} has time {when} twice")
    series, at = _last_rows(forecasts, train, times)
    n = at - train.starts[series] + 1  # training points up to the cutoff
    y = train.take(_floats(train_df[TARGET]))
    cum = {m: _seasonal_sums(y, train.starts, m, at) for m in {season_length, 1}}
    m = np.where(n > season_length, season_length, 1)
    who = forecasts[ID].astype(str)
    warn_if(
        (n <= season_length) & (n >= 2),
        who,
        f"mase: series no longer than season_length={season_length}; using the lag-1 (naive) scale",
    )
    warn_if(n < 2, who, "mase: fewer than 2 training points, no scale (NaN)")
    total = np.where(m == season_length, cum[season_length][0], cum[1][0])
    count = np.where(m == season_length, cum[season_length][1], cum[1][1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n >= 2) & (count > 0), total / count, np.nan)


def _floats(column):
    values = column.to_numpy()
    return values if values.dtype.kind == "f" else column.to_numpy(np.float64, na_value=np.nan)


def _seasonal_sums(y, starts, m, at):
    """(sum, count) of the finite ``|y[t] - y[t - m]|`` of each series up to position ``at``.

    Series by series in chunks of about :data:`CHUNK` rows (bounded temporaries), each summed by
    pandas' grouped cumulative sum as a groupby over the whole frame sums it (the same floats:
    a group's sum never depends on the other groups)."""
    total, count = np.zeros(len(at), y.dtype), np.zeros(len(at), np.int64)
    asked = np.argsort(at, kind="stable")
    ordered = at[asked]
    s0, n_series = 0, len(starts) - 1
    while s0 < n_series:
        s1 = max(s0 + 1, int(np.searchsorted(starts, starts[s0] + CHUNK, side="right")) - 1)
        a, b = starts[s0], starts[min(s1, n_series)]
        q = asked[np.searchsorted(ordered, a) : np.searchsorted(ordered, b)]
        if len(q):
            label = np.repeat(np.arange(s1 - s0), np.diff(starts[s0 : s1 + 1]))
            pos = np.arange(a, b) - starts[s0:s1][label]
            diff = np.full(b - a, np.nan, dtype=y.dtype)
            if m < b - a:
                diff[m:] = np.abs(y[a + m : b] - y[a : b - m])
            ok = (pos >= m) & np.isfinite(diff)  # differences across a gap (NaN) are not counted
            frame = pd.DataFrame({"_d": np.where(ok, diff, 0.0), "_n": ok.astype(np.int64)})
            sums = frame.groupby(label, sort=False).cumsum()
            total[q], count[q] = sums["_d"].to_numpy()[at[q] - a], sums["_n"].to_numpy()[at[q] - a]
        s0 = s1
    return total, count


def _last_rows(forecasts, train, times):
    """(series, position in ``train``'s (id, ds) order) of each forecast row's last training
    point (its cutoff or its series' end)."""
    ids = forecasts[ID]
    series = train.series(ids)
    if "cutoff" in forecasts.columns:
        at = train.find(series, times_like(forecasts["cutoff"], times, "origins", "cutoff"))
        what = "cutoff"
    else:
        at = np.where(series >= 0, train.starts[series + 1] - 1, -1)
        what = "series"
    if (at < 0).any():
        i = int(np.argmax(at < 0))
        raise ValueError(
            f"train_df has no row for forecast {what} of series {str(ids.iloc[i])!r}"
            + (f" at {forecasts['cutoff'].iloc[i]}" if what == "cutoff" else "")
        )
    return series, at


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
        return pd.DataFrame({m: [reduce_terms(m, fc[f"_{m}"].to_numpy())] for m in metrics})
    grouped = fc.groupby(by, sort=True)[[f"_{m}" for m in metrics]].mean()  # pandas mean skips NaN
    table = pd.DataFrame({m: finish_mean(m, grouped[f"_{m}"]) for m in metrics}).reset_index()
    empty = table[metrics].isna().any(axis=1)
    if empty.any():
        warnings.warn(
            f"no defined point for {int(empty.sum())} group(s) "
            f"(e.g. {table.loc[empty, by].iloc[0].tolist()}); their metric is NaN",
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
        out[name] = pd.DataFrame(
            {m: finish_mean(m, grouped[f"_{m}"]) for m in metrics}
        ).reset_index()
    out["all"] = {m: reduce_terms(m, fc[f"_{m}"].to_numpy()) for m in metrics}
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
            else point_terms(m, y, y_pred, scale, who)
        )
    return fc


def owa_frame(forecasts, reference, train_df, season_length=1):
    """M4 OWA of ``forecasts`` against ``reference`` forecasts of the same points (both with
    ``y``)."""
    ours = aggregate(forecasts, train_df, ("smape", "mase"), season_length)
    ref = aggregate(reference, train_df, ("smape", "mase"), season_length)
    return owa(ours["smape"], ours["mase"], ref["smape"], ref["mase"])
