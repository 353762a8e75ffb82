"""Frequencies of time columns: inference per series, comparison, the dates before and after a
point, and the calendar features of dates at a frequency.

Time is either timestamps (a pandas offset alias per series: ``"D"``, ``"MS"``, ...) or integer
time steps: positions 0, 1, 2, ... without dates (M3, M4), consecutive within each series, whose
frequency is the int :data:`INTEGER_FREQ` (1, as Nixtla's libraries spell it) and whose forecasts
continue the positions (``last + 1 .. last + horizon``).

:func:`infer_frequencies` reads a validated long frame sorted by (unique_id, ds) and rejects gaps
and irregular steps with errors that name the series and the timestamp at fault.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.data.columns import ID, TIME

INTEGER_FREQ = 1  # the frequency of integer time steps: one position per step


def is_integer_freq(freq):
    """True for the frequency of integer time steps (:data:`INTEGER_FREQ`), else False."""
    return isinstance(freq, (int, np.integer)) and not isinstance(freq, bool)


def same_frequency(a, b):
    """Whether two per-series frequencies (offset aliases or :data:`INTEGER_FREQ`) are the same."""
    if is_integer_freq(a) or is_integer_freq(b):
        return is_integer_freq(a) and is_integer_freq(b) and int(a) == int(b)
    return pd.tseries.frequencies.to_offset(a) == pd.tseries.frequencies.to_offset(b)


def infer_frequencies(df, where="data", known=None):
    """Infer each series' frequency from ``ds`` and reject gaps or irregular steps.

    Returns dict unique_id -> offset alias (:data:`INTEGER_FREQ` for integer time steps). A series
    with a single row cannot show a frequency; it takes the frequency shared by the others (an
    error if there are none). ``known``: a fitted model's {unique_id: frequency}; a series whose
    points step by its known frequency is read at it, though a short run of them may show
    another (three weekdays of a business-day series read as daily data).
    """
    if df[TIME].dtype == np.int64:
        return _integer_steps(df, where)
    if not known:
        return _timestamps(df, where)
    try:
        freqs = _timestamps(df, where)
    except ValueError:
        freqs = None  # perhaps only a short run that the known frequencies explain
    if freqs is not None and all(
        f == known.get(u, f) or same_frequency(f, known[u]) for u, f in freqs.items()
    ):
        return freqs
    return _with_known(df, where, known)


def _with_known(df, where, known):
    """:func:`infer_frequencies` where each series that steps by its ``known`` frequency takes it;
    the others are inferred on their own (an error names them)."""
    runs = df.groupby(ID, sort=False)[TIME]
    freqs = {uid: known[uid] for uid, ds in runs if uid in known and steps_by(ds, known[uid])}
    rest = df[~df[ID].isin(list(freqs))]
    return {**freqs, **(_timestamps(rest, where) if len(rest) else {})}


def steps_by(ds, freq):
    """Whether the sorted timestamps ``ds`` of one series step by the offset alias ``freq``."""
    if is_integer_freq(freq):
        return False  # a model of integer time steps: timestamps never step by it
    idx = pd.DatetimeIndex(ds.to_numpy() if ds.dt.tz is None else ds)
    try:
        steps = pd.date_range(idx[0], periods=len(idx), freq=freq)
    except (pd.errors.OutOfBoundsDatetime, OverflowError, ValueError):
        return False
    return steps.as_unit("ns").equals(idx.as_unit("ns"))


def _timestamps(df, where):
    fast = _regular_frequencies(df, where)
    if fast is not None:
        return fast
    freqs, undecided = {}, []
    for uid, ds in df.groupby(ID, sort=False)[TIME]:
        idx = pd.DatetimeIndex(ds.to_numpy() if ds.dt.tz is None else ds)
        if len(idx) < 3:
            undecided.append((uid, idx))
            continue
        freqs[uid] = _series_freq(uid, idx, where)
    return _share_frequency(freqs, undecided, where)


def _integer_steps(df, where):
    """Integer time steps must step by exactly 1 within each series (sorted by id, then ds)."""
    steps = df[TIME].groupby(df[ID], sort=False).diff()
    bad = (steps.notna() & (steps != 1)).to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        uid, ds = df[ID].iloc[i], df[TIME].to_numpy()
        own = steps[df[ID] == uid].dropna()
        if own.nunique() == 1:
            k = int(own.iloc[0])
            raise ValueError(
                f"{where}: series {uid!r} steps by {k} in its integer time column; integer time "
                f"steps are positions that step by 1: divide them by {k}, or use timestamps"
            )
        raise ValueError(
            f"{where}: series {uid!r} has a gap or irregular integer time step at {int(ds[i])} "
            f"(expected {int(ds[i - 1]) + 1}, the next position after {int(ds[i - 1])}); integer "
            "time steps must be consecutive: for missing observations add their rows with an "
            "empty target and choose fill='ffill'|'interpolate'|'zero'; if the integers are "
            "years or dates, convert them to timestamps"
        )
    return dict.fromkeys(pd.unique(df[ID].to_numpy()), INTEGER_FREQ)


def _share_frequency(freqs, undecided, where):
    """Series too short to show a frequency take the one all others share (an error otherwise); a
    two-row series must step by it. ``undecided``: [(id, DatetimeIndex)]."""
    common = set(freqs.values())
    for uid, idx in undecided:
        if len(common) != 1:
            raise ValueError(
                f"{where}: series {uid!r} has fewer than 3 rows; its frequency cannot be inferred"
            )
        freq = next(iter(common))
        if len(idx) == 2 and pd.date_range(idx[0], periods=2, freq=freq)[1] != idx[1]:
            raise ValueError(
                f"{where}: series {uid!r} has 2 rows, {idx[0]} and {idx[1]}, that do not step by "
                f"the frequency {freq!r} of the other series"
            )
        freqs[uid] = freq
    return freqs


def _regular_frequencies(df, where):
    """:func:`infer_frequencies` for frames sorted by id with naive timestamps, in vectorised
    passes.

    A series that steps by one constant delta is fully determined by (first timestamp, step,
    length), so pandas infers its frequency once per distinct triple (once per panel, when the
    series share a calendar) instead of once per series. Other series take the per-series path.
    None when the frame does not qualify; the per-series loop then decides.
    """
    if not pd.api.types.is_datetime64_dtype(df[TIME].dtype) or df[TIME].isna().any():
        return None  # time-zone-aware or NaT: the per-series loop
    runs = series_runs(df)
    if runs is None:
        return None
    starts, ends = runs
    t = df[TIME].to_numpy()
    ticks = t.view(np.int64)
    lengths = ends - starts
    step_lo, step_hi = _step_range(ticks, starts, ends)
    ids = df[ID].iloc[starts].to_numpy()
    freqs, undecided, seen = {}, [], {}
    for s, uid in enumerate(ids):
        if lengths[s] < 3:
            undecided.append((uid, pd.DatetimeIndex(t[starts[s] : ends[s]])))
            continue
        key = (ticks[starts[s]], step_lo[s], lengths[s]) if step_lo[s] == step_hi[s] > 0 else None
        if key is None or key not in seen:
            freq = _series_freq(uid, pd.DatetimeIndex(t[starts[s] : ends[s]]), where)
            if key is None:
                freqs[uid] = freq
                continue
            seen[key] = freq
        freqs[uid] = seen[key]
    return _share_frequency(freqs, undecided, where)


_CHUNK = 1 << 20  # rows per vectorised pass: bounded temporaries on 10^7-row panels


def series_runs(df):
    """(starts, ends) row ranges of each series in a frame sorted by string id; None if it is not.

    Neighbouring ids are compared in chunks (pyarrow for Arrow-backed strings), so no
    ``len(df)``-sized Python objects are built.
    """
    return sorted_runs(df, strict=False)


def sorted_runs(df, strict=True):
    """(starts, ends) of each series' rows when ``df`` is sorted by string id (ascending,
    contiguous)
    and, with ``strict``, by strictly increasing naive (or integer) ``ds`` within each series; else
    None."""
    ids, ds = df[ID], df[TIME]
    if len(df) == 0 or not pd.api.types.is_string_dtype(ids.dtype) or ids.isna().any():
        return None
    if strict and (
        not (pd.api.types.is_datetime64_dtype(ds.dtype) or ds.dtype == np.int64) or ds.isna().any()
    ):
        return None
    new_run = np.zeros(len(df), dtype=bool)
    new_run[0] = True
    arrow = _arrow_strings(ids)
    ticks = ds.to_numpy().view(np.int64) if strict else None
    for a in range(1, len(df), _CHUNK):
        b = min(a + _CHUNK, len(df))
        if arrow is not None:
            import pyarrow.compute as pc

            cur, prev = arrow.slice(a, b - a), arrow.slice(a - 1, b - a)
            changed = np.asarray(pc.not_equal(cur, prev))
            if not np.asarray(pc.greater_equal(cur, prev)).all():
                return None
        else:
            cur, prev = ids.iloc[a:b].to_numpy(), ids.iloc[a - 1 : b - 1].to_numpy()
            changed = cur != prev
            if not (cur[changed] > prev[changed]).all():
                return None
        new_run[a:b] = changed
        if strict and not ((ticks[a:b] > ticks[a - 1 : b - 1]) | changed).all():
            return None
    starts = np.flatnonzero(new_run)
    return starts, np.append(starts[1:], len(df))


def _arrow_strings(ids):
    """The pyarrow array behind an Arrow-backed string column (None for other storage)."""
    if getattr(ids.dtype, "storage", None) != "pyarrow":
        return None
    try:
        import pyarrow as pa

        return pa.array(ids.array)
    except (ImportError, TypeError, ValueError):
        return None


def _step_range(ticks, starts, ends):
    """(min, max) step between consecutive timestamps of each series (meaningless for 1-row
    series)."""
    lo, hi = np.zeros(len(starts), np.int64), np.zeros(len(starts), np.int64)
    s0 = 0
    while s0 < len(starts):
        s1 = max(s0 + 1, int(np.searchsorted(ends, starts[s0] + _CHUNK, side="right")))
        a = starts[s0]
        d = np.diff(ticks[a : ends[s1 - 1]])  # d[i] = t[i+1] - t[i], rows relative to a
        if len(d):
            seg = np.minimum(starts[s0:s1] - a, len(d) - 1)
            cross = ends[s0 : s1 - 1] - 1 - a  # the step from one series into the next:
            d[cross] = d[seg[:-1]]  # it takes the value of that series' first step
            lo[s0:s1], hi[s0:s1] = np.minimum.reduceat(d, seg), np.maximum.reduceat(d, seg)
        s0 = s1
    return lo, hi


def _infer_freq(idx):
    """pd.infer_freq as an alias string, on pandas 2 and 3 alike (3.1 warns about returning
    offsets)."""
    try:
        with pd.option_context("future.infer_freq_returns_offset", True):
            freq = pd.infer_freq(idx)
    except (KeyError, pd.errors.OptionError):
        freq = pd.infer_freq(idx)
    return (
        freq if freq is None or isinstance(freq, str) else freq.freqstr
    )  # older pandas: already a str


def _semi_month(idx):
    """ "SMS-15" or "SME-15" when ``idx`` steps by half months (regular, but ``pd.infer_freq``
    does not see them), else None."""
    days = set(idx.day)
    for alias, days_of in (("SMS", {1, 15}), ("SME", {15, 28, 29, 30, 31})):
        if not days <= days_of:
            continue
        try:
            steps = pd.date_range(idx[0], periods=len(idx), freq=alias)
        except (OverflowError, ValueError):
            continue  # past 2262, or onto a local time that does not exist: not its steps
        if steps.equals(idx):
            return steps.freqstr
    return None


def _series_freq(uid, idx, where):
    freq = _infer_freq(idx) or _semi_month(idx)
    if freq is not None:
        return freq
    # Irregular: find the most common step, then the first timestamp that breaks it.
    steps = idx[1:] - idx[:-1]
    step = pd.Series(steps).mode().iloc[0]
    guess = _infer_freq(idx[:3]) if len(idx) >= 3 else None
    try:
        expected = pd.date_range(idx[0], periods=len(idx), freq=guess or step)
    except (OverflowError, ValueError):  # past 2262, or onto a local time that does not exist
        expected = idx[:1].append(idx[:-1] + step)
    bad = int(np.argmax(idx != expected))
    raise ValueError(
        f"{where}: series {uid!r} has a gap or irregular timestamp at {idx[bad]} (expected "
        f"{expected[bad]} for frequency {guess or step}); for missing observations, add their "
        "rows with an empty target (e.g. reindex each series to pd.date_range(start, end, "
        "freq=...)) and choose fill='ffill'|'interpolate'|'zero': fill completes values, it "
        "does not invent rows"
    )
