"""The internal long frame: its column names, and the frame itself from arrays.

Every input becomes ``[unique_id, ds, y, <covariates>]``: ``unique_id`` str, ``ds`` timestamps or
integer time steps, ``y`` and covariates float64.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

ID, TIME, TARGET = "unique_id", "ds", "y"


def long_frame(uid, ds, y, **covariates):
    """The long frame of per-row arrays ``uid``, ``ds``, ``y`` and covariate columns, in the dtypes above."""
    df = pd.DataFrame({ID: pd.Series(uid, dtype=str), TIME: pd.to_datetime(ds).astype("datetime64[ns]"),
                       TARGET: np.asarray(y, dtype=np.float64)})
    for col, values in covariates.items():
        df[col] = np.asarray(values, dtype=np.float64)
    return df
