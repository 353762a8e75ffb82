"""The rows a forecast appends after each series: the horizon's timestamps, the future-known
covariates read from ``X_future`` and the calendar features of those dates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.data.calendar import calendar_features, future_dates
from forecast.data.frames import ID, TIME, parse_times


def future_block(panel, layout, horizon, x_future=None):
    """Rows to append after each series for a forecast: (S*horizon, F) and their timestamps.

    y and past covariates are unknown there (zeros, never read by the networks); future-known
    covariates come from ``x_future`` (long frame [unique_id, ds, *future]); calendar features
    are computed from the dates.
    """
    if x_future is not None and not layout.future:
        raise ValueError(
            "X_future was given but the model has no future_covariates: it would be ignored; "
            "fit with future_covariates=(...) to use known-ahead columns, or drop X_future"
        )
    # Series that end together at one frequency share their horizon: dates and calendar rows
    # are made once per (last timestamp, frequency), not once per series (a panel's series
    # mostly end on one date).
    code, first = {}, []
    for s, key in enumerate(zip(panel.last_ds, panel.freqs)):
        if key not in code:
            code[key] = len(first)
            first.append(s)
    made = [future_dates(panel.last_ds[s], panel.freqs[s], horizon) for s in first]
    codes = np.array([code[key] for key in zip(panel.last_ds, panel.freqs)], dtype=np.int64)
    dates = [made[c] for c in codes]
    block = np.zeros((panel.n_series * horizon, layout.n_features))
    if layout.future:
        block[:, 1 + len(layout.past) : 1 + len(layout.past) + len(layout.future)] = (
            _x_future_values(panel, layout, horizon, dates, x_future)
        )
    if layout.calendar:
        cal = np.stack([calendar_features(d, layout.calendar) for d in made])  # (U, H, C)
        block[:, -layout.n_calendar :] = cal[codes].reshape(panel.n_series * horizon, -1)
    return block, dates


def _x_future_values(panel, layout, horizon, dates, x_future):
    cols = list(layout.future)
    if x_future is None:
        raise ValueError(
            f"the model uses future-known covariates {cols}: pass X_future with their values "
            f"for the {horizon} steps after each series' last timestamp"
        )
    missing = [c for c in (ID, TIME, *cols) if c not in x_future.columns]
    if missing:
        raise ValueError(f"X_future is missing column(s) {missing}")
    xf = x_future.assign(
        **{ID: x_future[ID].astype(str), TIME: parse_times(x_future[TIME], "X_future")}
    )
    xf = xf.set_index([ID, TIME])[cols]
    if xf.index.has_duplicates:
        raise ValueError(
            "X_future has duplicate (unique_id, ds) rows, e.g. "
            f"{xf.index[xf.index.duplicated()][0]}"
        )
    want = pd.MultiIndex.from_arrays(
        [np.repeat(panel.ids, horizon), np.concatenate([np.asarray(d) for d in dates])],
        names=[ID, TIME],
    )
    got = xf.reindex(want)
    if got.isna().any(axis=None):
        uid, ts = got.index[np.argmax(got.isna().any(axis=1).to_numpy())]
        if (uid, ts) in xf.index:
            bad = [c for c in cols if pd.isna(xf.loc[(uid, ts), c])]
            raise ValueError(f"X_future column(s) {bad} are NaN for series {uid!r} at {ts}")
        raise ValueError(
            f"X_future lacks values for series {uid!r} at {ts} (needs columns {cols} "
            f"for all {horizon} horizon steps)"
        )
    try:
        return got.to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        raise ValueError(f"X_future columns {cols} must be numeric") from None
