"""The internal long frame: its column names, and the frame itself from arrays; the names of the
probabilistic forecast columns (``forecast.probabilistic.decoder``).

Every input becomes ``[unique_id, ds, y, <covariates>]``: ``unique_id`` str, ``ds`` timestamps or
integer time steps, ``y`` and covariates float64.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ID, TIME, TARGET = "unique_id", "ds", "y"


def long_frame(uid, ds, y, **covariates):
    """The long frame of per-row arrays ``uid``, ``ds``, ``y`` and covariate columns, in the
    dtypes above."""
    df = pd.DataFrame(
        {
            ID: pd.Series(uid, dtype=str),
            TIME: pd.to_datetime(ds).astype("datetime64[ns]"),
            TARGET: np.asarray(y, dtype=np.float64),
        }
    )
    for col, values in covariates.items():
        df[col] = np.asarray(values, dtype=np.float64)
    return df


def to_internal(df, renames):
    """``df`` with its columns renamed by ``renames`` ({the user's name: internal name}).

    A column the user did not name that already carries one of those internal names (a ``ds``
    column beside ``time_col="date"``) is an extra column like any other: it is set aside
    (dropped) so the renaming never gives the frame two columns of one name. Such a column cannot
    be a covariate (``forecast.data.history.validate`` refuses it by name).
    """
    renames = {user: internal for user, internal in renames.items() if user is not None}
    stray = [c for c in dict.fromkeys(renames.values()) if c in df.columns and c not in renames]
    if stray:
        df = df.drop(columns=stray)
    renames = {user: internal for user, internal in renames.items() if user != internal}
    return df.rename(columns=renames) if renames else df.copy(deep=False)  # rename: ~0.4 ms


def check_single(df, read, where, names=None):
    """Refuse a frame with more than one column of a name in ``read`` (the columns that are read:
    pandas would hand back a frame where one column is expected); ``names`` maps them to the
    user's names for the message."""
    twice = [c for c in dict.fromkeys(df.columns[df.columns.duplicated()]) if c in read]
    if twice:
        raise ValueError(
            f"{where}: more than one column named {[(names or {}).get(c, c) for c in twice]}; "
            f"each column the model reads must be one column"
        )


def percent(p):
    """A level in percent as a column suffix: 10, 2.5, 97.5 (no trailing zeros)."""
    return f"{round(float(p), 6):g}"


def quantile_column(q):
    return f"y_q{percent(100 * q)}"


def interval_columns(level):
    return f"y_lo{percent(level)}", f"y_hi{percent(level)}"


def interval_columns_of(levels):
    return [c for level in levels for c in interval_columns(level)]


def bounds(level):
    """The quantile levels (lo, hi) of a central ``level`` percent interval."""
    a = (1.0 - level / 100.0) / 2.0
    return a, 1.0 - a
