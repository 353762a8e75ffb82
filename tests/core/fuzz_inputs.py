"""Generated inputs for the fuzz tests (tests/core/test_fuzz.py) and benchmarks/fuzz.py.

A Hypothesis strategy draws a :class:`Recipe` (small choices: kind of input, lengths, frequency,
time zone, dtypes, ids, faults, covariates, model settings and a seed); :func:`build` turns it
into the pandas input a user would pass, deterministically, together with its :class:`Design`:
what the input means when it is valid (each series' id, start, frequency and length), from which
the oracle in ``fuzz_oracle.py`` derives the forecast index a correct answer must have.

Each fault and dtype is classed by what the library must do with it: ``refuse`` (a clean
ValueError/TypeError naming it), ``accept`` (a finite forecast at the right timestamps) or
``either`` (a clean refusal or a right answer).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from hypothesis import strategies as st

FREQS = ("D", "h", "15min", "s", "B", "W-SUN", "MS", "ME", "QS-JAN", "YS-JAN", "irregular")
ZONES = (None, None, "UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata")
STARTS = (
    "2024-01-01",
    "2024-03-29 20:00",
    "2024-10-26 22:00",
    "1850-01-01",
    "2262-03-01",
    "1970-01-01",
    "1677-09-22 12:00",
)
TARGET_DTYPES = {
    "float64": "accept",
    "float32": "accept",
    "int64": "accept",
    "Int64": "accept",
    "Float64": "accept",
    "object": "accept",
    "string": "either",
    "category": "either",
    "bool": "refuse",
    "object_bool": "refuse",
    "complex": "refuse",
    "timedelta": "refuse",
}
TIME_KINDS = {
    "datetime": "accept",
    "int": "accept",
    "string": "either",
    "date_objects": "either",
    "period": "either",
    "float": "refuse",
    "bool": "refuse",
    "int_step2": "refuse",
    "mixed_tz": "refuse",
    "missing_tz": "refuse",
    "string_offsets": "either",
}
ID_KINDS = {
    "str": "accept",
    "unicode": "accept",
    "int": "accept",
    "negative": "accept",
    "empty_string": "accept",
    "uint64": "accept",
    "float": "either",
    "bool": "either",
    "mixed": "either",
    "nan": "refuse",
}
FAULTS = {
    "nan": "refuse",
    "inf": "refuse",
    "-inf": "refuse",
    "huge": "refuse",
    "tiny": "accept",
    "string_value": "refuse",
    "duplicate": "refuse",
    "gap": "refuse",
    "shuffle": "accept",
    "nat": "refuse",
    "one_row": "either",
    "empty": "refuse",
    "extra_column": "accept",
    "missing_column": "refuse",
    "renamed": "accept",
    "nan_last": "refuse",
    "inf_last": "refuse",
    "string_last": "refuse",
}
COV_DTYPES = {
    "float64": "accept",
    "int64": "accept",
    "float32": "accept",
    "Int64": "accept",
    "string": "refuse",
    "category": "refuse",
    "bool": "refuse",
}
COV_FAULTS = {
    "none": "accept",
    "nan": "refuse",
    "inf": "refuse",
    "huge": "refuse",
    "varying": "refuse",
}
SERIES_NAMES = (None, "sales", 7, ("a", 1), "größe ☃", "")
WIDE_FAULTS = (
    "nan",
    "inf",
    "huge",
    "tiny",
    "duplicate",
    "shuffle",
    "gap",
    "one_row",
    "empty",
    "nan_last",
)
RANK = {"accept": 0, "either": 1, "refuse": 2}


@dataclass
class Recipe:
    """The drawn choices; :func:`build` makes the input from them and ``seed``."""

    kind: str
    n_series: int
    lengths: tuple
    freq: str
    tz: str | None
    start: str
    time_kind: str
    target_dtype: str
    id_kind: str
    faults: tuple
    covariates: tuple  # ((role, dtype, fault), ...)
    series_name: object
    params: dict
    ops: tuple
    seed: int


@dataclass
class Design:
    """What a valid input means: per series its user id, first time, length; the frequency and zone."""

    uids: list
    starts: list
    lengths: list
    freq: str
    tz: str | None
    integer: bool
    id_col: str = "unique_id"
    time_col: str = "ds"
    target_col: str = "y"
    fixed_offset: bool = (
        False  # times given as strings with a UTC offset: compare instants, not zone names
    )

    def times(self, s, n):
        """The first ``n`` times of series ``s`` (an Index)."""
        if self.integer:
            return pd.Index(np.arange(self.starts[s], self.starts[s] + n, dtype=np.int64))
        return pd.date_range(self.starts[s], periods=n, freq=self.freq, tz=self.tz)

    def future(self, s, horizon):
        """The ``horizon`` times after series ``s``'s last one."""
        return self.times(s, self.lengths[s] + horizon)[self.lengths[s] :]


@dataclass
class Case:
    """A built input: ``data`` (what is passed), keywords for fit, the model's parameters, the design,
    ``x_future`` (future covariates over the horizon, long frame) and how the input must be treated."""

    recipe: Recipe
    data: object
    design: Design
    fit_kwargs: dict
    params: dict
    x_future: pd.DataFrame | None
    expect: str
    expect_backtest: str
    notes: list = field(default_factory=list)


def _lengths(n_series):
    short = st.sampled_from([0, 1, 2, 3])
    return st.lists(
        st.one_of(short, st.integers(4, 30), st.integers(4, 30)),
        min_size=n_series,
        max_size=n_series,
    )


@st.composite
def recipes(draw, kinds=("long", "long", "long", "wide", "series")):
    """A :class:`Recipe`: mostly small valid inputs with zero to two faults each."""
    kind = draw(st.sampled_from(kinds))
    n_series = 1 if kind == "series" else draw(st.integers(1, 4))
    lengths = tuple(draw(_lengths(n_series)))
    faults = WIDE_FAULTS if kind != "long" else tuple(FAULTS)
    n_faults = draw(st.sampled_from([0, 0, 0, 1, 1, 2]))
    covs = ()
    if kind == "long" and draw(st.booleans()):
        covs = tuple(
            draw(
                st.lists(
                    st.tuples(
                        st.sampled_from(["past", "future", "static"]),
                        st.sampled_from(list(COV_DTYPES)),
                        st.sampled_from(["none"] * 4 + list(COV_FAULTS)),
                    ),
                    min_size=1,
                    max_size=2,
                )
            )
        )
    plain = draw(
        st.booleans()
    )  # half the inputs: common dtypes only, so most of them should forecast
    time_kinds = ["datetime", "datetime", "int"] + ([] if plain else list(TIME_KINDS))
    if kind != "long":
        time_kinds = ["datetime", "datetime", "int", "string", "period"]
    return Recipe(
        kind=kind,
        n_series=n_series,
        lengths=lengths,
        freq=draw(st.sampled_from(FREQS)),
        tz=draw(st.sampled_from(ZONES)),
        start=draw(st.sampled_from(STARTS[:3] * 3 + STARTS[3:])),
        time_kind=draw(st.sampled_from(time_kinds)),
        target_dtype="float64" if plain else draw(st.sampled_from(list(TARGET_DTYPES))),
        id_kind="str" if plain else draw(st.sampled_from(list(ID_KINDS))),
        faults=tuple(
            draw(
                st.lists(st.sampled_from(faults), min_size=n_faults, max_size=n_faults, unique=True)
            )
        ),
        covariates=covs,
        series_name=draw(st.sampled_from(SERIES_NAMES)),
        params=draw(_params()),
        ops=tuple(
            op for op in ("predict_at", "backtest", "save_load", "flow") if draw(st.booleans())
        )
        or ("predict_at",),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


@st.composite
def _params(draw):
    lookback = draw(st.one_of(st.none(), st.integers(1, 6)))
    return {
        "hidden_size": 4,
        "max_epochs": 1,
        "windows_per_epoch": 8,
        "batch_size": 8,
        "verbose": False,
        "device": "cpu",
        "lookback": lookback,
        "horizon": draw(st.integers(1, 3)),
        "head": draw(st.sampled_from(["direct", "direct", "recursive", "seq2seq"])),
        "fill": draw(st.sampled_from([None, None, "ffill", "interpolate", "zero"])),
        "short_series": draw(st.sampled_from(["pad", "pad", "drop", "error"])),
        "window_norm": draw(st.sampled_from(["auto", "auto", None, "last"])),
        "scaler": draw(
            st.sampled_from(["standard", "robust", "none", "standard", ("log", "standard")])
        ),
        "calendar": draw(st.sampled_from([False, False, True])),
    }


# ---------------------------------------------------------------------------------------------- build
def build(r):
    """The :class:`Case` of recipe ``r`` (pandas' warnings about the odd inputs it makes are silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _build(r)


def _build(r):
    rng = np.random.default_rng(r.seed)
    design = _design(r, rng)
    n_rows = sum(design.lengths)
    y = np.concatenate([_values(rng, n) for n in design.lengths]) if n_rows else np.zeros(0)
    if isinstance(r.params["scaler"], tuple):  # ("log", method): positive targets
        y = np.abs(y) + 1.0
    notes, horizon = [], r.params["horizon"]
    if r.kind == "long":
        data, x_future, params = _long(r, design, y, rng, notes)
    else:
        data, x_future, params = _wide_or_series(r, design, y, rng, notes), None, dict(r.params)
    if r.start[:4] in ("2262", "1677"):
        notes.append(
            "either"
        )  # the horizon (or the data) may run past the timestamps pandas represents
    expect = max(notes, key=RANK.get, default="accept")
    if r.kind != "long" and r.time_kind in ("string", "period"):
        expect = max(expect, "either", key=RANK.get)
    expect_backtest = expect if "renamed" not in r.faults else max(expect, "either", key=RANK.get)
    if n_rows == 0 or max(design.lengths) < 3 or min(design.lengths) == 0:
        expect = expect_backtest = max(
            expect, "either", key=RANK.get
        )  # too short to show a frequency
    fit_kwargs = {}
    if "renamed" in r.faults and r.kind == "long":
        fit_kwargs = {
            "id_col": design.id_col,
            "time_col": design.time_col,
            "target_col": design.target_col,
        }
    return Case(
        r,
        data,
        design,
        fit_kwargs,
        params,
        x_future,
        expect,
        max(expect_backtest, expect, key=RANK.get) if horizon else expect,
        notes,
    )


def _design(r, rng):
    integer = r.time_kind in ("int", "int_step2")
    tz = "Europe/Berlin" if r.time_kind == "string_offsets" and r.tz is None else r.tz
    starts = []
    for _ in range(r.n_series):
        # ragged starts; in a wide frame or Series, close together as its rows are shared
        if integer:
            starts.append(
                int(rng.integers(-5, 50))
                if r.kind == "long" or not starts
                else starts[0] + int(rng.integers(0, 3))
            )
        else:
            shift = int(rng.integers(0, 3))  # ragged starts
            starts.append(pd.date_range(r.start, periods=shift + 1, freq=_freq(r), tz=tz)[-1])
    uids = _ids(r, rng)
    design = Design(uids, starts, list(r.lengths), _freq(r), tz, integer)
    if "renamed" in r.faults and r.kind == "long":
        design.id_col, design.time_col, design.target_col = "série", "when", "sales €"
    design.fixed_offset = r.time_kind in ("string", "string_offsets") and design.tz is not None
    return design


def _freq(r):
    if r.freq == "B" and min(r.lengths) < 6:
        return "D"  # a few weekdays in a row are daily data as much as business-daily: ambiguous
    return "h" if r.freq == "irregular" else r.freq


def _ids(r, rng):
    n, kind = r.n_series, r.id_kind if r.kind == "long" else "str"
    if r.kind == "series":
        return [r.series_name if r.series_name is not None else "series_0"]
    table = {
        "str": [f"s{i}" for i in range(n)],
        "unicode": [["Zürich ☃", "東京", "", "\u202eabc"][i] for i in range(n)],
        "int": list(range(n)),
        "negative": [-i - 1 for i in range(n)],
        "empty_string": ["", *[f"s{i}" for i in range(1, n)]],
        "uint64": [np.iinfo(np.uint64).max - i for i in range(n)],
        "float": [i + 0.5 for i in range(n)],
        "bool": [False, True, "s2", "s3"][:n],
        "mixed": [1, "1", 2, "x"][:n],
        "nan": [f"s{i}" for i in range(n)],
    }
    if r.kind == "wide" and r.id_kind == "unicode":
        kind = "unicode"
    return table[kind]


def _values(rng, n):
    level, trend = rng.normal(0, 50), rng.normal(0, 1)
    return level + trend * np.arange(n) + rng.normal(0, 1, n)


def _time_values(r, design):
    """The concatenated time column as the user would pass it (per ``time_kind``)."""
    parts = [design.times(s, n) for s, n in enumerate(design.lengths)]
    if r.freq == "irregular" and not design.integer:
        parts = [
            p
            + pd.to_timedelta(
                np.r_[0, np.sort(np.random.default_rng(r.seed).integers(1, 90, len(p) - 1))],
                unit="min",
            )
            if len(p) >= 2
            else p
            for p in parts
        ]
    ds = pd.Series(np.concatenate([np.asarray(p) for p in parts]) if parts else [], dtype=object)
    if design.integer:
        ds = pd.Series(
            np.concatenate([np.asarray(p) for p in parts]) if parts else np.zeros(0, np.int64)
        )
        return ds * 2 if r.time_kind == "int_step2" else ds
    ds = pd.Series(
        pd.DatetimeIndex(
            np.concatenate([p.tz_localize(None) if p.tz else p for p in parts]) if parts else []
        )
    )
    if design.tz:
        ds = (
            pd.Series(pd.concat([pd.Series(p) for p in parts], ignore_index=True))
            if parts
            else ds.dt.tz_localize(design.tz)
        )
    return _time_kind(r, ds)


def _time_kind(r, ds):
    kind = r.time_kind
    if kind == "string":
        return ds.astype(str)
    if kind == "date_objects":
        return pd.Series([t.to_pydatetime() for t in ds], dtype=object)
    if kind == "period":
        return ds.dt.tz_localize(None).dt.to_period(_period_freq(r.freq)) if len(ds) else ds
    if kind == "float":
        return pd.Series(np.arange(len(ds), dtype=float) + 0.5)
    if kind == "bool":
        return pd.Series(np.arange(len(ds)) % 2 == 0)
    if kind == "mixed_tz" and len(ds):
        base = ds.dt.tz_localize(None) if ds.dt.tz is not None else ds
        return pd.Series(
            [
                t.tz_localize("UTC") if i % 2 else t.tz_localize("Asia/Tokyo")
                for i, t in enumerate(base)
            ],
            dtype=object,
        )
    if kind == "missing_tz" and len(ds):
        base = ds.dt.tz_localize(None) if ds.dt.tz is not None else ds
        return pd.Series(
            [t.tz_localize("UTC") if i == 0 else t for i, t in enumerate(base)], dtype=object
        )
    if kind == "string_offsets" and len(ds):
        return ds.astype(str)
    return ds


def _period_freq(freq):
    return {"MS": "M", "ME": "M", "QS-JAN": "Q", "YS-JAN": "Y", "W-SUN": "W", "irregular": "h"}.get(
        freq, freq
    )


def _target(values, dtype):
    """The target column in ``dtype`` (numbers kept: the oracle compares forecasts with them)."""
    table = {
        "float64": lambda v: pd.Series(v),
        "float32": lambda v: pd.Series(v.astype(np.float32)),
        "int64": lambda v: pd.Series(np.round(v).astype(np.int64)),
        "Int64": lambda v: pd.Series(np.round(v).astype(np.int64), dtype="Int64"),
        "Float64": lambda v: pd.Series(v, dtype="Float64"),
        "object": lambda v: pd.Series(v, dtype=object),
        "string": lambda v: pd.Series(v.round(3).astype(str), dtype="string"),
        "category": lambda v: pd.Series(np.round(v), dtype="category"),
        "bool": lambda v: pd.Series(v > 0),
        "object_bool": lambda v: pd.Series(v > 0, dtype=object),
        "complex": lambda v: pd.Series(v + 1j),
        "timedelta": lambda v: pd.to_timedelta(pd.Series(np.abs(v)), unit="D"),
    }
    return table[dtype](values)


def _long(r, design, y, rng, notes):
    """A long frame with the recipe's dtypes, faults and covariates; (frame, X_future, params)."""
    params = dict(r.params)
    ids = pd.Series(np.repeat(np.array(design.uids, dtype=object), design.lengths), dtype=object)
    if r.id_kind in ("int", "negative"):
        ids = ids.astype(np.int64)
    elif r.id_kind == "uint64":
        ids = ids.astype(np.uint64)
    df = pd.DataFrame(
        {"unique_id": ids, "ds": _time_values(r, design), "y": _target(y, r.target_dtype)}
    )
    steps = max(design.lengths, default=0) >= 2  # a step of 2 shows only in a series of 2+ rows
    notes += [
        TIME_KINDS[r.time_kind] if r.time_kind != "int_step2" or steps else "either",
        TARGET_DTYPES[r.target_dtype],
        ID_KINDS[r.id_kind],
    ]
    if r.freq == "irregular" and not design.integer and max(design.lengths, default=0) >= 2:
        notes.append("refuse")
    x_future = None
    if r.covariates:
        df, x_future, params = _covariates(r, design, df, rng, params, notes)
    df = _faults(r, design, df, rng, notes, params)
    if x_future is not None and "renamed" in r.faults:
        x_future = x_future.rename(columns={"unique_id": design.id_col, "ds": design.time_col})
    return df, x_future, params


def _covariates(r, design, df, rng, params, notes):
    """Covariate columns c0, c1 ...; future ones over the horizon too (X_future)."""
    h, roles = params["horizon"], {"past": [], "future": [], "static": []}
    future_rows = []
    for j, (role, dtype, fault) in enumerate(r.covariates):
        name = f"c{j}"
        roles[role].append(name)
        full = [
            rng.normal(0, 3, n + h) if role != "static" else np.full(n + h, rng.normal())
            for n in design.lengths
        ]
        longest = int(np.argmax(design.lengths)) if design.lengths else 0
        varies = (
            role == "static"
            and fault == "varying"
            and bool(design.lengths)
            and design.lengths[longest] > 1
        )
        if varies:  # only a series of 2+ rows can vary
            full[longest][0] += 1.0
        values = (
            np.concatenate([f[:n] for f, n in zip(full, design.lengths)]) if full else np.zeros(0)
        )
        if fault in ("nan", "inf", "huge") and len(values):
            values[int(rng.integers(len(values)))] = {"nan": np.nan, "inf": np.inf, "huge": 1e300}[
                fault
            ]
        df[name] = _cov_dtype(values, dtype)
        future_rows.append(
            np.concatenate([f[n:] for f, n in zip(full, design.lengths)]) if full else np.zeros(0)
        )
        lost = (
            dtype in ("int64", "Int64")
            and fault in ("inf", "huge")
            or (dtype == "int64" and fault == "nan")
        )
        # a static column's cast value (0, or a wrapped integer) may differ from the rest of its series
        note = (
            "either"
            if lost and role == "static"
            else "accept"
            if lost or (fault == "varying" and not varies)
            else COV_FAULTS[fault]
        )
        notes += [COV_DTYPES[dtype], note]
        if dtype == "Int64" and fault == "nan":
            notes.append("refuse")
    params.update(
        past_covariates=tuple(roles["past"]),
        future_covariates=tuple(roles["future"]),
        static_covariates=tuple(roles["static"]),
    )
    x_future = None
    if roles["future"]:
        x_future = pd.DataFrame(
            {
                "unique_id": np.repeat(np.array(design.uids, dtype=object), h),
                "ds": np.concatenate(
                    [np.asarray(design.future(s, h)) for s in range(len(design.uids))]
                )
                if design.uids
                else [],
            }
        )
        for j, (role, _, _) in enumerate(r.covariates):
            if role == "future":
                x_future[f"c{j}"] = future_rows[j]
    return df, x_future, params


def _cov_dtype(values, dtype):
    if dtype == "string":
        return pd.Series(
            np.where(
                np.isnan(values), None, np.char.add("v", np.round(values).astype(int).astype(str))
            )
            if np.isfinite(values).all()
            else values.astype(str),
            dtype="string",
        )
    if dtype == "category":
        return pd.Series(np.where(values > 0, "high", "low"), dtype="category")
    if dtype == "bool":
        return pd.Series(values > 0)
    if dtype == "int64":
        return pd.Series(
            np.round(np.nan_to_num(values, nan=0, posinf=9e18, neginf=-9e18)).astype(np.int64)
        )
    if dtype == "Int64":
        return pd.Series(
            pd.array(
                np.where(np.isnan(values), None, np.round(np.nan_to_num(values)).astype(np.int64)),
                dtype="Int64",
            )
        )
    return pd.Series(values.astype(dtype))


def _faults(r, design, df, rng, notes, params):
    """Apply the recipe's row and value faults to a long frame."""
    if r.id_kind == "nan" and len(df):
        df["unique_id"] = df["unique_id"].astype(object)
        df.loc[df.index[int(rng.integers(len(df)))], "unique_id"] = np.nan
    last = [f for f in r.faults if f.endswith("_last")][
        1:
    ]  # one fault on the last row: a second would overwrite it
    used = set()  # rows holding a bad value: another must not overwrite one
    for fault in sorted(
        r.faults, key=_fault_order
    ):  # shuffled last: the others pick rows by position
        notes.append(FAULTS[fault] if fault not in last else "accept")
        if fault in last:
            continue
        if fault in (
            "nan",
            "inf",
            "-inf",
            "huge",
            "tiny",
            "string_value",
            "nan_last",
            "inf_last",
            "string_last",
        ):
            df = _bad_value(df, fault, rng, notes, params, used)
        elif fault == "duplicate" and len(df):
            df = pd.concat([df, df.iloc[[int(rng.integers(len(df)))]]], ignore_index=True)
        elif fault == "gap":
            df = _gap(df, design, notes)
        elif fault == "shuffle":
            df = df.sample(frac=1.0, random_state=int(rng.integers(1000))).reset_index(drop=True)
        elif fault == "nat" and len(df):
            df["ds"] = df["ds"].astype(object)
            df.loc[int(rng.integers(len(df))), "ds"] = None
        elif fault == "one_row":
            df = df.groupby("unique_id", sort=False, dropna=False).head(1) if len(df) else df
            design.lengths = [min(n, 1) for n in design.lengths]
        elif fault == "empty":
            df = df.iloc[:0]
            design.lengths = [0 for _ in design.lengths]
        elif fault == "extra_column":
            df["note"] = "ünïcode"
        elif fault == "missing_column":
            df = df.drop(columns=[["unique_id", "ds", "y"][int(rng.integers(3))]])
        elif fault == "renamed":
            df = df.rename(
                columns={"unique_id": design.id_col, "ds": design.time_col, "y": design.target_col}
            )
    return df


def _fault_order(fault):
    """Rows are dropped first (so no bad value is dropped with them), columns dropped or renamed after the
    values are set, rows shuffled last (the others pick rows by position)."""
    return {"one_row": 0, "empty": 0, "missing_column": 2, "renamed": 3, "shuffle": 4}.get(fault, 1)


def _bad_value(df, fault, rng, notes, params, used):
    """One bad target value: at a random row, or (``*_last``) at the last row, an actual of every backtest."""
    if not len(df) or "y" not in df.columns:
        return df
    value = {
        "nan": np.nan,
        "inf": np.inf,
        "-inf": -np.inf,
        "huge": 1e300,
        "tiny": 1e-300,
        "string_value": "n/a",
    }
    kind = "string_value" if fault == "string_last" else fault.replace("_last", "")
    free = [i for i in range(len(df) - 1) if i not in used]  # the last row is the *_last faults'
    if not fault.endswith("_last") and not free:
        notes[-1] = "accept"  # no row left for it
        return df
    row = len(df) - 1 if fault.endswith("_last") else free[int(rng.integers(len(free)))]
    used.add(row)
    if kind == "nan" and params["fill"] is not None:
        notes[-1] = "accept"  # fill completes it
    if (
        kind == "string_value"
        or not pd.api.types.is_float_dtype(df["y"].dtype)
        or df["y"].dtype != np.float64
    ):
        df["y"] = df["y"].astype(object)
    df.loc[df.index[row], "y"] = value[kind]
    return df


def _gap(df, design, notes):
    """Drop an interior row of the longest series (a refusal only when that series has 4+ rows)."""
    s = int(np.argmax(design.lengths)) if design.lengths else 0
    if not design.lengths or design.lengths[s] < 4:
        notes[-1] = "either"
        return df
    row = sum(design.lengths[:s]) + design.lengths[s] // 2
    return df.drop(index=df.index[row]).reset_index(drop=True)


def _wide_or_series(r, design, y, rng, notes):
    """A wide frame (one column per series, NaN-padded) or a Series, with the recipe's faults."""
    notes.append("accept")
    columns = {}
    for s, n in enumerate(design.lengths):
        columns[s] = pd.Series(
            y[sum(design.lengths[:s]) : sum(design.lengths[: s + 1])], index=design.times(s, n)
        )
    frame = pd.DataFrame(columns)
    if r.kind == "wide":
        frame.columns = [_wide_name(u) for u in design.uids]
    if r.freq == "irregular" and len(frame) >= 2 and isinstance(frame.index, pd.DatetimeIndex):
        frame.index = frame.index + pd.to_timedelta(
            np.r_[0, np.sort(rng.integers(1, 50, len(frame) - 1))], unit="min"
        )
        notes.append("refuse")
    for fault in sorted(r.faults, key=_fault_order):
        frame = _wide_fault(frame, fault, rng, notes, r.params, r.kind)
    _observed(frame, design, r.kind)
    if r.time_kind == "string":
        frame.index = frame.index.astype(str)
    elif r.time_kind == "period" and isinstance(frame.index, pd.DatetimeIndex) and len(frame):
        frame.index = frame.index.tz_localize(None).to_period(_period_freq(r.freq))
    if r.kind == "series":
        out = frame.iloc[:, 0] if frame.shape[1] else pd.Series([], dtype=float)
        out.name = r.series_name
        return out
    return frame


def _observed(frame, design, kind):
    """Each column's first time and count of values, after the faults (in a wide frame NaN at a column's
    ends is padding; a Series' own NaN are missing values)."""
    if frame.index.has_duplicates:
        return  # refused anyway
    if kind == "series":
        design.lengths[0] = len(frame)
        if len(frame):
            design.starts[0] = frame.index.min()
        return
    for s, col in enumerate(frame.columns):
        values = frame[col].sort_index()
        valid = values.index[values.notna().to_numpy()]
        design.lengths[s] = (
            int(((values.index >= valid.min()) & (values.index <= valid.max())).sum())
            if len(valid)
            else 0
        )
        if len(valid):
            design.starts[s] = valid.min()


def _wide_name(uid):
    return uid if isinstance(uid, (str, int)) else str(uid)


def _wide_fault(frame, fault, rng, notes, params, kind):
    notes.append(
        "either"
        if fault == "one_row"
        else {"tiny": "accept", "shuffle": "accept"}.get(fault, "refuse")
    )
    n = len(frame)
    if n == 0:
        return frame
    i = int(rng.integers(n))
    if fault in ("nan", "inf", "huge", "tiny"):
        col = frame.columns[int(rng.integers(frame.shape[1]))]
        inside = frame[col].dropna().index
        if fault == "nan":  # a NaN at a series' ends is padding, not a gap
            if len(inside) < 3:
                notes[-1] = "either"
                return frame
            frame.loc[inside[len(inside) // 2], col] = np.nan
            notes[-1] = "either" if params["fill"] is not None else "refuse"
        else:
            j = list(frame.columns).index(col)
            was_padding = np.isnan(frame.iloc[i, j])
            frame.iloc[i, j] = {"inf": np.inf, "huge": 1e300, "tiny": 1e-300}[fault]
            if was_padding:
                notes[-1] = "either"
    elif (
        fault == "nan_last"
    ):  # a trailing NaN is padding in a wide frame, a missing value in a Series
        notes[-1] = (
            "either" if kind == "wide" else ("refuse" if params["fill"] is None else "accept")
        )
        frame.iloc[-1, 0] = np.nan
    elif fault == "duplicate":
        if frame.iloc[i].isna().any():
            notes[-1] = "either"  # a duplicated row of padding may be dropped as padding
        frame = pd.concat([frame, frame.iloc[[i]]])
    elif fault == "shuffle":
        frame = frame.sample(frac=1.0, random_state=i)
    elif fault == "gap":  # a row inside the longest column's values
        col = frame.count().idxmax()
        inside = frame[col].dropna().index
        if len(inside) < 4:
            notes[-1] = "either"
            return frame
        frame = frame.drop(index=inside[len(inside) // 2])
    elif fault == "one_row":
        frame = frame.iloc[:1]
    elif fault == "empty":
        frame = frame.iloc[:0]
    return frame
