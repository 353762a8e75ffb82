"""A data source's history, checked once: the user's column names mapped to the internal ones,
the frame validated, every series' frequency inferred, and the result compared with a fitted
model's series when there is one.

Orchestration (``pipelines/``) reads a file or a table, then makes one call here
(:func:`check_history`) and carries the returned :class:`History` on: the validated frame, its
frequencies and the user's names travel together, so nothing downstream renames, re-validates
or re-infers. Errors name the user's own columns (``'sales'``, not ``'y'``).
Imports: numpy, pandas and ``forecast.data`` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast.choices import FILLS
from forecast.data.calendar import past_dates
from forecast.data.columns import ID, TARGET, TIME, check_single, to_internal
from forecast.data.frequencies import infer_frequencies, sorted_runs
from forecast.data.values import check_finite, check_ids, numeric, parse_times


@dataclass(frozen=True)
class History:
    """A validated history: ``frame`` [unique_id, ds, y, *columns] sorted by (unique_id, ds),
    ``freqs`` {unique_id: frequency} and ``names`` {internal name: the user's name}."""

    frame: pd.DataFrame
    freqs: dict
    names: dict = field(default_factory=dict)

    def renamed(self, frame):
        """``frame`` (e.g. forecasts) with the id/time/target columns under the user's names."""
        return renamed(frame, self.names)


def renamed(frame, names):
    """``frame`` with its internal id/time/target columns under the user's ``names``
    ({internal: the user's name}; None or empty: ``frame`` as it is)."""
    if not names:
        return frame
    return frame.rename(columns={k: v for k, v in names.items() if k in frame.columns})


def column_names(id_col=ID, time_col=TIME, target_col=TARGET):
    """{internal name: the data's name} of the id/time/target columns."""
    return {ID: id_col, TIME: time_col, TARGET: target_col}


def standard_columns(
    df,
    where,
    series,
    id_col=ID,
    time_col=TIME,
    target_col=TARGET,
    columns=(),
    single=None,
    hint="",
):
    """``df`` with its id/time/target columns renamed to [unique_id, ds, y] and ``ds`` parsed.

    ``target_col`` None: a frame without a target (future covariates); ``columns``: more columns
    it must have. ``single``: the frame is one series named ``series`` (default: no id column was
    asked for and none is present). ``hint`` ends the missing-column error (how to name columns).
    """
    if single is None:
        single = id_col == ID and id_col not in df.columns
    named = [c for c in (time_col, target_col, *columns) if c is not None]
    missing = [c for c in ([] if single else [id_col]) + named if c not in df.columns]
    if missing:
        optional = " (optional: without it, one series)" if single else ""
        expected = ", ".join([f"{id_col}{optional}", *named])
        raise ValueError(
            f"{where}: missing column(s) {missing}; expected {expected}; found {list(df.columns)}"
            + (f" ({hint})" if hint else "")
        )
    df = to_internal(df, {id_col: ID, time_col: TIME, target_col: TARGET})
    if single:
        df = df.drop(columns=[ID], errors="ignore")  # a stray column of that name: not the ids
        df.insert(0, ID, str(series))
    df[TIME] = parse_times(df[TIME], where, time_col)
    return df


def check_history(df, columns=(), fill=None, names=None, min_length=1, where="data", fitted=None):
    """Validate a long frame once and infer its frequencies once: a :class:`History`.

    Parameters
    ----------
    df : DataFrame [unique_id, ds, y, *columns] (internal names; :func:`standard_columns`).
    columns : covariate columns that must be present, numeric and finite.
    fill : None (a NaN target is an error) | "ffill" | "interpolate" | "zero".
    names : {internal: the user's name} of the id/time/target columns, for messages.
    min_length : the fewest points a series may have (:func:`check_lengths`).
    fitted : a fitted model's state (``FittedState``: ``mismatch``); the data must hold exactly
        its series at its frequencies (:func:`check_matches`).
    """
    names = dict(names or {})
    known = fitted.freqs if fitted is not None else None
    long, freqs = validate(df, list(columns), fill=fill, where=where, names=names, freqs=known)
    check_lengths(long, min_length, where)
    history = History(long, freqs, names)
    if fitted is not None:
        check_matches(history, fitted)
    return history


def check_lengths(df, min_length, where="data", needed=""):
    """Refuse a validated long frame with a series shorter than ``min_length``, naming it;
    ``needed`` says what the length is made of."""
    sizes = df.groupby(ID, sort=False).size()
    short = sizes[sizes < min_length]
    if len(short):
        raise ValueError(
            f"{where}: series {short.index[0]!r} has {short.iloc[0]} points, fewer than the "
            f"{min_length} needed{f' ({needed})' if needed else ''}; {len(short)} such series"
        )


def check_matches(history, fitted):
    """Refuse a :class:`History` whose series or frequencies differ from a fitted model's
    (``fitted.mismatch``), from the frequencies already inferred."""
    found = fitted.mismatch(dict.fromkeys(history.freqs))
    if found.unknown or found.missing:
        raise ValueError(
            f"data does not match the model: series not seen in training "
            f"{sorted(map(str, found.unknown))[:5]}, series of the model missing from the data "
            f"{sorted(map(str, found.missing))[:5]}"
        )
    other = fitted.mismatch(history.freqs).frequencies
    if other:
        uid, freq, want = other[0]
        raise ValueError(
            f"data does not match the model: series {uid!r} has frequency {freq!r}, the model was "
            f"fitted at {want!r}"
        )


def tail_frame(tail, columns, lookback, names=None, n_series=3):
    """The last ``lookback`` rows of the first ``n_series`` series of a fitted tail (``Tail``:
    ``data`` (S, L, F), ``ids``, ``last_ds``, ``freqs``) as a long frame [id, time, *columns]
    under the user's ``names``; ``columns`` name the tail's first features (target first)."""
    parts = []
    for s in range(min(n_series, tail.n_series)):
        ds = past_dates(tail.last_ds[s], tail.freqs[s], lookback)
        part = pd.DataFrame(tail.data[s, :, : len(columns)].astype("float64"), columns=columns)
        parts.append(part.assign(**{ID: str(tail.ids[s]), TIME: ds})[[ID, TIME, *columns]])
    frame = pd.concat(parts, ignore_index=True)
    return renamed(frame, names)


def validate(df, columns=(), fill=None, where="data", names=None, freqs=None):
    """Check and normalise an internal long frame; return it sorted with per-series frequencies.

    Parameters
    ----------
    df : DataFrame [unique_id, ds, y, *columns]
    columns : numeric covariate columns that must exist, be finite and have no NaN.
    fill : None (NaN in y is an error) | "ffill" | "interpolate" | "zero" (per series).
    names : {internal name: the user's name} of the id/time/target columns, for messages
        (e.g. ``FrameSpec.names``); messages say ``'sales'`` rather than ``'y'``.
    freqs : a fitted model's {unique_id: frequency}: a series whose points step by its fitted
        frequency is read at it (``forecast.data.frequencies.infer_frequencies``).

    Returns
    -------
    (DataFrame sorted by [unique_id, ds], dict unique_id -> pandas offset alias)
    """
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {FILLS}, got {fill!r}")
    if len(df) == 0:
        raise ValueError(f"{where}: the frame is empty")
    names = names or {}
    _check_column_names(df, columns, where, names)
    missing = [c for c in (ID, TIME, TARGET, *columns) if c not in df.columns]
    if missing:
        raise ValueError(
            f"{where}: missing column(s) {[names.get(c, c) for c in missing]}; the frame has "
            f"{[_user_name(c, names) for c in df.columns]}"
        )
    # A shallow copy: columns below are replaced, never written into, so the caller's arrays are
    # shared
    # (copy-on-write) instead of duplicated -- on a 10^7-row panel that copy was the largest cost of
    # fit.
    df = df[[ID, TIME, TARGET, *columns]].copy(deep=False)
    _check_present(df, ID, where, names)
    check_ids(df[ID], where, _user_name(ID, names))
    df[ID] = df[ID].astype(str)
    df[TIME] = parse_times(df[TIME], where, names.get(TIME, TIME))
    _check_present(df, TIME, where, names)
    if sorted_runs(df) is None:
        df = df.sort_values([ID, TIME], kind="stable").reset_index(drop=True)
        _check_duplicates(df, where, names)
    # already sorted with strictly increasing ds in each series: no sort, and no duplicate can exist
    else:
        df = df.reset_index(drop=True)
    df[TARGET] = numeric(df, TARGET, where, names)
    if fill is not None:
        df[TARGET] = _fill(df, fill)
    check_finite(df, TARGET, where, names, nan_hint=fill is None)
    for col in columns:
        df[col] = numeric(df, col, where, names)
        check_finite(df, col, where, names, nan_hint=False)
    return df, infer_frequencies(df, where, known=freqs)


def _check_column_names(df, columns, where, names):
    """Covariates must be other columns than the id, time and target, each read from one column."""
    roles = {ID: "id", TIME: "time", TARGET: "target"}
    for col in columns:
        own = [k for k in roles if names.get(k, k) == col]
        if own:
            raise ValueError(
                f"{where}: covariate column {col!r} is the {roles[own[0]]} column; it cannot be a "
                f"covariate too"
            )
        if col in roles:
            raise ValueError(
                f"{where}: covariate column {col!r} has the name this library gives the "
                f"{roles[col]} column (yours is {names[col]!r}), so it is set aside: rename it"
            )
    check_single(df, {ID, TIME, TARGET, *columns}, where, names)


def _user_name(col, names):
    """The user's name of an internal column: ``'y'`` -> ``'sales'`` when the frame came in that
    way.
    """
    return names.get(col, col)


def _check_present(df, col, where, names):
    missing = df[col].isna().to_numpy()
    if missing.any():
        row = int(np.argmax(missing))
        raise ValueError(
            f"{where}: column {_user_name(col, names)!r} has a missing value (None/NaN/NaT) at row "
            f"{row} ({int(missing.sum())} such row(s))"
        )


def _check_duplicates(df, where, names):
    dup = df.duplicated([ID, TIME])
    if dup.any():
        row = df.loc[dup.idxmax()]
        raise ValueError(
            f"{where}: duplicate ({_user_name(ID, names)}, {_user_name(TIME, names)}) = "
            f"({row[ID]!r}, {row[TIME]}); {int(dup.sum())} duplicate row(s) in all"
        )


def _fill(df, how):
    y = df.groupby(ID, sort=False)[TARGET]
    if how == "ffill":
        return y.ffill().fillna(df[TARGET].groupby(df[ID]).bfill())
    if how == "interpolate":
        return y.transform(lambda s: s.interpolate(limit_direction="both"))
    return df[TARGET].fillna(0.0)
