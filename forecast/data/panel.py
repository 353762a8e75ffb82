"""The internal panel: every series stacked into one array, addressed by row offsets.

A validated long frame becomes one float32 matrix ``data`` of shape (N, F) whose columns are
``[y, past covariates..., future-known covariates..., calendar...]`` and ``offsets`` (S+1,)
so that series ``s`` occupies rows ``offsets[s]:offsets[s+1]``. Memory is linear in the number
of points; windows are never materialised (see ``windows.py``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast.data.calendar import calendar_features, n_calendar_features
from forecast.data.frames import ID, TARGET, TIME
from forecast.data.frequencies import is_integer_freq, series_runs
from forecast.data.future import future_block

__all__ = ["future_block"]  # re-exported: its old home


@dataclass
class Layout:
    """Which columns play which role; fixed at fit time and saved with the model."""

    past: tuple = ()
    future: tuple = ()
    static: tuple = ()
    calendar: str | None = (
        None  # frequency whose calendar cycles are encoded (None: no calendar features)
    )
    n_calendar: int = 0

    @property
    def n_features(self):  # encoder input width per step
        return 1 + len(self.past) + len(self.future) + self.n_calendar

    @property
    def n_future(self):  # per-horizon-step width fed to the head
        return len(self.future) + self.n_calendar

    @property
    def future_slice(self):
        return slice(1 + len(self.past), self.n_features)


def covariate_columns(est):
    """The covariate columns an estimator's parameters name: past, future, then static."""
    return [
        *_names(est.past_covariates),
        *_names(est.future_covariates),
        *_names(est.static_covariates),
    ]


def _names(value):
    return tuple(value or ())  # None and () both mean none


def fit_layout(est, freqs, time_col):
    """The :class:`Layout` of a fit with the estimator's covariates and ``calendar`` over
    ``freqs``."""
    if est.calendar and any(is_integer_freq(f) for f in freqs.values()):
        raise ValueError(
            f"calendar=True needs timestamps, but column {time_col!r} holds integer time steps, "
            f"which have no calendar: use calendar=False"
        )
    cal = (
        pd.Series(list(freqs.values())).mode().iloc[0] if est.calendar else None
    )  # the panel's main frequency
    return Layout(
        _names(est.past_covariates),
        _names(est.future_covariates),
        _names(est.static_covariates),
        cal,
        n_calendar_features(cal) if cal else 0,
    )


@dataclass
class Panel:
    ids: np.ndarray  # (S,) str
    offsets: np.ndarray  # (S+1,) int64
    data: np.ndarray  # (N, F) float64, unscaled
    static: np.ndarray  # (S, n_static) float64
    first_ds: list = field(default_factory=list)  # per series
    last_ds: list = field(default_factory=list)
    freqs: list = field(default_factory=list)

    @property
    def lengths(self):
        return np.diff(self.offsets)

    @property
    def n_series(self):
        return len(self.ids)

    def series_of_rows(self):
        """(N,) series position of every row."""
        small = (
            np.int32 if self.n_series < 2**31 else np.int64
        )  # half the bytes of int64 on 10^7-row panels
        return np.repeat(np.arange(self.n_series, dtype=small), self.lengths)


def build_panel(df, freqs, layout):
    """Stack a validated, sorted long frame into a :class:`Panel`.

    df : DataFrame [unique_id, ds, y, *past, *future, *static] sorted by (unique_id, ds).
    """
    runs = series_runs(df)  # compares neighbours; np.unique would sort len(df) Python strings
    if runs is not None:
        starts = runs[0]
        ids = df[ID].iloc[starts].to_numpy()
    else:
        ids, starts = np.unique(df[ID].to_numpy(), return_index=True)
        order = np.argsort(starts)
        ids, starts = ids[order], starts[order]
    offsets = np.append(starts, len(df)).astype(np.int64)
    cols = [TARGET, *layout.past, *layout.future]
    parts = [df[cols].to_numpy(dtype=np.float64)]
    ds = df[TIME]
    if layout.calendar:
        parts.append(_calendar(ds, offsets, layout.calendar))
    static = _static(df, ids, starts, layout.static)
    first = list(ds.iloc[offsets[:-1]])
    last = list(ds.iloc[offsets[1:] - 1])
    data = (
        parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
    )  # one part: no copy (a read-only view)
    return Panel(ids, offsets, data, static, first, last, [freqs[i] for i in ids])


def left_pad(offsets, pads):
    """Rows of a panel whose series ``s`` gains ``pads[s]`` copies of its first row in front.

    Short series are trained and forecast from windows padded this way (edge padding keeps a
    window's level and spread sane for the scalers and window normalisation), with the padded
    rows masked out of every loss.

    Parameters
    ----------
    offsets : (S+1,) row offsets of the unpadded panel.
    pads : (S,) rows to add in front of each series (>= 0).

    Returns
    -------
    (rows, offsets, observed): ``data[rows]`` is the padded data (a slice, no copy, when nothing
    is padded); new (S+1,) offsets; (N',) float32 observed flags (1 observed, 0 padded), or None
    when nothing is padded.
    """
    offsets, pads = np.asarray(offsets, dtype=np.int64), np.asarray(pads, dtype=np.int64)
    if not pads.any():
        return slice(None), offsets, None
    lengths = np.diff(offsets) + pads
    new_offsets = np.append(0, np.cumsum(lengths)).astype(np.int64)
    series = np.repeat(np.arange(len(pads)), lengths)  # (N',)
    j = (
        np.arange(new_offsets[-1]) - new_offsets[series] - pads[series]
    )  # position in the unpadded series
    rows = offsets[series] + np.maximum(j, 0)
    return rows, new_offsets, (j >= 0).astype(np.float32)


def short_series(panel, lookback, horizon, val_size, policy, held="val_size"):
    """Series shorter than one training window (``lookback + horizon + val_size`` points), handled
    as the ``short_series`` policy says ("pad" and "drop" warn once, "error" raises). ``held``
    names what ``val_size`` counts in messages (e.g. "val_size + calibration_size").

    Returns (keep, pads): (S,) series that give training windows, (S,) rows of left padding.
    """
    lengths, need = panel.lengths, lookback + horizon + val_size
    short, pads = lengths < need, np.zeros(len(lengths), dtype=np.int64)
    if not short.any():
        return ~short, pads
    s = int(np.argmin(np.where(short, lengths, need)))
    terms = f"{lookback} + {horizon}" + (f" + {val_size}" if val_size else "")
    what = (
        f"{int(short.sum())} of {len(lengths)} series have fewer than lookback + horizon"
        f"{' + ' + held if val_size else ''} = {terms} = {need} points (the shortest, "
        f"{panel.ids[s]!r}, "
        f"has {lengths[s]} points)"
    )
    if policy == "error":
        raise ValueError(
            f"{what}; short_series='error' refuses them ('pad' trains on them left-padded, "
            f"'drop' leaves them out of training)"
        )
    if policy == "drop":
        warnings.warn(
            f"{what}: left out of training (short_series='drop'); they are still forecast, from an "
            f"input window left-padded with their first value",
            UserWarning,
            stacklevel=3,
        )
        return ~short, pads
    empty = np.flatnonzero(lengths <= val_size)
    if len(empty):
        raise ValueError(
            f"series {panel.ids[empty[0]]!r} has {lengths[empty[0]]} points and {held}={val_size} "
            f"holds them all out, leaving none to train on ({len(empty)} such series): lower "
            f"{held} "
            f"or use short_series='drop'"
        )
    pads[short] = need - lengths[short]
    warnings.warn(
        f"{what}: left-padded with their first value and trained with the padded rows masked out "
        "of "
        f"the loss (short_series='pad'; 'drop' leaves them out of training, 'error' refuses them)",
        UserWarning,
        stacklevel=3,
    )
    return np.ones(len(lengths), dtype=bool), pads


def _calendar(ds, offsets, freq):
    return calendar_features(ds.to_numpy(), freq).astype(np.float64)


def _static(df, ids, starts, columns):
    if not columns:
        return np.zeros((len(ids), 0))
    for col in columns:
        varying = df.groupby(ID, sort=False)[col].nunique(dropna=False) > 1
        if varying.any():
            uid = varying.index[np.argmax(varying.to_numpy())]
            raise ValueError(
                f"static column {col!r} varies within series {uid!r}; it must be constant per "
                "series"
            )
    return df[list(columns)].to_numpy(dtype=np.float64)[starts]
