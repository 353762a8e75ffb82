"""Accuracy of forecast frames: the point metrics of :mod:`forecast.metrics.point` (and the interval
metrics of :mod:`forecast.metrics.interval`) over the rows of a forecast frame, per series, per
cutoff, per step or over everything, each MASE scaled by its series' history up to the cutoff.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from forecast.choices import DEFAULT_METRICS
from forecast.data.frames import ID, TARGET, TIME, rows_at, sorted_long
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


def scales(forecasts, train_df, season_length=1):
    """In-sample seasonal-naive MAE of each forecast row's series, from ``train_df``.

    With a ``cutoff`` column the scale of a row uses only the series' history up to that cutoff
    (no look-ahead in a backtest); without one it uses all of the series' training data.

    Returns
    -------
    (len(forecasts),) float64 array.
    """
    check_season(season_length)
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
    warn_if(
        (n <= season_length) & (n >= 2),
        who,
        f"mase: series no longer than season_length={season_length}; using the lag-1 (naive) scale",
    )
    warn_if(n < 2, who, "mase: fewer than 2 training points, no scale (NaN)")
    total = np.where(m == season_length, cum[season_length][rows], cum[1][rows])
    count = np.where(m == season_length, cnt[season_length][rows], cnt[1][rows])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n >= 2) & (count > 0), total / count, np.nan)


def _last_rows(forecasts, train):
    """Row of ``train`` holding each forecast row's last training point (its cutoff or series
    end)."""
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
