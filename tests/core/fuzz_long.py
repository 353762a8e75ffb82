"""A long frame of a fuzz recipe with its planted faults and their verdicts (fuzz_frames.py)."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
from fuzz_faults import Verdicts, col, uid_names  # noqa: F401 - Verdicts: the type of ``v``
from fuzz_frames import FLOAT32_MAX, IRREGULAR, S


def long_frame(r, d, rng, params, v):
    """(frame, X_future, fit keywords) of recipe ``r``; verdicts go to ``v``."""
    Y, T = col(d.target_col), col(d.time_col)
    df = pd.DataFrame(
        {
            "unique_id": _ids(r, d, rng),
            "ds": _times(r, d, rng, v, T),
            "y": _target(np.concatenate(d.values) if d.values else np.zeros(0), r.target_dtype),
        }
    )
    df[S] = np.repeat(np.arange(len(d.uids)), d.lengths)
    said = {"bool": ("booleans", "True", "False"), "object_bool": ("booleans", "True", "False"),
            "complex": ("complex", "j)"), "timedelta": ("durations", "Timedelta(")}  # fmt: skip
    if r.target_dtype in said:
        v.add("refuse", (Y, said[r.target_dtype]), why=f"target {r.target_dtype}")
    future = _covariates(r, d, df, rng, params) if r.covariates else {}
    if "param:past_covariates" in r.faults:  # a column the frame does not have
        params["past_covariates"] = (*params.get("past_covariates", ()), "nope")
    df = _row_faults(r, d, df, rng, params, v)
    _column_facts(r, d, df, params, v)
    _time_facts(r, d, df, v)
    d.values = _as_passed(df, d)
    counts = df[S].value_counts() if len(df) else pd.Series(dtype=int)
    d.lengths = [int(counts.get(s, 0)) for s in range(len(d.uids))]
    x_future = _x_future(d, params, future) if future else None
    df, x_future, fit_kwargs = _names(r, d, df, x_future, rng, v)
    if "shuffle" in r.extras:
        df = df.sample(frac=1.0, random_state=int(rng.integers(1000))).reset_index(drop=True)
    return df.drop(columns=[S]), x_future, fit_kwargs


def _as_passed(df, d):
    """Each series' target values as the frame holds them (rounded to whole numbers, to text
    and back, with a planted tiny value...): the scale its forecasts are checked against."""
    if "y" not in df.columns:
        return d.values
    try:
        x = pd.to_numeric(df["y"].astype(object), errors="coerce").astype("float64").to_numpy()
    except (TypeError, ValueError):
        return d.values  # complex, durations: refused anyway
    series = df[S].to_numpy()
    return [x[series == s] for s in range(len(d.uids))]


def _ids(r, d, rng):
    ids = pd.Series(np.repeat(np.array(d.uids, dtype=object), d.lengths), dtype=object)
    if r.id_kind in ("int", "negative"):
        return ids.astype(np.int64)
    if r.id_kind == "uint64":
        return ids.astype(np.uint64)
    if r.id_kind == "float":
        return ids.astype(np.float64)
    if r.id_kind in ("str", "long") and rng.random() < 0.3:
        return ids.astype("string")
    return ids


def _times(r, d, rng, v, T):
    """The time column as the user passes it (``r.time_kind``)."""
    parts = [d.times(s, n) for s, n in enumerate(d.lengths)]
    if "irregular" in r.faults and not d.integer:
        jitter = lambda n: pd.to_timedelta(np.r_[0, np.sort(rng.integers(1, 50, n - 1))], "min")  # noqa: E731
        parts = [p + jitter(len(p)) if len(p) >= 2 else p for p in parts]
    if d.integer:
        ds = pd.Series(np.concatenate([np.asarray(p) for p in parts]), dtype=np.int64)
        if r.time_kind == "int_step2":  # (a series cut to one row goes on from its doubled start)
            d.starts = [2 * t for t in d.starts]
            return ds * 2
        return ds
    ds = pd.concat([pd.Series(p) for p in parts], ignore_index=True)
    kind = r.time_kind
    if kind in ("string", "string_offsets"):
        return ds.astype(str)
    if kind == "date_objects":
        return pd.Series([t.to_pydatetime() for t in ds], dtype=object)
    if kind == "category":
        return ds.astype("category")
    refusals = {"period": "cannot be read as timestamps", "float": "non-integer numbers",
                "bool": "booleans"}  # fmt: skip
    if kind in refusals:
        v.add("refuse", (T, refusals[kind]), why=f"time column of {kind}")
    if kind == "period":
        return ds.dt.to_period({"ME": "M", "MS": "M", "BME": "M", "BMS": "M"}.get(d.freq, "D"))
    if kind == "float":
        return pd.Series(np.arange(len(ds), dtype=float) + 0.5)
    if kind == "bool":
        return pd.Series(np.arange(len(ds)) % 2 == 0)
    if kind in ("mixed_tz", "missing_tz"):
        naive = ds.dt.tz_localize(None) if ds.dt.tz is not None else ds
        zone = lambda i: "UTC" if i % 2 else "Asia/Tokyo"  # noqa: E731
        if kind == "missing_tz":
            zone = lambda i: "UTC" if i == 0 else None  # noqa: E731
        values = [
            t.tz_localize(zone(i), ambiguous=False, nonexistent="shift_forward") if zone(i) else t
            for i, t in enumerate(naive)
        ]
        return pd.Series(values, dtype=object)
    return ds


def _time_facts(r, d, df, v):
    """Verdicts of the time column as the row faults left it (a series cut to one row shows no
    step of 2, no jitter, no second UTC offset)."""
    T, counts = col(d.time_col), df[S].value_counts()
    stepped = [d.uids[s] for s, n in counts.items() if n >= 2]
    if "irregular" in r.faults and not d.integer and stepped:
        v.add("refuse", (IRREGULAR, uid_names(*stepped)), why="irregular")
    if r.time_kind == "int_step2" and stepped:
        v.add("refuse", ("steps by 2", uid_names(*stepped)), why="time steps of 2")
    values = [t for t in df["ds"] if t is not None and t is not pd.NaT] if "ds" in df else []
    if r.time_kind in ("string", "string_offsets") and d.tz:
        offsets = {_offset(t) for t in values}
        if any(o is None or o.seconds % 60 for o in offsets):
            v.add("either", (T,), why="text offset in seconds (not ISO 8601)")
        elif len(offsets) > 1:
            v.add("refuse", (T, "different UTC offsets"), why="text times, several offsets")
        elif offsets:  # one offset and no zone name: the times go on at that offset
            d.tz = datetime.timezone(next(iter(offsets)))
            d.starts = [t.tz_convert(d.tz) for t in d.starts]
        d.fixed_offset = bool(d.tz)
    if r.time_kind in ("mixed_tz", "missing_tz"):
        zones = {str(t.tzinfo) for t in values if t.tzinfo is not None}
        if {t.tzinfo is None for t in values} == {True, False}:
            v.add("refuse", (T, "aware and naive"), why=r.time_kind)
        elif len(zones) > 1:
            v.add("refuse", (T, "mixes time zones"), why=r.time_kind)


def _offset(text):
    try:
        return pd.Timestamp(text).utcoffset()
    except ValueError:
        return None  # an offset in seconds (local mean time of 1850): not ISO 8601


def _target(values, dtype):
    """The target column in ``dtype`` (numbers kept: the oracle compares forecasts with them)."""
    table = {
        "float64": lambda v: pd.Series(v),
        "float32": lambda v: pd.Series(v.astype(np.float32)),
        "int64": lambda v: pd.Series(np.round(v).astype(np.int64)),
        "uint32": lambda v: pd.Series(np.round(np.abs(v)).astype(np.uint32)),
        "Int64": lambda v: pd.Series(np.round(v).astype(np.int64), dtype="Int64"),
        "Float64": lambda v: pd.Series(v, dtype="Float64"),
        "object": lambda v: pd.Series(v, dtype=object),
        "string": lambda v: pd.Series(v.round(3).astype(str), dtype="string"),
        "category": lambda v: pd.Series(np.round(v), dtype="category"),
        "bool": lambda v: pd.Series(v > 0),
        "object_bool": lambda v: pd.Series(v > 0, dtype=object),
        "complex": lambda v: pd.Series(v + 1j),
        "timedelta": lambda v: pd.to_timedelta(pd.Series(np.abs(v) % 1000), unit="D"),
    }
    return table[dtype](values)


def _covariates(r, d, df, rng, params):
    """Covariate columns c0, c1 ... (their verdicts come from the final frame); returns the
    future ones' values over each series' horizon ({name: values})."""
    h, roles, future = params["horizon"], {"past": [], "future": [], "static": []}, {}
    h = h if isinstance(h, int) and h > 0 else 1
    for j, (role, dtype, fault) in enumerate(r.covariates):
        name = f"c{j}"
        roles[role].append(name)
        full = [
            rng.normal(0, 3, n + h) if role != "static" else np.full(n + h, rng.normal())
            for n in d.lengths
        ]
        if fault == "varying" and any(n >= 2 for n in d.lengths):
            full[int(np.argmax(d.lengths))][0] += 1.0
        values = np.concatenate([f[:n] for f, n in zip(full, d.lengths)])
        if fault in ("nan", "inf", "huge") and len(values):
            values[int(rng.integers(len(values)))] = {"nan": np.nan, "inf": np.inf,
                                                      "huge": 1e300}[fault]  # fmt: skip
        df[name] = _cov_dtype(values, dtype)
        future[name] = _cov_dtype(np.concatenate([f[n : n + h] for f, n in zip(full, d.lengths)]),
                                  dtype)  # fmt: skip
    params.update(
        past_covariates=tuple(roles["past"]),
        future_covariates=tuple(roles["future"]),
        static_covariates=tuple(roles["static"]),
    )
    return {name: future[name] for name in roles["future"]}


def _x_future(d, params, future):
    """X_future: the future covariates over each series' horizon (after the frame's faults)."""
    h = params["horizon"] if isinstance(params["horizon"], int) and params["horizon"] > 0 else 1
    x_future = pd.DataFrame(
        {
            "unique_id": np.repeat(np.array(d.uids, dtype=object), h),
            "ds": pd.concat(
                [pd.Series(d.future(s, h)) for s in range(len(d.uids))], ignore_index=True
            ),  # fmt: skip
        }
    )
    for name, values in future.items():
        x_future[name] = values.to_numpy()[: len(x_future)]
    return x_future


def _cov_dtype(values, dtype):
    if dtype == "string":
        return pd.Series(np.char.add("v", np.nan_to_num(values).round().astype(int).astype(str)),
                         dtype="string")  # fmt: skip
    if dtype == "category":
        return pd.Series(np.where(values > 0, "high", "low"), dtype="category")
    if dtype == "bool":
        return pd.Series(values > 0)
    if dtype in ("int64", "int16", "uint8"):
        whole = np.round(np.nan_to_num(values, nan=0, posinf=9e18, neginf=-9e18))
        if dtype == "uint8":  # (wrapped around, -1 would be 255: a future value far off its past)
            whole = np.abs(whole).clip(0, 255)
        return pd.Series(whole.astype(np.int64).astype(dtype))
    if dtype == "Int64":
        whole = np.round(np.nan_to_num(values, posinf=9e18, neginf=-9e18)).astype(np.int64)
        return pd.Series(pd.array(np.where(np.isnan(values), None, whole), dtype="Int64"))
    return pd.Series(values).astype(dtype)


def _column_facts(r, d, df, params, v):
    """Verdicts read off the frame as made: covariates (non-numeric, NaN, infinite, beyond
    float32, a static one that varies), ids (missing, equal as text) and mixed time zones."""
    future = _future_rows(df)
    for role in ("past_covariates", "future_covariates", "static_covariates"):
        for name in (c for c in params.get(role, ()) if c in df.columns):
            _covariate_facts(df, name, role, future, v)
    ids = col(d.id_col)
    if df["unique_id"].isna().any():
        v.add("refuse", (ids, "missing value"), why="missing id")
    present = pd.unique(df["unique_id"].dropna())
    if len(set(map(str, present))) < len(present):
        v.add("refuse", (ids, "equal as text"), why="ids equal as text")


def _future_rows(df):
    """Rows the flow sets aside as the future: no observed target at or after them in their
    series (rows are in time order within each series here)."""
    if not len(df):
        return np.zeros(0, dtype=bool)
    observed = df["y"].notna().astype(int)[::-1]
    return (observed.groupby(df[S][::-1]).cumsum()[::-1] == 0).to_numpy()


def _covariate_facts(df, name, role, future, v):
    C, column = col(name), df[name]
    if pd.api.types.is_bool_dtype(column.dtype):
        v.add("refuse", (C, "booleans"), why=f"{role} of booleans")
        return
    if not pd.api.types.is_numeric_dtype(column.dtype):
        v.add("refuse", (C,), why=f"{role} of {column.dtype}")
        return
    x = pd.to_numeric(column).astype("float64").to_numpy()
    for rows, ops in ((np.ones(len(x), dtype=bool), ("fit", "backtest")), (~future, ("flow",))):
        values = x[rows]
        for bad, word in ((np.isnan(values), "NaN"), (np.isinf(values), "infinite"),
                          (np.abs(np.nan_to_num(values)) > FLOAT32_MAX, "float32")):  # fmt: skip
            if bad.any():
                v.add("refuse", (C, word), ops=ops, why=f"{role} {word}")
    if role == "static_covariates" and len(df):
        varies = df.groupby(S)[name].nunique(dropna=False) > 1
        if varies.any():
            v.add("refuse", ("static column", C, "varies"), ops=("fit", "backtest"), why="varies")


def _row_faults(r, d, df, rng, params, v):
    """Rows dropped first, then bad values, then rows duplicated, removed or given no time."""
    from fuzz_rows import plant

    used = set()
    for fault in sorted((f for f in r.faults if not f.startswith("param:")), key=_order):
        df = plant(fault, r, d, df, rng, params, v, used)
    if r.id_kind == "nan" and len(df):
        df["unique_id"] = df["unique_id"].astype(object)
        df.loc[int(rng.integers(len(df))), "unique_id"] = np.nan
    return df


def _order(fault):
    return {"one_row": 0, "empty": 0, "gap": 2, "duplicate": 2, "nat": 2,
            "missing_column": 3}.get(fault, 1)  # fmt: skip


def _names(r, d, df, x_future, rng, v):
    """The user's column names, stray columns named like the internal ones, a text column, a
    missing column."""
    fit_kwargs = {}
    if "renamed" in r.extras:
        renames = {"unique_id": d.id_col, "ds": d.time_col, "y": d.target_col}
        df = df.rename(columns=renames)
        fit_kwargs = {"id_col": d.id_col, "time_col": d.time_col, "target_col": d.target_col}
        if x_future is not None:
            x_future = x_future.rename(columns=renames)
        if "stray_internal" in r.extras:  # extra columns the user did not name: ignored
            for name in ("ds", "y", "unique_id")[: 1 + int(rng.integers(3))]:
                df[name] = "x" if name != "y" else -1.0
            if x_future is not None:
                x_future["ds"] = "x"
    if "text_column" in r.extras:
        df["note"] = "ünïcode"
    if "missing_column" in r.faults:
        gone = [d.id_col, d.time_col, d.target_col][int(rng.integers(3))]
        df = df.drop(columns=[gone])
        _missing(r, d, gone, v)
    return df, x_future, fit_kwargs


def _missing(r, d, gone, v):
    v.add("refuse", ("missing", col(gone)), ops=("fit", "backtest"), why="missing column")
    if gone != "unique_id":
        v.add("refuse", ("missing", col(gone)), ops=("flow",), why="missing column")
        return
    # the flow reads a file without its id column as one series named after the file
    v.add("either", ("'fuzz'",), ops=("flow",), why="one series 'fuzz'")
    if len(d.uids) > 1:
        times = pd.Index(np.concatenate([np.asarray(d.times(s, n)) for s, n in
                                         enumerate(d.lengths)]))  # fmt: skip
        level = "refuse" if times.has_duplicates else "either"
        v.add(level, ("'fuzz'",), ops=("flow",), why="one series 'fuzz'")
