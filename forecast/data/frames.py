"""pandas in and out: input kinds, validation and calendar features.

Every public entry point converts what the user passed (a long frame, a wide frame or a Series)
into the internal long frame ``[unique_id, ds, y, <covariates>]``, sorted, with one validated
frequency per series (``forecast.data.frequencies``: timestamps or integer time steps). Errors
are ``ValueError`` naming the column, series and value at fault.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.data.columns import ID, TARGET, TIME, check_single, to_internal
from forecast.data.history import validate  # noqa: F401 - frames.validate, as callers know it
from forecast.data.lookup import series_rows
from forecast.data.values import (  # noqa: F401 - parse_times: here too
    integer_values,
    parse_times,
    times_like,
)


def as_times(values):
    """Time values for ordering and lookups: int64 steps when they are integers, else datetimes.

    Lenient (``pd.to_datetime`` for anything else): it does not validate, :func:`parse_times` does.
    """
    values = values if isinstance(values, pd.Series) else pd.Series(values)
    if integer_values(values):
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


def rows_at(long, ids, times, where="origins", name="cutoff"):
    """(n,) row of ``long`` at each (id, time) pair, -1 where it has none; ``times`` are read as
    ``long``'s times are (:func:`~forecast.data.values.times_like`: errors name ``name``). Found
    by bisection in each series' rows (:mod:`forecast.data.lookup`), not a per-row index."""
    rows = series_rows(long[ID], as_times(long[TIME]))
    times = times_like(times, long[TIME], where, name)
    twice = rows.duplicate()
    if twice is not None:
        raise ValueError(f"series {long[ID].iloc[twice]!r} has time {long[TIME].iloc[twice]} twice")
    return rows.rows(ids, times)


def origin_rows(long, origins, known=None):
    """The row of ``long`` at each forecast origin: origins [unique_id, cutoff] -> (ids (n,),
    rows (n,)).

    Errors name the origin at fault: a cutoff that is not a timestamp of its series, or (with
    ``known``, the ids the data holds) a series that is not in the data.
    """
    if not isinstance(origins, pd.DataFrame):
        raise TypeError(
            "origins must be a DataFrame with columns [unique_id, cutoff], got "
            f"{type(origins).__name__}"
        )
    missing = [c for c in (ID, "cutoff") if c not in origins.columns]
    if missing:
        raise ValueError(f"origins is missing column(s) {missing}")
    if len(origins) == 0:
        raise ValueError(
            "origins is empty: give at least one row [unique_id, cutoff] to forecast from"
        )
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


@dataclass(frozen=True)
class FrameSpec:
    """How the user's frame names its columns and which kind it was (long | wide | series)."""

    id_col: str = ID
    time_col: str = TIME
    target_col: str = TARGET
    kind: str = "long"
    series_name: object = None
    # "int" ("uint") when the user's ids were (unsigned) integers: forecasts give them back as such
    id_kind: str = "str"
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
    mapping = {
        user: internal
        for internal, user in spec.names.items()
        if user != internal and user in df.columns
    }
    return to_internal(df, mapping) if mapping else df


def with_target(X, y, target_col=TARGET):
    """scikit-learn's ``fit(X, y)``: a long frame ``X`` without its target, plus ``y`` row for row.

    Returns ``X`` with ``y`` as its ``target_col`` column (``X`` itself when ``y`` is None).
    """
    if y is None:
        return X
    if not isinstance(X, pd.DataFrame) or isinstance(X.index, pd.DatetimeIndex):
        raise TypeError(
            "fit(X, y) takes a long frame X [unique_id, ds, <covariates>] and its target y row for "
            "row; a wide frame or a Series carries its own values: call fit(data)"
        )
    if target_col in X.columns:
        raise ValueError(
            f"fit(X, y): X already has a target column {target_col!r}; pass either X with it or y"
        )
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
        data, (id_col, time_col, target_col)
    ):
        return _melt(data), FrameSpec(
            id_col, time_col, target_col, "wide", columns=tuple(map(str, data.columns))
        )
    if id_col in data.columns or time_col in data.columns:
        missing = [c for c in (id_col, time_col, target_col) if c not in data.columns]
        if missing:
            raise ValueError(
                f"long frame is missing column(s) {missing}; it has {list(data.columns)}"
            )
        check_single(data, (id_col, time_col, target_col), "long frame")
        df = to_internal(data, {id_col: ID, time_col: TIME, target_col: TARGET})
        id_kind = _id_kind(data[id_col].dtype)
        return df, FrameSpec(id_col, time_col, target_col, "long", id_kind=id_kind)
    raise ValueError(
        f"cannot read the frame: a long frame needs columns [{id_col!r}, {time_col!r}, "
        f"{target_col!r}] (it has {list(data.columns)[:10]}), a wide frame needs a DatetimeIndex "
        f"(or an integer index of time steps and numeric columns only)"
    )


def _id_kind(dtype):
    if pd.api.types.is_unsigned_integer_dtype(dtype):
        return "uint"
    return "int" if pd.api.types.is_integer_dtype(dtype) else "str"


def _integer_wide(data, names):
    """A frame with an integer index (time steps), numeric columns only and no long-frame column
    names.
    """
    if (
        not _integer_index(data.index)
        or len(data.columns) == 0
        or any(c in data.columns for c in names)
    ):
        return False
    dtypes = data.dtypes
    return all(
        pd.api.types.is_numeric_dtype(d) and not pd.api.types.is_bool_dtype(d) for d in dtypes
    )


def _integer_index(index):
    return pd.api.types.is_integer_dtype(index.dtype) and not pd.api.types.is_bool_dtype(
        index.dtype
    )


def _melt(wide):
    """Long rows of a wide frame. Series of different lengths or starts are NaN-padded in a wide
    frame: each column's leading and trailing NaNs are dropped, NaNs between values are kept
    (validation or ``fill`` deal with them). An all-NaN column is an error naming it."""
    df = wide.sort_index()  # NaN padding is leading/trailing in time, whatever the row order
    df.columns = [str(c) for c in df.columns]
    if df.columns.duplicated().any():
        raise ValueError(
            f"wide frame: duplicate column name(s) "
            f"{sorted(set(df.columns[df.columns.duplicated()]))} (as strings): each series needs "
            f"its own column"
        )
    empty = [c for c in df.columns if df[c].isna().all()]
    if empty:
        raise ValueError(f"wide frame: column(s) {empty[:5]} hold no values")
    valid = df.notna().to_numpy()
    inside = np.maximum.accumulate(valid, axis=0) & np.maximum.accumulate(valid[::-1], axis=0)[::-1]
    df.index = df.index.rename("__ds__")  # temporary names: a series may well be called "y" or "ds"
    long = df.reset_index().melt(id_vars="__ds__", var_name="__id__", value_name="__y__")
    long = long.loc[inside.ravel(order="F")]  # melt stacks column after column
    if df.index.has_duplicates:  # a time twice, one copy empty: that one is padding (two values
        twice, valued = long.duplicated(["__id__", "__ds__"], keep=False), long["__y__"].notna()
        has_value = valued.groupby([long["__id__"], long["__ds__"]]).transform("any")
        long = long.loc[~(twice & ~valued & has_value)]  # at one time stay: refused)
    return long.rename(columns={"__id__": ID, "__ds__": TIME, "__y__": TARGET})[[ID, TIME, TARGET]]


def _require_datetime_index(index, what):
    if not isinstance(index, pd.DatetimeIndex) and not _integer_index(index):
        raise ValueError(
            f"{what} input needs a DatetimeIndex or an integer index (time steps), got "
            f"{type(index).__name__} of {index.dtype}"
        )


def from_long(fc, spec, value_col="y_pred"):
    """Return forecasts in the kind the user passed: long (user's column names), wide or Series.

    With more value columns than ``value_col`` (quantiles, intervals): a wide answer has columns
    (column, series), so ``out["y_pred"]`` is the plain wide frame; a Series answer becomes a
    DataFrame of those columns. ``spec=None``: the long frame as it is.
    """
    if spec is None:
        return fc.reset_index(drop=True)
    if spec.kind == "long":
        if spec.id_kind in ("int", "uint"):  # uint64 ids above 2**63 do not fit int64
            fc = fc.assign(**{ID: fc[ID].astype("uint64" if spec.id_kind == "uint" else "int64")})
        names = {k: v for k, v in ((ID, spec.id_col), (TIME, spec.time_col)) if k != v}
        return (fc.rename(columns=names) if names else fc).reset_index(drop=True)
    values = [c for c in fc.columns if c not in (ID, TIME, "cutoff")]
    if len(values) > 1:
        if spec.kind == "series":
            out = fc.set_index(TIME)[values]
            out.index.name = None
            return out
        wide = fc.pivot(index=TIME, columns=ID, values=values)
        order = [c for c in spec.columns if c in wide.columns.get_level_values(1)]
        wide = wide.reindex(columns=pd.MultiIndex.from_product([values, order]))
        wide.index.name, wide.columns.names = None, [None, None]
        return wide
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


def causal_fill(fill):
    """The fill to use on a frame that runs past forecast origins: forward-only, so no gap
    before an origin is filled from values after it ("interpolate" becomes "ffill")."""
    return "ffill" if fill == "interpolate" else fill
