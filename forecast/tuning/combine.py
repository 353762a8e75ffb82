"""How :class:`~forecast.tuning.auto.AutoRNNForecaster`'s members forecast together: the pointwise
median of their forecasts, interval and quantile columns included (column by column)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.evaluation.baselines import SeasonalNaive


def level_kwargs(level, members):
    if level is None:
        return {}
    if isinstance(members[0], SeasonalNaive):
        raise ValueError("level: the seasonal-naive fallback gives point forecasts only")
    return {"level": level}


def median(forecasts):
    """The pointwise median of the members' forecasts (same rows, same order)."""
    first = forecasts[0]
    if len(forecasts) == 1:
        return first
    if isinstance(first, pd.DataFrame) and "y_pred" in first.columns:
        out = first.copy()
        for column in (c for c in first.columns if c.startswith("y_")):
            values = np.stack([f[column].to_numpy(dtype=float) for f in forecasts])
            out[column] = np.median(values, axis=0)
        return out
    values = np.median(np.stack([np.asarray(f, dtype=float) for f in forecasts]), axis=0)
    if isinstance(first, pd.Series):
        return pd.Series(values, index=first.index, name=first.name)
    return pd.DataFrame(values, index=first.index, columns=first.columns)
