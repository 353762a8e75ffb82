"""The fast path of new history for a fitted model: a plainly valid, small frame of series the
model knows, checked against what the model knows instead of validated from scratch.

A served forecast is a few hundred rows of known series, already sorted and regular. The general
path (``forecast.data.history.validate``, frequency inference, ``build_panel``) costs several
milliseconds of pandas work per request whatever the size; here the same guarantees are checked
in a few vectorised numpy passes:

* every id is text and a series of the model; every ``y`` a finite float64 within float32's range;
* rows are sorted by id (contiguous runs) and, within a series, step by exactly the series'
  fitted frequency -- which implies sorted, no duplicates and no gaps. Only fixed steps qualify
  (``Tick`` offsets such as "h" or "15min", "D" on naive timestamps, integer time steps); the
  frequency is checked, never inferred.

Whenever one of these does not hold, :func:`known_panel` returns None and the caller takes the
general path, which accepts or refuses the frame with its own messages: the fast path never
raises and never accepts a frame the general path would refuse, and the panel it builds is the
one ``build_panel`` builds from the validated frame (``tests/core/test_predict_fast_path.py``).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from forecast.data.calendar import calendar_features
from forecast.data.columns import ID, TARGET, TIME
from forecast.data.frequencies import is_integer_freq
from forecast.data.panel import Panel
from forecast.data.values import FLOAT32_MAX

MAX_ROWS = 100_000  # larger frames take the general path (built for panels of 10^7 rows)
_NAIVE, _INT = np.dtype("datetime64[ns]"), np.dtype("int64")
_DAY_NS = 86_400 * 10**9


def known_panel(df, freqs, layout):
    """The :class:`~forecast.data.panel.Panel` of new history ``df`` for a model fitted on
    ``freqs`` ({unique_id: frequency}) with ``layout``, or None when the fast path does not apply.

    Parameters
    ----------
    df : internal long DataFrame [unique_id, ds, y, ...] (``forecast.data.frames.to_long``).
    freqs : the fitted model's frequencies; ``layout`` : its ``Layout`` (covariates: None).

    Returns
    -------
    Panel (static columns empty: they come from the fit) | None.
    """
    if layout.past or layout.future or not 0 < len(df) <= MAX_ROWS:
        return None
    cols = list(df.columns)
    if len(set(cols)) != len(cols) or not {ID, TIME, TARGET} <= set(cols):
        return None
    y, ds = df[TARGET], df[TIME]
    if y.dtype != np.float64 or ds.dtype not in (_NAIVE, _INT):
        return None
    runs = _runs(df[ID].to_numpy())
    if runs is None:
        return None
    ids, starts = runs
    steps = _steps(ids, freqs, ds.dtype == _INT)
    if steps is None:
        return None
    values = y.to_numpy()
    ticks = ds.to_numpy().view(np.int64)
    if not _regular(ticks, starts, steps) or not _finite(values):
        return None
    offsets = np.append(starts, len(df)).astype(np.int64)
    data = values[:, None]
    if layout.calendar:
        cal = calendar_features(ds.to_numpy(), layout.calendar).astype(np.float64)
        data = np.concatenate([data, cal], axis=1)
    first, last = (_points(ds, rows) for rows in (offsets[:-1], offsets[1:] - 1))
    static = np.zeros((len(ids), 0))
    return Panel(ids, offsets, data, static, first, last, [freqs[uid] for uid in ids])


def _points(ds, rows):
    """``list(ds.iloc[rows])`` (what ``build_panel`` keeps), read from numpy: Timestamps, or ints
    for integer time steps."""
    values = ds.to_numpy()[rows]
    if ds.dtype == _INT:
        return [int(v) for v in values]
    return [pd.Timestamp(v) for v in values]


def _runs(raw):
    """(ids (S,) of str, starts (S,)) of an (N,) object array of ids sorted in contiguous runs;
    None unless every id is text (no NaN) and the runs ascend."""
    if pd.api.types.infer_dtype(raw, skipna=False) != "string":
        return None
    changed = raw[1:] != raw[:-1]
    if not (raw[1:][changed] > raw[:-1][changed]).all():
        return None  # unsorted: the general path sorts
    starts = np.flatnonzero(np.concatenate([[True], changed]))
    return np.array([str(uid) for uid in raw[starts]], dtype=object), starts


def _steps(ids, freqs, integer):
    """(S,) int64 step of each series at its fitted frequency (ns, or 1 for integer time steps);
    None when a series is unknown or its frequency is not a fixed step of this time kind."""
    steps = np.empty(len(ids), dtype=np.int64)
    for s, uid in enumerate(ids):
        freq = freqs.get(uid)
        step = None if freq is None else (1 if is_integer_freq(freq) else _fixed_ns(freq))
        if step is None or is_integer_freq(freq) != integer:
            return None
        steps[s] = step
    return steps


@functools.lru_cache(maxsize=64)
def _fixed_ns(freq):
    """Nanoseconds of one step of ``freq`` when every step of naive timestamps is that long
    (``Tick`` offsets; days, which pandas 3 no longer counts as a ``Tick``); else None."""
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except (TypeError, ValueError):
        return None
    if isinstance(offset, pd.offsets.Tick):
        return int(offset.nanos) if offset.n > 0 else None
    if type(offset) is pd.offsets.Day and offset.n > 0:
        return offset.n * _DAY_NS
    return None


def _regular(ticks, starts, steps):
    """Whether every series' consecutive ``ticks`` increase by exactly its step (sorted, no
    duplicates, no gaps) and none is NaT."""
    if (ticks == np.iinfo(np.int64).min).any():
        return False  # NaT: the general path names it
    series = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(ticks))))
    inner = np.ones(len(ticks), dtype=bool)
    inner[starts] = False  # a series' first row has no step before it
    prev = np.concatenate([ticks[:1], ticks[:-1]])
    # both: an int64 difference wraps around, an increase of exactly the step cannot
    return bool(
        (ticks[inner] > prev[inner]).all()
        and (ticks[inner] - prev[inner] == steps[series[inner]]).all()
    )


def _finite(values):
    """Finite and within the float32 range the network computes in."""
    return bool((np.abs(values) <= FLOAT32_MAX).all())  # False for NaN and inf too
