"""A data source's future rows: the trailing rows of each series whose target is not observed
yet."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.data.frames import ID, TARGET, TIME


def split_future(
    df, future_columns=(), id_col=ID, time_col=TIME, target_col=TARGET, where="data", names=None
):
    """Split a long frame into history and the future rows that carry covariates for the horizon.

    A data source for a model with future-known covariates (prices, promotions, holidays) holds,
    after each series' last observed target, rows whose target is missing but whose covariates
    are known: those trailing rows are the future (``X_future`` of ``RNNForecaster.predict``).
    A missing target *before* a series' last observed one stays in the history (validation or
    ``fill`` deal with it). Rows are matched per series in time order; the frame need not be sorted.

    ``names``: {column: the user's name for it} for the messages, when the frame's columns were
    renamed from the user's (``forecast.data.history.column_names``).

    Returns
    -------
    (history, future): history keeps every column; future is [id_col, time_col, *future_columns]
    (empty when no series has trailing rows).
    """
    missing = [c for c in (id_col, time_col, target_col, *future_columns) if c not in df.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {missing}; the frame has {list(df.columns)}")
    cols = [id_col, time_col, *future_columns]
    if (
        df[target_col].notna().all()
    ):  # the usual case: no row can be a future row, and no sort is needed
        return df.reset_index(drop=True), df.iloc[:0][cols].reset_index(drop=True)
    for col in (id_col, time_col):  # rows are ordered by them: a missing one cannot be placed
        absent = df[col].isna().to_numpy()
        if absent.any():
            name = (names or {}).get(col, col)
            raise ValueError(
                f"{where}: column {name!r} has a missing value (None/NaN/NaT) at row "
                f"{int(np.argmax(absent))} ({int(absent.sum())} such row(s))"
            )
    times = df[time_col]
    if not pd.api.types.is_datetime64_any_dtype(times) and not pd.api.types.is_numeric_dtype(times):
        times = pd.to_datetime(times, errors="coerce")  # order strings by time, not alphabetically
    order = df.index[np.lexsort((times.to_numpy(), df[id_col].astype(str).to_numpy()))]
    ordered = df.loc[order]
    observed = ordered[target_col].notna()
    # a row is future when no observed target follows it (or is on it) within its series
    seen_after = (
        observed[::-1].astype(int).groupby(ordered[id_col][::-1], sort=False).cumsum()[::-1]
    )
    future_mask = pd.Series(False, index=df.index)
    future_mask.loc[order] = (seen_after == 0).to_numpy()
    history = df.loc[~future_mask]
    future = df.loc[future_mask, cols]
    return history.reset_index(drop=True), future.reset_index(drop=True)
