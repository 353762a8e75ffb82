"""Row and value faults of a long fuzz frame, each with its verdict (fuzz_long.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fuzz_faults import col, uid_names
from fuzz_frames import IRREGULAR, S

BAD_VALUE = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "huge": 1e300, "tiny": 1e-300,
             "string_value": "n/a"}  # fmt: skip
WORDS = {"nan": "NaN", "inf": "infinite", "-inf": "infinite", "huge": "float32",
         "string_value": "'n/a'"}  # fmt: skip


def plant(fault, r, d, df, rng, params, v, used):
    """``df`` with ``fault`` planted; its verdict added to ``v``; ``used``: rows holding a bad
    value (no later fault removes them)."""
    if fault == "one_row":
        return df.groupby(S, sort=False).head(1).reset_index(drop=True)
    if fault == "empty":
        v.add("refuse", ("empty",), why="empty frame")
        return df.iloc[:0]
    if not len(df) or fault in ("missing_column", "irregular"):
        return df  # nothing to plant in, or planted elsewhere (fuzz_long)
    if fault in BAD_VALUE or fault.endswith("_last"):
        return _bad_value(fault, d, df, rng, params, v, used)
    if fault == "duplicate":
        row = int(rng.integers(len(df)))
        v.add("refuse", ("duplicate", uid_names(d.uids[df[S].iloc[row]])), why="duplicate row")
        return pd.concat([df, df.iloc[[row]]], ignore_index=True)
    if fault == "gap":
        return _gap(d, df, v, used)
    if fault == "nat":
        free = [i for i in range(len(df)) if i not in used] or [0]
        row = free[int(rng.integers(len(free)))]
        df["ds"] = df["ds"].astype(object)
        df.loc[row, "ds"] = None
        v.add("refuse", (col(d.time_col), "missing value"), why="missing time")
        return df
    raise AssertionError(f"unknown fault {fault!r}")


def _bad_value(fault, d, df, rng, params, v, used):
    kind = "string_value" if fault == "string_last" else fault.replace("_last", "")
    if fault.endswith("_last"):
        row = len(df) - 1
        if row in used:
            return df  # one bad value on the last row only
    else:
        free = [i for i in range(len(df) - 1) if i not in used]
        if not free:
            return df
        row = free[int(rng.integers(len(free)))]
    used.add(row)
    if kind == "string_value" or df["y"].dtype != np.float64:
        df["y"] = df["y"].astype(object)
    df.loc[row, "y"] = BAD_VALUE[kind]
    if kind == "tiny":
        return df
    s = int(df[S].iloc[row])
    series = np.flatnonzero(df[S].to_numpy() == s)
    uid, trailing = d.uids[s], row == series[-1]
    Y = col(d.target_col)
    if kind != "nan":
        v.add("refuse", (Y, WORDS[kind], uid_names(uid)), why=f"target {kind}")
        return df
    others = pd.to_numeric(df["y"].iloc[series].astype(object), errors="coerce").notna().sum()
    filled = params["fill"] == "zero" or (params["fill"] in ("ffill", "interpolate") and others)
    if not filled:
        v.add("refuse", (Y, "NaN", uid_names(uid)), ops=("fit", "backtest"), why="target NaN")
    if not trailing:  # a trailing missing target is a future row in the flow
        v.add("accept" if filled else "refuse", (Y, "NaN", uid_names(uid)), ops=("flow",),
              why="target NaN")  # fmt: skip
    elif len(series) == 1:  # the series then has no history; a fitted model misses it
        said = ("missing from the data", "the frame is empty")  # (when no series has any)
        v.add("either", (said,), ops=("flow",), why="series only future")
    if filled and isinstance(params.get("scaler"), tuple) and params["fill"] == "zero":
        v.add("either", (("log", "positive"),), ops=("fit", "backtest"), why="zero in log")
    return df


def _gap(d, df, v, used):
    """Drop an interior row of the longest series (a gap only in a series of 4+ rows)."""
    counts = df[S].value_counts()
    s = int(counts.idxmax())
    rows = np.flatnonzero(df[S].to_numpy() == s)
    inside = [i for i in rows[1:-1] if i not in used]
    if len(rows) < 4 or not inside:
        return df
    v.add("refuse", (IRREGULAR, uid_names(d.uids[s])), why="gap")
    return df.drop(index=df.index[inside[len(inside) // 2]]).reset_index(drop=True)
