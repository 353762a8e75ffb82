"""A wide frame (one column per series, NaN-padded) or a Series of a fuzz recipe, with its planted
faults; the verdicts are read off the frame as made (fuzz_frames.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fuzz_faults import uid_names
from fuzz_frames import FLOAT32_MAX, IRREGULAR, inferred

NOT_AN_INDEX = (("DatetimeIndex", "cannot read the frame"),)


def wide_frame(r, d, rng, v):
    """The wide frame or Series of recipe ``r``; ``d``'s starts and lengths follow its faults."""
    frame = pd.DataFrame(
        {s: pd.Series(d.values[s], index=d.times(s, n)) for s, n in enumerate(d.lengths)}
    )
    frame.columns = [u if isinstance(u, (str, int)) else str(u) for u in d.uids]
    if "irregular" in r.faults and isinstance(frame.index, pd.DatetimeIndex) and len(frame) > 1:
        steps = np.r_[0, np.sort(rng.integers(1, 50, len(frame) - 1))]
        frame.index = frame.index + pd.to_timedelta(steps, unit="min")
    for fault in r.faults:
        frame = _fault(frame, fault, rng)
    if "shuffle" in r.extras:
        frame = frame.sample(frac=1.0, random_state=int(rng.integers(1000)))
    if r.time_kind in ("string_index", "period_index", "float_index") and len(frame):
        v.add("refuse", NOT_AN_INDEX, why=f"wide {r.time_kind}")
        frame.index = _index(frame.index, r.time_kind)
    else:
        _facts(r, d, frame, v)
    if r.kind == "series":
        out = frame.iloc[:, 0] if frame.shape[1] else pd.Series([], dtype=float)
        out.name = r.series_name
        return out
    return frame


def _index(index, kind):
    if kind == "string_index":
        return index.astype(str)
    if kind == "float_index":
        return pd.Index(np.arange(len(index), dtype=float) + 0.5)
    if isinstance(index, pd.DatetimeIndex):
        return index.tz_localize(None).to_period("D")
    return pd.Index(np.arange(len(index), dtype=float))


def _fault(frame, fault, rng):
    n = len(frame)
    if n == 0 or fault.startswith("param:") or fault == "irregular":
        return frame
    i, j = int(rng.integers(n)), int(rng.integers(frame.shape[1]))
    if fault in ("inf", "huge", "tiny"):
        frame.iloc[i, j] = {"inf": np.inf, "huge": 1e300, "tiny": 1e-300}[fault]
    elif fault == "nan":
        inside = frame.iloc[:, j].dropna().index
        if len(inside) >= 3:
            frame.loc[inside[len(inside) // 2], frame.columns[j]] = np.nan
    elif fault == "nan_last":
        frame.iloc[-1, 0] = np.nan
    elif fault == "duplicate":
        frame = pd.concat([frame, frame.iloc[[i]]])
    elif fault == "gap":
        inside = frame[frame.count().idxmax()].dropna().index
        if len(inside) >= 4:
            frame = frame.drop(index=inside[len(inside) // 2])
    elif fault == "one_row":
        frame = frame.iloc[:1]
    elif fault == "empty":
        frame = frame.iloc[:0]
    return frame


def _facts(r, d, frame, v):
    """Verdicts of the frame as made, and each series' first time and length in ``d``."""
    series = r.kind == "series"
    if len(frame) == 0 or frame.shape[1] == 0:
        v.add("refuse", (("empty", "hold no values"),), why="empty")
        d.lengths = [0] * len(d.lengths)
        return
    frame = frame.sort_index(kind="stable")
    fill = r.params["fill"] in ("ffill", "interpolate", "zero")
    runs = {}
    for s, name in enumerate(frame.columns):
        values = frame[name]
        valid = np.flatnonzero(values.notna().to_numpy())
        if not len(valid) and not series:
            v.add("refuse", ("hold no values", uid_names(d.uids[s])), why="all padding")
            d.lengths[s] = 0
            continue
        # a wide frame's NaN before and after a column's values are padding; a Series' are not
        first, last = (0, len(values) - 1) if series else (valid[0], valid[-1])
        run = values.iloc[first : last + 1]
        uid = uid_names(d.uids[s])
        # a time twice: refused unless all copies but valued ones are empty (padding)
        twice = run.index.duplicated(keep=False)
        valued = run.notna().to_numpy()
        has_value = run.notna().groupby(level=0).transform("any").to_numpy()
        counted = pd.Series(twice & (valued | ~has_value), index=run.index)
        if (counted.groupby(level=0).sum() > 1).any():
            v.add("refuse", ("duplicate", uid_names(*d.uids)), why="duplicate time")
            run = run[~run.index.duplicated()]
        x = run.to_numpy(dtype=np.float64)
        if np.isnan(x).any() and not fill:
            v.add("refuse", ("NaN", uid), why="missing value")
        elif (
            np.isnan(x).any()
            and r.params["fill"] == "zero"
            and isinstance(r.params["scaler"], tuple)
        ):
            v.add("either", ("log", uid), why="a zero filled in under a log scaler")
        if np.isnan(x).all() and fill:
            v.add("refuse", ("NaN", uid), why="nothing to fill from")
        if np.isinf(x).any():
            v.add("refuse", (("infinite", "NaN"), uid), why="infinite")
        if (np.abs(np.nan_to_num(x, posinf=0, neginf=0)) > FLOAT32_MAX).any():
            v.add("refuse", (("float32", "NaN"), uid), why="beyond float32")
        runs[s] = run.index
        d.starts[s], d.lengths[s], d.values[s] = run.index[0], len(run), x
    _steps(d, runs, v)


def _steps(d, runs, v):
    """Each run of times must step by one frequency (integer steps by 1)."""
    if d.integer:
        bad = [d.uids[s] for s, t in runs.items() if len(t) > 1 and (np.diff(t) != 1).any()]
        if bad:
            v.add("refuse", (("gap or irregular", "steps by"), uid_names(*bad)), why="steps")
        return
    shown = {s: inferred(t) for s, t in runs.items() if len(t) >= 3}
    bad = [d.uids[s] for s, f in shown.items() if f is None]
    if bad:
        v.add("refuse", (IRREGULAR, uid_names(*bad)), why="irregular")
        return
    aliases = set(shown.values())
    if shown and any(f != d.freq for f in aliases):  # a fault left points that show another
        common = next(iter(aliases)) if len(aliases) == 1 else d.freq
        d.freqs = [shown.get(s, common) for s in range(len(d.uids))]
    for s, t in runs.items():
        step = len(t) == 2 and len(aliases) == 1
        if step and pd.date_range(t[0], periods=2, freq=next(iter(aliases)))[1] != t[1]:
            v.add("refuse", (IRREGULAR, uid_names(d.uids[s])), why="two rows off the step")
