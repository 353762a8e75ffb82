"""pandas in and out: input kinds, validation, frequency inference and calendar features.

Every public entry point converts what the user passed (a long frame, a wide frame or a Series)
into the internal long frame ``[unique_id, ds, y, <covariates>]``, sorted, with one validated
frequency per series. Errors are ``ValueError`` naming the column, series and value at fault.

Time is either timestamps (a pandas offset alias per series: ``"D"``, ``"MS"``, ...) or integer
time steps: positions 0, 1, 2, ... without dates (M3, M4), consecutive within each series, whose
frequency is the int :data:`INTEGER_FREQ` (1, as Nixtla's libraries spell it) and whose forecasts
continue the positions (``last + 1 .. last + horizon``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .choices import FILLS

ID, TIME, TARGET = "unique_id", "ds", "y"
INTEGER_FREQ = 1  # the frequency of integer time steps: one position per step


def is_integer_freq(freq):
    """True for the frequency of integer time steps (:data:`INTEGER_FREQ`), False for offset aliases."""
    return isinstance(freq, (int, np.integer)) and not isinstance(freq, bool)


def same_frequency(a, b):
    """Whether two per-series frequencies (offset aliases or :data:`INTEGER_FREQ`) are the same."""
    if is_integer_freq(a) or is_integer_freq(b):
        return is_integer_freq(a) and is_integer_freq(b) and int(a) == int(b)
    return pd.tseries.frequencies.to_offset(a) == pd.tseries.frequencies.to_offset(b)


def as_times(values):
    """Time values for ordering and lookups: int64 steps when they are integers, else datetimes.

    Lenient (``pd.to_datetime`` for anything else): it does not validate, :func:`parse_times` does.
    """
    values = values if isinstance(values, pd.Series) else pd.Series(values)
    if _integer_values(values):
        return values.astype("int64")
    return pd.to_datetime(values)


def sorted_long(df, columns=(), where="frame"):
    """``df`` with str ids and :func:`as_times` times, sorted by (unique_id, ds) on a fresh index.

    The light normalisation of frames that are read, not validated (forecasts, actuals, backtest
    data); an error names ``columns`` the frame lacks.
    """
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{where} is missing column(s) {missing}; it has {list(df.columns)}")
    out = df.assign(**{ID: df[ID].astype(str), TIME: as_times(df[TIME])})
    return out.sort_values([ID, TIME], kind="stable").reset_index(drop=True)


def rows_at(long, ids, times):
    """(n,) row of ``long`` at each (id, time) pair, -1 where it has none."""
    key = pd.MultiIndex.from_arrays([long[ID].to_numpy(), long[TIME].to_numpy()])
    return key.get_indexer(pd.MultiIndex.from_arrays([ids, as_times(times).to_numpy()]))


def origin_rows(long, origins, known=None):
    """The row of ``long`` at each forecast origin: origins [unique_id, cutoff] -> (ids (n,), rows (n,)).

    Errors name the origin at fault: a cutoff that is not a timestamp of its series, or (with
    ``known``, the ids the data holds) a series that is not in the data.
    """
    if not isinstance(origins, pd.DataFrame):
        raise TypeError(f"origins must be a DataFrame with columns [unique_id, cutoff], got {type(origins).__name__}")
    missing = [c for c in (ID, "cutoff") if c not in origins.columns]
    if missing:
        raise ValueError(f"origins is missing column(s) {missing}")
    ids = origins[ID].astype(str).to_numpy()
    if known is not None:
        unknown = sorted(set(ids) - set(known))
        if unknown:
            raise ValueError(f"origins name series not in the data: {unknown[:5]}")
    rows = rows_at(long, ids, origins["cutoff"])
    if (rows < 0).any():
        bad = origins.iloc[int(np.argmax(rows < 0))]
        raise ValueError(f"origin cutoff {bad['cutoff']} is not a timestamp of series {bad[ID]!r}")
    return ids, rows


def _integer_values(values):
    """An integer dtype, or objects that are all integers (not booleans)."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return False
    if pd.api.types.is_integer_dtype(dtype):
        return True
    return dtype == object and len(values) > 0 and pd.api.types.infer_dtype(values, skipna=True) == "integer"


@dataclass(frozen=True)
class FrameSpec:
    """How the user's frame names its columns and which kind it was (long | wide | series)."""

    id_col: str = ID
    time_col: str = TIME
    target_col: str = TARGET
    kind: str = "long"
    series_name: object = None
    id_kind: str = "str"  # "int" when the user's ids were integers: forecasts give them back as such
    columns: tuple = ()  # a wide frame's column order, kept in its forecasts

    @property
    def names(self):
        """{internal name: the user's name} of the id/time/target columns (for messages)."""
        if self.kind == "long":
            return {ID: self.id_col, TIME: self.time_col, TARGET: self.target_col}
        return {ID: "series", TIME: "index", TARGET: "value"}  # a wide frame's or Series' parts


def internal_names(df, spec):
    """A side frame (``X_future``) with the user's id/time column names mapped to the internal
    ones, as the main frame's are (``df`` unchanged when it already uses them)."""
    if df is None or not isinstance(df, pd.DataFrame):
        return df
    mapping = {user: internal for internal, user in spec.names.items()
               if user != internal and user in df.columns and internal not in df.columns}
    return df.rename(columns=mapping) if mapping else df


def with_target(X, y, target_col=TARGET):
    """scikit-learn's ``fit(X, y)``: a long frame ``X`` without its target, plus ``y`` row for row.

    Returns ``X`` with ``y`` as its ``target_col`` column (``X`` itself when ``y`` is None).
    """
    if y is None:
        return X
    if not isinstance(X, pd.DataFrame) or isinstance(X.index, pd.DatetimeIndex):
        raise TypeError("fit(X, y) takes a long frame X [unique_id, ds, <covariates>] and its target y row for "
                        "row; a wide frame or a Series carries its own values: call fit(data)")
    if target_col in X.columns:
        raise ValueError(f"fit(X, y): X already has a target column {target_col!r}; pass either X with it or y")
    values = y.to_numpy() if isinstance(y, (pd.Series, pd.DataFrame)) else np.asarray(y)
    values = values.reshape(len(values), -1) if values.ndim > 1 else values
    if values.ndim > 1 and values.shape[1] != 1:
        raise ValueError(f"fit(X, y): y must hold one target column, got shape {values.shape}")
    if len(values) != len(X):
        raise ValueError(f"fit(X, y): y has {len(values)} values for {len(X)} rows of X")
    return X.assign(**{target_col: values.ravel()})


def to_long(data, id_col=ID, time_col=TIME, target_col=TARGET):
    """Turn a long frame, a wide frame or a Series into the internal long frame.

    Parameters
    ----------
    data : DataFrame [id_col, time_col, target_col, ...] (long), DataFrame with a
        DatetimeIndex and one column per series (wide), or Series with a DatetimeIndex. An
        integer index (e.g. a RangeIndex) stands for integer time steps: always for a Series; for
        a frame when it has none of the id, time and target columns and only numeric columns
        (otherwise it is read as a long frame).

    Returns
    -------
    (DataFrame [unique_id, ds, y, ...], FrameSpec)
    """
    if isinstance(data, pd.Series):
        _require_datetime_index(data.index, "Series")
        name = data.name if data.name is not None else "series_0"
        df = pd.DataFrame({ID: str(name), TIME: data.index, TARGET: data.to_numpy()})
        return df, FrameSpec(id_col, time_col, target_col, "series", data.name)
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame or Series, got {type(data).__name__}")
    if (isinstance(data.index, pd.DatetimeIndex) and id_col not in data.columns) or _integer_wide(
            data, (id_col, time_col, target_col)):
        return _melt(data), FrameSpec(id_col, time_col, target_col, "wide", columns=tuple(map(str, data.columns)))
    if id_col in data.columns or time_col in data.columns:
        missing = [c for c in (id_col, time_col, target_col) if c not in data.columns]
        if missing:
            raise ValueError(f"long frame is missing column(s) {missing}; it has {list(data.columns)}")
        df = data.rename(columns={id_col: ID, time_col: TIME, target_col: TARGET})
        id_kind = "int" if pd.api.types.is_integer_dtype(data[id_col].dtype) else "str"
        return df, FrameSpec(id_col, time_col, target_col, "long", id_kind=id_kind)
    raise ValueError(
        f"cannot read the frame: a long frame needs columns [{id_col!r}, {time_col!r}, {target_col!r}] "
        f"(it has {list(data.columns)[:10]}), a wide frame needs a DatetimeIndex (or an integer index of "
        f"time steps and numeric columns only)"
    )


def _integer_wide(data, names):
    """A frame with an integer index (time steps), numeric columns only and no long-frame column names."""
    if not _integer_index(data.index) or len(data.columns) == 0 or any(c in data.columns for c in names):
        return False
    dtypes = data.dtypes
    return all(pd.api.types.is_numeric_dtype(d) and not pd.api.types.is_bool_dtype(d) for d in dtypes)


def _integer_index(index):
    return pd.api.types.is_integer_dtype(index.dtype) and not pd.api.types.is_bool_dtype(index.dtype)


def _melt(wide):
    """Long rows of a wide frame. Series of different lengths or starts are NaN-padded in a wide
    frame: each column's leading and trailing NaNs are dropped, NaNs between values are kept
    (validation or ``fill`` deal with them). An all-NaN column is an error naming it."""
    df = wide.sort_index()  # NaN padding is leading/trailing in time, whatever the row order
    df.columns = [str(c) for c in df.columns]
    if df.columns.duplicated().any():
        raise ValueError(f"wide frame: duplicate column name(s) {sorted(set(df.columns[df.columns.duplicated()]))} "
                         f"(as strings): each series needs its own column")
    empty = [c for c in df.columns if df[c].isna().all()]
    if empty:
        raise ValueError(f"wide frame: column(s) {empty[:5]} hold no values")
    valid = df.notna().to_numpy()
    inside = np.maximum.accumulate(valid, axis=0) & np.maximum.accumulate(valid[::-1], axis=0)[::-1]
    df.index = df.index.rename("__ds__")  # temporary names: a series may well be called "y" or "ds"
    long = df.reset_index().melt(id_vars="__ds__", var_name="__id__", value_name="__y__")
    long = long.loc[inside.ravel(order="F")]  # melt stacks column after column
    return long.rename(columns={"__id__": ID, "__ds__": TIME, "__y__": TARGET})[[ID, TIME, TARGET]]


def _require_datetime_index(index, what):
    if not isinstance(index, pd.DatetimeIndex) and not _integer_index(index):
        raise ValueError(f"{what} input needs a DatetimeIndex or an integer index (time steps), got "
                         f"{type(index).__name__} of {index.dtype}")


def from_long(fc, spec, value_col="y_pred"):
    """Return forecasts in the kind the user passed: long (user's column names), wide or Series."""
    if spec.kind == "long":
        if spec.id_kind == "int":
            fc = fc.assign(**{ID: fc[ID].astype("int64")})
        return fc.rename(columns={ID: spec.id_col, TIME: spec.time_col}).reset_index(drop=True)
    wide = fc.pivot(index=TIME, columns=ID, values=value_col)
    wide.columns.name = None
    order = [c for c in spec.columns if c in wide.columns]
    wide = wide[order + [c for c in wide.columns if c not in order]]
    wide.index.name = None
    if spec.kind == "series":
        out = wide.iloc[:, 0]
        out.name = spec.series_name if spec.series_name is not None else value_col
        return out
    return wide


def split_future(df, future_columns=(), id_col=ID, time_col=TIME, target_col=TARGET, where="data"):
    """Split a long frame into history and the future rows that carry covariates for the horizon.

    A data source for a model with future-known covariates (prices, promotions, holidays) holds,
    after each series' last observed target, rows whose target is missing but whose covariates
    are known: those trailing rows are the future (``X_future`` of ``RNNForecaster.predict``).
    A missing target *before* a series' last observed one stays in the history (validation or
    ``fill`` deal with it). Rows are matched per series in time order; the frame need not be sorted.

    Returns
    -------
    (history, future): history keeps every column; future is [id_col, time_col, *future_columns]
    (empty when no series has trailing rows).
    """
    missing = [c for c in (id_col, time_col, target_col, *future_columns) if c not in df.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {missing}; the frame has {list(df.columns)}")
    cols = [id_col, time_col, *future_columns]
    if df[target_col].notna().all():  # the usual case: no row can be a future row, and no sort is needed
        return df.reset_index(drop=True), df.iloc[:0][cols].reset_index(drop=True)
    times = df[time_col]
    if not pd.api.types.is_datetime64_any_dtype(times) and not pd.api.types.is_numeric_dtype(times):
        times = pd.to_datetime(times, errors="coerce")  # order strings by time, not alphabetically
    order = df.index[np.lexsort((times.to_numpy(), df[id_col].astype(str).to_numpy()))]
    ordered = df.loc[order]
    observed = ordered[target_col].notna()
    # a row is future when no observed target follows it (or is on it) within its series
    seen_after = observed[::-1].astype(int).groupby(ordered[id_col][::-1], sort=False).cumsum()[::-1]
    future_mask = pd.Series(False, index=df.index)
    future_mask.loc[order] = (seen_after == 0).to_numpy()
    history = df.loc[~future_mask]
    future = df.loc[future_mask, cols]
    return history.reset_index(drop=True), future.reset_index(drop=True)


def causal_fill(fill):
    """The fill to use on a frame that runs past forecast origins: forward-only, so no gap
    before an origin is filled from values after it ("interpolate" becomes "ffill")."""
    return "ffill" if fill == "interpolate" else fill


def validate(df, columns=(), fill=None, where="data", names=None):
    """Check and normalise an internal long frame; return it sorted with per-series frequencies.

    Parameters
    ----------
    df : DataFrame [unique_id, ds, y, *columns]
    columns : numeric covariate columns that must exist, be finite and have no NaN.
    fill : None (NaN in y is an error) | "ffill" | "interpolate" | "zero" (per series).
    names : {internal name: the user's name} of the id/time/target columns, for messages
        (e.g. ``FrameSpec.names``); messages say ``'sales'`` rather than ``'y'``.

    Returns
    -------
    (DataFrame sorted by [unique_id, ds], dict unique_id -> pandas offset alias)
    """
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {FILLS}, got {fill!r}")
    if len(df) == 0:
        raise ValueError(f"{where}: the frame is empty")
    names = names or {}
    missing = [c for c in (ID, TIME, TARGET, *columns) if c not in df.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {[names.get(c, c) for c in missing]}; the frame has "
                         f"{[_user_name(c, names) for c in df.columns]}")
    # A shallow copy: columns below are replaced, never written into, so the caller's arrays are shared
    # (copy-on-write) instead of duplicated -- on a 10^7-row panel that copy was the largest cost of fit.
    df = df[[ID, TIME, TARGET, *columns]].copy(deep=False)
    _check_present(df, ID, where, names)
    df[ID] = df[ID].astype(str)
    df[TIME] = parse_times(df[TIME], where, names.get(TIME, TIME))
    _check_present(df, TIME, where, names)
    if _sorted_runs(df) is None:
        df = df.sort_values([ID, TIME], kind="stable").reset_index(drop=True)
        _check_duplicates(df, where, names)
    else:  # already sorted with strictly increasing ds in each series: no sort, and no duplicate can exist
        df = df.reset_index(drop=True)
    df[TARGET] = _numeric(df, TARGET, where, names)
    if fill is not None:
        df[TARGET] = _fill(df, fill)
    _check_finite(df, TARGET, where, names, nan_hint=fill is None)
    for col in columns:
        df[col] = _numeric(df, col, where, names)
        _check_finite(df, col, where, names, nan_hint=False)
    return df, infer_frequencies(df, where)


def _user_name(col, names):
    """The user's name of an internal column: ``'y'`` -> ``'sales'`` when the frame came in that way."""
    return names.get(col, col)


def _check_present(df, col, where, names):
    missing = df[col].isna().to_numpy()
    if missing.any():
        row = int(np.argmax(missing))
        raise ValueError(f"{where}: column {_user_name(col, names)!r} has a missing value (None/NaN/NaT) at row {row} "
                         f"({int(missing.sum())} such row(s))")


def parse_times(ds, where, name=TIME):
    """Timestamps at nanosecond resolution (pandas 3 parses strings at other units), one zone; or
    int64 time steps when the column holds integers.

    Other numbers are refused, never read as timestamps: pandas would read 1949 or step 60 as
    nanoseconds after 1970 and every forecast would be silently dated 1970-01-01. Floats (even
    whole ones), booleans and integers mixed with timestamps are ambiguous and refused too.
    """
    if pd.api.types.is_datetime64_any_dtype(ds.dtype):
        return ds if ds.dt.unit == "ns" else ds.dt.as_unit("ns")  # no copy when already ns
    if isinstance(ds.dtype, pd.CategoricalDtype):
        ds = ds.astype(ds.cat.categories.dtype)
    if _integer_values(ds):
        return ds if ds.isna().any() else ds.astype("int64")  # missing values: validate names them
    kind = pd.api.types.infer_dtype(ds, skipna=True) if ds.dtype == object else None
    sample = ds.iloc[:3].tolist()
    if pd.api.types.is_bool_dtype(ds.dtype) or kind == "boolean":
        raise ValueError(f"{where}: column {name!r} holds booleans (e.g. {sample}), neither timestamps nor "
                         f"integer time steps")
    if pd.api.types.is_numeric_dtype(ds.dtype) or kind in ("floating", "mixed-integer-float", "decimal"):
        raise ValueError(
            f"{where}: column {name!r} holds non-integer numbers ({ds.dtype}, e.g. {sample}), neither timestamps "
            f"nor integer time steps; for time steps (positions 0, 1, 2, ...) cast whole numbers with "
            f"df[{name!r}].astype('int64'); convert dates to timestamps first")
    if kind == "mixed-integer":
        raise ValueError(f"{where}: column {name!r} mixes integers with other values (e.g. {sample}); use "
                         f"either timestamps or integer time steps throughout")
    if ds.dtype == object:
        zones = {getattr(v, "tzinfo", None) is not None for v in ds if isinstance(v, pd.Timestamp)}
        if len(zones) > 1:
            raise ValueError(f"{where}: column {name!r} mixes time-zone-aware and naive timestamps")
        tzs = {str(v.tzinfo) for v in ds if isinstance(v, pd.Timestamp) and v.tzinfo is not None}
        if len(tzs) > 1:
            raise ValueError(f"{where}: column {name!r} mixes time zones {sorted(tzs)}; convert to one zone")
    try:
        return pd.to_datetime(ds).dt.as_unit("ns")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where}: column {name!r} cannot be read as timestamps ({exc})") from None


def _check_duplicates(df, where, names):
    dup = df.duplicated([ID, TIME])
    if dup.any():
        row = df.loc[dup.idxmax()]
        raise ValueError(
            f"{where}: duplicate ({_user_name(ID, names)}, {_user_name(TIME, names)}) = ({row[ID]!r}, {row[TIME]}); "
            f"{int(dup.sum())} duplicate row(s) in all"
        )


def _numeric(df, col, where, names):
    if df[col].dtype == np.float64:
        return df[col]  # nothing to convert; avoids a copy of the column
    if pd.api.types.is_bool_dtype(df[col].dtype):
        raise ValueError(f"{where}: column {_user_name(col, names)!r} holds booleans, not numbers; "
                         f"cast it with .astype(float) if 0/1 values are meant")
    try:
        return pd.to_numeric(df[col]).astype("float64")
    except (ValueError, TypeError):
        bad = df.loc[pd.to_numeric(df[col], errors="coerce").isna() & df[col].notna()].iloc[0]
        raise ValueError(
            f"{where}: column {_user_name(col, names)!r} must be numeric; series {bad[ID]!r} has {bad[col]!r} at {bad[TIME]}"
        ) from None


def _check_finite(df, col, where, names, nan_hint):
    values = df[col].to_numpy()
    nan, inf = np.isnan(values), np.isinf(values)
    if nan.any():
        row = df.loc[int(np.argmax(nan))]
        hint = " (pass fill='ffill'|'interpolate'|'zero' to fill target gaps)" if nan_hint else ""
        raise ValueError(f"{where}: column {_user_name(col, names)!r} has NaN in series {row[ID]!r} at {row[TIME]}{hint}")
    if inf.any():
        row = df.loc[int(np.argmax(inf))]
        raise ValueError(f"{where}: column {_user_name(col, names)!r} has an infinite value in series {row[ID]!r} at {row[TIME]}")


def _fill(df, how):
    y = df.groupby(ID, sort=False)[TARGET]
    if how == "ffill":
        return y.ffill().fillna(df[TARGET].groupby(df[ID]).bfill())
    if how == "interpolate":
        return y.transform(lambda s: s.interpolate(limit_direction="both"))
    return df[TARGET].fillna(0.0)


def infer_frequencies(df, where="data"):
    """Infer each series' frequency from ``ds`` and reject gaps or irregular steps.

    Returns dict unique_id -> offset alias (:data:`INTEGER_FREQ` for integer time steps). A series
    with a single row cannot show a frequency; it takes the frequency shared by the others (an
    error if there are none).
    """
    if df[TIME].dtype == np.int64:
        return _integer_steps(df, where)
    fast = _regular_frequencies(df, where)
    if fast is not None:
        return fast
    freqs, undecided = {}, []
    for uid, ds in df.groupby(ID, sort=False)[TIME]:
        idx = pd.DatetimeIndex(ds.to_numpy() if ds.dt.tz is None else ds)
        if len(idx) < 3:
            undecided.append(uid)
            continue
        freqs[uid] = _series_freq(uid, idx, where)
    return _share_frequency(freqs, undecided, where)


def _integer_steps(df, where):
    """Integer time steps must step by exactly 1 within each series (frame sorted by id, then ds)."""
    steps = df[TIME].groupby(df[ID], sort=False).diff()
    bad = (steps.notna() & (steps != 1)).to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        uid, ds = df[ID].iloc[i], df[TIME].to_numpy()
        own = steps[df[ID] == uid].dropna()
        if own.nunique() == 1:
            raise ValueError(f"{where}: series {uid!r} steps by {int(own.iloc[0])} in its integer time column; integer "
                             f"time steps are positions that step by 1: divide them by {int(own.iloc[0])}, or use "
                             f"timestamps")
        raise ValueError(
            f"{where}: series {uid!r} has a gap or irregular integer time step at {int(ds[i])} (expected "
            f"{int(ds[i - 1]) + 1}, the next position after {int(ds[i - 1])}); integer time steps must be consecutive: "
            f"for missing observations add their rows with an empty target and choose fill='ffill'|'interpolate'|"
            f"'zero'; if the integers are years or dates, convert them to timestamps")
    return dict.fromkeys(pd.unique(df[ID].to_numpy()), INTEGER_FREQ)


def _share_frequency(freqs, undecided, where):
    """Series too short to show a frequency take the one all others share (an error otherwise)."""
    common = set(freqs.values())
    for uid in undecided:
        if len(common) != 1:
            raise ValueError(f"{where}: series {uid!r} has fewer than 3 rows; its frequency cannot be inferred")
        freqs[uid] = next(iter(common))
    return freqs


def _regular_frequencies(df, where):
    """:func:`infer_frequencies` for frames sorted by id with naive timestamps, in vectorised passes.

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
            undecided.append(uid)
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
    return _sorted_runs(df, strict=False)


def _sorted_runs(df, strict=True):
    """(starts, ends) of each series' rows when ``df`` is sorted by string id (ascending, contiguous)
    and, with ``strict``, by strictly increasing naive (or integer) ``ds`` within each series; else None."""
    ids, ds = df[ID], df[TIME]
    if len(df) == 0 or not pd.api.types.is_string_dtype(ids.dtype) or ids.isna().any():
        return None
    if strict and (not (pd.api.types.is_datetime64_dtype(ds.dtype) or ds.dtype == np.int64) or ds.isna().any()):
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
    """(min, max) step between consecutive timestamps of each series (meaningless for 1-row series)."""
    lo, hi = np.zeros(len(starts), np.int64), np.zeros(len(starts), np.int64)
    s0 = 0
    while s0 < len(starts):
        s1 = max(s0 + 1, int(np.searchsorted(ends, starts[s0] + _CHUNK, side="right")))
        a = starts[s0]
        d = np.diff(ticks[a : ends[s1 - 1]])  # d[i] = t[i+1] - t[i], rows relative to a
        if len(d):
            seg = np.minimum(starts[s0:s1] - a, len(d) - 1)
            cross = ends[s0 : s1 - 1] - 1 - a  # the step from one series into the next must not count:
            d[cross] = d[seg[:-1]]  # it takes the value of that series' first step
            lo[s0:s1], hi[s0:s1] = np.minimum.reduceat(d, seg), np.maximum.reduceat(d, seg)
        s0 = s1
    return lo, hi


def _infer_freq(idx):
    """pd.infer_freq as an alias string, on pandas 2 and 3 alike (3.1 warns about returning offsets)."""
    try:
        with pd.option_context("future.infer_freq_returns_offset", True):
            freq = pd.infer_freq(idx)
    except (KeyError, pd.errors.OptionError):
        freq = pd.infer_freq(idx)
    return freq if freq is None or isinstance(freq, str) else freq.freqstr  # older pandas: already a str


def _series_freq(uid, idx, where):
    freq = _infer_freq(idx)
    if freq is not None:
        return freq
    # Irregular: find the most common step, then the first timestamp that breaks it.
    steps = idx[1:] - idx[:-1]
    step = pd.Series(steps).mode().iloc[0]
    guess = _infer_freq(idx[:3]) if len(idx) >= 3 else None
    expected = pd.date_range(idx[0], periods=len(idx), freq=guess or step)
    bad = int(np.argmax(idx != expected))
    raise ValueError(
        f"{where}: series {uid!r} has a gap or irregular timestamp at {idx[bad]} "
        f"(expected {expected[bad]} for frequency {guess or step}); for missing observations, add their "
        f"rows with an empty target (e.g. reindex each series to pd.date_range(start, end, freq=...)) and "
        f"choose fill='ffill'|'interpolate'|'zero': fill completes values, it does not invent rows"
    )


def future_dates(last, freq, horizon):
    """The ``horizon`` timestamps after ``last`` at ``freq`` (int64 steps ``last + 1 ..`` for integer time)."""
    if is_integer_freq(freq):
        return pd.Index(np.arange(int(last) + 1, int(last) + horizon + 1, dtype=np.int64))
    return pd.date_range(last, periods=horizon + 1, freq=freq)[1:].as_unit("ns")


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
    feats = [f(2 * np.pi * np.asarray(v, dtype=np.float64) / period) for v, period in cycles for f in (np.sin, np.cos)]
    return np.stack(feats, axis=1).astype(np.float32)


def n_calendar_features(freq):
    """Width of :func:`calendar_features` for ``freq``."""
    return calendar_features(pd.DatetimeIndex(["2000-01-03"]), freq).shape[1]
