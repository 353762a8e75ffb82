"""Column checks of the validation (``forecast.data.frames.validate``): time columns parsed as
nanosecond timestamps or integer time steps, value columns as real float64 numbers that are
finite and within the float32 range the network computes in. Errors are ``ValueError`` naming
the column (by the user's name), and the series, timestamp and value at fault where there is one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.data.columns import ID, TIME

FLOAT32_MAX = float(np.finfo(np.float32).max)  # the network computes in float32


def integer_values(values):
    """An integer dtype, or objects that are all integers (not booleans)."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return False
    if pd.api.types.is_integer_dtype(dtype):
        return True
    return (
        dtype == np.dtype(object)
        and len(values) > 0
        and pd.api.types.infer_dtype(values, skipna=True) == "integer"
    )


def parse_times(ds, where, name=TIME):
    """Timestamps at nanosecond resolution (pandas 3 parses strings at other units), one zone; or
    int64 time steps when the column holds integers.

    Other numbers are refused, never read as timestamps: pandas would read 1949 or step 60 as
    nanoseconds after 1970 and every forecast would be silently dated 1970-01-01. Floats (even
    whole ones), booleans and integers mixed with timestamps are ambiguous and refused too.
    """
    if pd.api.types.is_datetime64_any_dtype(ds.dtype):
        return _nanoseconds(ds, where, name)
    if isinstance(ds.dtype, pd.CategoricalDtype):
        ds = ds.astype(ds.cat.categories.dtype)
    if integer_values(ds):
        return ds if ds.isna().any() else ds.astype("int64")  # missing values: validate names them
    kind = pd.api.types.infer_dtype(ds, skipna=True) if ds.dtype == object else None
    sample = ds.iloc[:3].tolist()
    if pd.api.types.is_bool_dtype(ds.dtype) or kind == "boolean":
        raise ValueError(
            f"{where}: column {name!r} holds booleans (e.g. {sample}), neither timestamps nor "
            f"integer time steps"
        )
    if pd.api.types.is_numeric_dtype(ds.dtype) or kind in (
        "floating",
        "mixed-integer-float",
        "decimal",
    ):
        raise ValueError(
            f"{where}: column {name!r} holds non-integer numbers ({ds.dtype}, e.g. {sample}), "
            "neither timestamps "
            "nor integer time steps; for time steps (positions 0, 1, 2, ...) cast whole numbers "
            "with "
            f"df[{name!r}].astype('int64'); convert dates to timestamps first"
        )
    if kind == "mixed-integer":
        raise ValueError(
            f"{where}: column {name!r} mixes integers with other values (e.g. {sample}); use "
            f"either timestamps or integer time steps throughout"
        )
    if ds.dtype == object:
        zones = {getattr(v, "tzinfo", None) is not None for v in ds if isinstance(v, pd.Timestamp)}
        if len(zones) > 1:
            raise ValueError(f"{where}: column {name!r} mixes time-zone-aware and naive timestamps")
        tzs = {str(v.tzinfo) for v in ds if isinstance(v, pd.Timestamp) and v.tzinfo is not None}
        if len(tzs) > 1:
            raise ValueError(
                f"{where}: column {name!r} mixes time zones {sorted(tzs)}; convert to one zone"
            )
    try:
        parsed = pd.to_datetime(ds)
    except (ValueError, TypeError, OverflowError) as exc:
        if "Mixed timezones" in str(
            exc
        ):  # e.g. text with +01:00 and +02:00, either side of a daylight-saving change
            raise ValueError(
                f"{where}: column {name!r} holds timestamps with different UTC offsets (e.g. "
                f"{sample}); read them with pd.to_datetime(..., utc=True) and convert to your time "
                f"zone with .dt.tz_convert(zone)"
            ) from None
        raise ValueError(f"{where}: column {name!r} cannot be read as timestamps ({exc})") from None
    return _nanoseconds(parsed, where, name)


def _nanoseconds(ds, where, name):
    """Timestamps at nanosecond resolution (no copy when they are); dates outside its range
    (1677-09-21 .. 2262-04-11) are refused, naming the column and its first and last timestamp."""
    if ds.dt.unit == "ns":
        return ds
    try:
        return ds.dt.as_unit("ns")
    except (pd.errors.OutOfBoundsDatetime, OverflowError):
        raise ValueError(
            f"{where}: column {name!r} runs from {ds.min()} to {ds.max()}, outside the range of "
            f"nanosecond timestamps ({pd.Timestamp.min} .. {pd.Timestamp.max}) this library "
            f"works in"
        ) from None


def times_like(values, ds, where="origins", name="cutoff"):
    """``values`` (e.g. forecast origins' cutoffs) read as times of the validated time column
    ``ds``: int64 steps for integer time steps, else nanosecond timestamps in ``ds``'s zone.

    Text or timestamps with different UTC offsets (a series crossing a daylight-saving change)
    are read as the instants they name. Numbers for timestamps (or the reverse), naive times
    for zoned data (or the reverse) and text that is no time are refused, naming ``name``.
    """
    values = values.reset_index(drop=True) if isinstance(values, pd.Series) else pd.Series(values)
    sample = values.iloc[:3].tolist()
    missing = values.isna().to_numpy()
    if missing.any():
        raise ValueError(
            f"{where}: column {name!r} has a missing value (None/NaN/NaT) at row "
            f"{int(np.argmax(missing))}"
        )
    if ds.dtype == np.int64 or integer_values(values):
        if ds.dtype == np.int64 and integer_values(values):
            return values.astype("int64")
        want = "integer time steps" if ds.dtype == np.int64 else "timestamps"
        raise ValueError(
            f"{where}: column {name!r} must hold {want} like the data's time column, got "
            f"{values.dtype} (e.g. {sample})"
        )
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        raise ValueError(
            f"{where}: column {name!r} holds {values.dtype} values (e.g. {sample}), not timestamps"
        )
    try:
        parsed = pd.to_datetime(values)
    except (ValueError, TypeError, OverflowError):
        parsed = _instants(values, where, name)
    zone = ds.dt.tz
    if (parsed.dt.tz is None) != (zone is None):
        raise ValueError(
            f"{where}: column {name!r} holds "
            f"{'naive times' if zone is not None else 'times with a UTC offset'} (e.g. {sample}), "
            f"the data's times are {f'in zone {zone}' if zone is not None else 'naive'}: give "
            f"them {'with' if zone is not None else 'without'} a zone or offset"
        )
    if zone is not None:
        parsed = parsed.dt.tz_convert(zone)
    try:
        return parsed.dt.as_unit(ds.dt.unit)  # the data's unit: lookups compare equal values
    except (pd.errors.OutOfBoundsDatetime, OverflowError):
        raise ValueError(
            f"{where}: column {name!r} runs from {parsed.min()} to {parsed.max()}, outside the "
            f"range of the data's timestamps"
        ) from None


def _instants(values, where, name):
    """Time values pandas cannot read as one column (different UTC offsets, mixed formats), read
    one by one: aware ones as instants (UTC), naive ones as they are; a mix, or text that is no
    time, is refused naming ``name``."""
    stamps = []
    for value in values:
        try:
            stamps.append(pd.Timestamp(value))
        except (ValueError, TypeError, OverflowError):
            raise ValueError(
                f"{where}: column {name!r} holds {value!r}, which cannot be read as a timestamp"
            ) from None
    aware = {t.tz is not None for t in stamps if t is not pd.NaT}
    if len(aware) > 1:
        raise ValueError(
            f"{where}: column {name!r} mixes times with a zone or UTC offset and naive times "
            f"(e.g. {values.iloc[:3].tolist()}); use one kind throughout"
        )
    return pd.Series(pd.to_datetime(stamps, utc=aware == {True}))


def numeric(df, col, where, names):
    """The column as float64; anything that is not a real number is refused, naming it."""
    column = df[col]
    if column.dtype == np.float64:
        return column  # nothing to convert; avoids a copy of the column
    kind = pd.api.types.infer_dtype(column, skipna=True) if column.dtype == object else None
    if pd.api.types.is_bool_dtype(column.dtype) or kind == "boolean":
        raise ValueError(
            f"{where}: column {names.get(col, col)!r} holds booleans, not numbers; "
            f"cast it with .astype(float) if 0/1 values are meant"
        )
    if kind in ("mixed", "mixed-integer"):  # pandas would read True/False among them as 1/0
        flags = np.fromiter((isinstance(v, (bool, np.bool_)) for v in column), bool, len(column))
        if flags.any():
            bad = df.iloc[int(np.argmax(flags))]
            raise ValueError(
                f"{where}: column {names.get(col, col)!r} mixes booleans with numbers; series "
                f"{bad[ID]!r} has {bad[col]!r} at {bad[TIME]} (cast the column to numbers first "
                f"if 0/1 values are meant)"
            )
    what, converted = _not_real(column.dtype, kind), None
    if not what:
        try:
            converted = pd.to_numeric(column)
        except (ValueError, TypeError, OverflowError):
            _refuse_value(df, col, where, names)
        what = _not_real(
            converted.dtype, None
        )  # e.g. complex numbers among floats in an object column
    if what:
        raise ValueError(
            f"{where}: column {names.get(col, col)!r} holds {what} ({column.dtype}, e.g. "
            f"{column.dropna().iloc[:2].tolist()}), not real numbers"
        )
    return converted.astype("float64")


def _refuse_value(df, col, where, names):
    """Raise the error naming the first value of ``df[col]`` that is not a number (series, time,
    value)."""
    column = df[col]
    rows = np.flatnonzero(
        (pd.to_numeric(column, errors="coerce").isna() & column.notna()).to_numpy()
    )
    if len(rows) == 0:  # no single value to blame (e.g. complex numbers among text)
        raise ValueError(
            f"{where}: column {names.get(col, col)!r} must hold real numbers; it holds e.g. "
            f"{column.dropna().iloc[:3].tolist()}"
        ) from None
    bad = df.iloc[rows[0]]
    raise ValueError(
        f"{where}: column {names.get(col, col)!r} must be numeric; series {bad[ID]!r} has "
        f"{bad[col]!r} at {bad[TIME]}"
    ) from None


def _not_real(dtype, kind):
    """What a column holds when it is complex, a duration or a date (read as numbers they would
    be wrong)."""
    if pd.api.types.is_complex_dtype(dtype) or kind == "complex":
        return "complex numbers"
    if pd.api.types.is_timedelta64_dtype(dtype) or kind in ("timedelta", "timedelta64"):
        return "durations (timedeltas)"
    if (
        pd.api.types.is_datetime64_any_dtype(dtype)
        or isinstance(dtype, pd.PeriodDtype)
        or kind in ("datetime", "datetime64", "date", "period")
    ):
        return "dates"
    return None


def check_ids(ids, where, name):
    """Ids of mixed types must stay apart once read as text (1 and "1" would merge into one
    series)."""
    if ids.dtype != object or pd.api.types.infer_dtype(ids, skipna=True) in ("string", "integer"):
        return
    raw = pd.unique(ids.dropna())
    text = pd.Series(raw, dtype=object).astype(str)
    same = text.duplicated(keep=False).to_numpy()
    if same.any():
        raise ValueError(
            f"{where}: column {name!r} holds ids that are equal as text, {list(raw[same][:4])}: "
            f"series are told apart by their ids as text; make each id distinct"
        )


def check_finite(df, col, where, names, nan_hint):
    values = df[col].to_numpy()
    nan, inf = np.isnan(values), np.isinf(values)
    if nan.any():
        row = df.loc[int(np.argmax(nan))]
        hint = " (pass fill='ffill'|'interpolate'|'zero', --fill in the CLI, to fill target gaps)"
        hint = hint if nan_hint else ""
        raise ValueError(
            f"{where}: column {names.get(col, col)!r} has NaN in series {row[ID]!r} at "
            f"{row[TIME]}{hint}"
        )
    if inf.any():
        row = df.loc[int(np.argmax(inf))]
        raise ValueError(
            f"{where}: column {names.get(col, col)!r} has an infinite value in series {row[ID]!r} "
            f"at {row[TIME]}"
        )
    huge = np.abs(values) > FLOAT32_MAX
    if huge.any():  # beyond float32 the scalers' statistics and the network overflow to inf
        row = df.loc[int(np.argmax(huge))]
        raise ValueError(
            f"{where}: column {names.get(col, col)!r} has value {float(row[col])!r} in series "
            f"{row[ID]!r} at "
            f"{row[TIME]}, beyond the float32 range (+-{FLOAT32_MAX:.3g}) the network computes in: "
            f"rescale the column (e.g. divide it by a power of ten)"
        )
