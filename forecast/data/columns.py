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
