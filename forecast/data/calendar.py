"""Dates and calendar features at a series' frequency: the ``horizon`` stamps after its last
point, the ``n`` stamps up to it, and the sin/cos features of calendar position."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.data.frequencies import is_integer_freq


def future_dates(last, freq, horizon):
    """The ``horizon`` timestamps after ``last`` at ``freq`` (int64 steps ``last + 1 ..`` for
    integer time)."""
    if is_integer_freq(freq):
        return pd.Index(np.arange(int(last) + 1, int(last) + horizon + 1, dtype=np.int64))
    try:
        return pd.date_range(last, periods=horizon + 1, freq=freq)[1:].as_unit("ns")
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        raise ValueError(
            f"the horizon of {horizon} step(s) at {freq!r} after {last} runs past "
            f"{pd.Timestamp.max}, "
            f"the last timestamp pandas represents"
        ) from None


def past_dates(last, freq, n):
    """The ``n`` timestamps ending at ``last`` at ``freq`` (int64 steps for integer time)."""
    if is_integer_freq(freq):
        return pd.Index(np.arange(int(last) - n + 1, int(last) + 1, dtype=np.int64))
    return pd.date_range(end=last, periods=n, freq=freq)


def calendar_features(ds, freq):
    """Sin/cos calendar encodings of ``ds`` suited to ``freq``.

    Returns float32 array (len(ds), 2 * n_cycles): hour-of-day (sub-daily data), day-of-week
    (daily or finer), month-of-year (weekly or coarser).
    """
    ds = pd.DatetimeIndex(ds)
    cycles = []
    delta = pd.tseries.frequencies.to_offset(freq)
    step = pd.Timestamp("2000-01-03") + delta - pd.Timestamp("2000-01-03")
    if step < pd.Timedelta(days=1):
        cycles.append((ds.hour + ds.minute / 60.0, 24.0))
    if step <= pd.Timedelta(days=1):
        cycles.append((ds.day_of_week, 7.0))
    cycles.append((ds.month - 1 + (ds.day - 1) / 31.0, 12.0))
    feats = [
        f(2 * np.pi * np.asarray(v, dtype=np.float64) / period)
        for v, period in cycles
        for f in (np.sin, np.cos)
    ]
    return np.stack(feats, axis=1).astype(np.float32)


def n_calendar_features(freq):
    """Width of :func:`calendar_features` for ``freq``."""
    return calendar_features(pd.DatetimeIndex(["2000-01-03"]), freq).shape[1]
