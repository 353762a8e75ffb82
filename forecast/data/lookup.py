"""Rows of a long frame by series, without an index of every row's (id, ds).

An index of every row (a ``MultiIndex`` of (id, ds), or every id as a Python string) costs N
Python objects and an N-key hash table: gigabytes on an M5-sized panel (57 M rows). Here a
frame's rows are described by its series' offsets in stable (id, ds) order (:class:`SeriesRows`;
a validated frame is in that order already, so nothing is sorted or copied) and a (series, time)
pair is found by bisection within its series' rows (:func:`bisect_rows`): O(pairs x log length).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.data.columns import ID, TIME
from forecast.data.frequencies import sorted_runs

LAST = np.iinfo(np.int64).max  # the tick of a missing time: last in its series, as a sort puts it


def as_ticks(times):
    """int64 steps, or the instants of (naive or zoned) timestamps, of a time Series."""
    if times.dtype == np.int64:
        return times.to_numpy()
    out = np.asarray(times.array.asi8)
    missing = times.isna().to_numpy()
    return np.where(missing, LAST, out) if missing.any() else out


@dataclass(frozen=True)
class SeriesRows:
    """A long frame's rows grouped by series, in stable (str id, time) order.

    ``keys`` (S,) the ids as strings; ``starts`` (S + 1,) where each series' rows begin in that
    order (and where the last ends); ``order`` (N,) the frame's rows in that order, None when the
    frame is in it already; ``ticks`` (N,) int64 times in that order (:func:`as_ticks`).
    """

    keys: pd.Index
    starts: np.ndarray
    order: np.ndarray | None
    ticks: np.ndarray

    def series(self, ids):
        """(n,) series of each id (read as a string), -1 for an id the frame does not hold.
        Each distinct id is looked up once (forecast rows repeat theirs)."""
        codes, uniques = pd.factorize(ids, use_na_sentinel=False)
        return self.keys.get_indexer(pd.Index(uniques).astype(str))[codes]

    def find(self, series, times):
        """(n,) position, in (id, time) order, of each (series, time) pair; -1 where none.
        Each run of equal pairs (a forecast's horizon rows) is looked up once."""
        series, t = np.asarray(series, dtype=np.int64), as_ticks(times)
        new = np.ones(len(t), dtype=bool)
        new[1:] = (series[1:] != series[:-1]) | (t[1:] != t[:-1])
        first = np.flatnonzero(new)
        found = bisect_rows(self.ticks, self.starts, series[first], t[first])
        return np.repeat(found, np.diff(np.append(first, len(t))))

    def rows(self, ids, times):
        """(n,) row of the frame (its own positions) at each (id, time) pair; -1 where none."""
        found = self.find(self.series(ids), times)
        return found if self.order is None else np.where(found >= 0, self.order[found], -1)

    def take(self, values):
        """``values`` (N,) of the frame's rows, put in (id, time) order."""
        return values if self.order is None else values[self.order]

    def duplicate(self):
        """Row of the frame (its own position) of the first series time held twice, or None."""
        same = self.ticks[1:] == self.ticks[:-1]
        same[self.starts[1:-1] - 1] = False  # the last row of a series and the next one's first
        if not same.any():
            return None
        i = int(np.argmax(same))
        return i if self.order is None else int(self.order[i])


def series_rows(ids, times):
    """:class:`SeriesRows` of a frame's id column ``ids`` and time column ``times`` (int64 steps
    or timestamps, as ``frames.as_times`` reads them).

    Ids equal as strings are one series (``1`` and ``"1"``), as sorting by ``astype(str)`` has
    it; equal times keep the frame's order (a stable sort).
    """
    t = as_ticks(times)
    runs = sorted_runs(pd.DataFrame({ID: ids, TIME: times}, copy=False), strict=False)
    if runs is not None and _in_time_order(t, runs[0]):
        starts = np.append(runs[0], len(t))
        return SeriesRows(pd.Index(ids.iloc[runs[0]].astype(str)), starts, None, t)
    codes, uniques = pd.factorize(ids, use_na_sentinel=False)
    keys = pd.Index(uniques).astype(str)
    if not keys.is_unique:
        merged, keys = pd.factorize(keys)
        codes, keys = merged[codes], pd.Index(keys)
    order = np.argsort(t, kind="stable")
    order = order[np.argsort(codes[order], kind="stable")]  # by series, then time: both stable
    starts = np.append(0, np.cumsum(np.bincount(codes, minlength=len(keys))))
    return SeriesRows(keys, starts, order, t[order])


def _in_time_order(t, starts):
    later = t[1:] >= t[:-1]
    later[starts[1:] - 1] = True  # a series' first time may be before the previous one's last
    return bool(later.all())


def bisect_rows(ticks, starts, series, t):
    """(n,) position in ``ticks`` of each (series, time) pair: the first row of series
    ``series[i]`` (rows ``starts[s]:starts[s + 1]``, times ascending) whose time is ``t[i]``;
    -1 where there is none or ``series[i]`` is -1. Vectorised bisection, O(n x log length)."""
    series, t = np.asarray(series, dtype=np.int64), np.asarray(t, dtype=np.int64)
    known = series >= 0
    lo = np.where(known, starts[np.where(known, series, 0)], 0)
    end = np.where(known, starts[np.where(known, series, 0) + 1], 0)
    if len(ticks) == 0:
        return np.full(len(series), -1, dtype=np.int64)
    hi, last = end.copy(), len(ticks) - 1
    while (lo < hi).any():  # the first row of each series with a time >= its t
        mid = (lo + hi) // 2
        less = ticks[np.minimum(mid, last)] < t
        lo, hi = np.where((lo < hi) & less, mid + 1, lo), np.where(less, hi, mid)
    found = (lo < end) & (ticks[np.minimum(lo, last)] == t)
    return np.where(found, lo, -1)
