"""The folds of a rolling-origin backtest: cutoff positions per series and window, the frame a
fitted model may see at an origin (nothing after the cutoff but known-ahead columns), the
origins of a group of windows, and the forecasts assembled back into one table with actuals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.data.frames import ID, TARGET, TIME
from forecast.data.frequencies import series_runs
from forecast.metrics.interval import quantile_columns
from forecast.metrics.point import PRED


@dataclass
class Folds:
    """Cutoff positions of every series and window: ``cutoffs[s, w]`` indexes series ``s``'s
    rows."""

    ids: np.ndarray  # (S,)
    offsets: np.ndarray  # (S+1,) row offsets into the sorted long frame
    cutoffs: np.ndarray  # (S, W) positions within each series
    horizon: int

    @property
    def n_windows(self):
        return self.cutoffs.shape[1]

    def row_cutoffs(self, w):
        """(N,) cutoff position of window ``w`` for every row of the long frame."""
        return np.repeat(self.cutoffs[:, w], np.diff(self.offsets))

    def positions(self):
        """(N,) position of every row of the long frame within its series (0 = its first)."""
        lengths = np.diff(self.offsets)
        return np.arange(self.offsets[-1]) - np.repeat(self.offsets[:-1], lengths)


def make_folds(long, horizon, n_windows, step):
    """Folds of a sorted long frame [unique_id, ds, ...]; an error names a series too short for
    them."""
    runs = series_runs(long)  # neighbouring ids compared: no sort of len(long) Python strings
    if runs is not None:
        starts = runs[0]
        ids = long[ID].iloc[starts].to_numpy()
    else:
        ids, starts = np.unique(long[ID].to_numpy(), return_index=True)
        order = np.argsort(starts)
        ids, starts = ids[order], starts[order]
    offsets = np.append(starts, len(long)).astype(np.int64)
    lengths = np.diff(offsets)
    back = horizon + (n_windows - 1 - np.arange(n_windows)) * step + 1  # (W,)
    cutoffs = lengths[:, None] - back[None, :]
    if (cutoffs[:, 0] < 0).any():
        s = int(np.argmax(cutoffs[:, 0] < 0))
        raise ValueError(
            f"series {ids[s]!r} has {lengths[s]} points; n_windows={n_windows}, step={step}, "
            f"horizon={horizon} need at least {back[0]} (1 training point + {back[0] - 1})"
        )
    return Folds(ids, offsets, cutoffs, horizon)


def visible(long, pos, last_cut, horizon, est):
    """Rows up to ``horizon`` after the last cutoff; after it only future-known and static columns
    survive, the others repeating each series' value at the cutoff (a value valid wherever the
    cutoff's is: a constant such as 0 would fail a log scaler).

    ``long`` is validated and sorted (no NaN in the hidden columns), ``pos`` (N,) each row's
    position in its series and ``last_cut`` (N,) its series' last cutoff. Columns that stay
    visible are shared with ``long``, not copied; the hidden ones are read at the cutoff row by
    position (no groupby over the ids).
    """
    keep = pos <= last_cut + horizon
    rows = np.flatnonzero(keep)
    frame = long if len(rows) == len(long) else long.iloc[rows]
    after = pos[rows] > last_cut[rows]
    at_cut = (rows - pos[rows] + last_cut[rows])[after]  # the row of each hidden row's cutoff
    known = {
        ID,
        TIME,
        *(getattr(est, "future_covariates", ()) or ()),
        *(getattr(est, "static_covariates", ()) or ()),
    }
    hidden = {}
    for col in (c for c in long.columns if c not in known):
        values = long[col].to_numpy(dtype=np.float64)
        shown = values[rows]  # a copy
        shown[after] = values[at_cut]
        hidden[col] = shown
    return frame.assign(**hidden)


def fold_origins(long, folds, group):
    """Origins [unique_id, cutoff] of the windows ``group`` of every series, series-major."""
    ds = long[TIME].to_numpy()
    rows = folds.offsets[:-1, None] + folds.cutoffs[:, group]  # (S, g)
    return pd.DataFrame({ID: np.repeat(folds.ids, len(group)), "cutoff": ds[rows.ravel()]})


def assemble(long, folds, runs):
    """Stack the groups' forecasts with window, step and actuals; check predict_at kept the
    origin order."""
    H, y = folds.horizon, long[TARGET].to_numpy(np.float64)
    parts = []
    for group, fc in runs:
        windows = np.tile(np.asarray(group), len(folds.ids))  # origins are series-major
        target = (
            (folds.offsets[:-1, None] + folds.cutoffs[:, group]).ravel()[:, None] + 1 + np.arange(H)
        )
        if len(fc) != target.size or not np.array_equal(
            fc[TIME].to_numpy(), long[TIME].to_numpy()[target.ravel()]
        ):
            raise RuntimeError(
                "predict_at returned forecasts out of origin order; cannot align them with actuals"
            )
        parts.append(
            pd.DataFrame(
                {
                    ID: fc[ID].to_numpy(),
                    "window": np.repeat(windows, H),
                    "cutoff": fc["cutoff"].to_numpy(),
                    "step": np.tile(np.arange(1, H + 1), len(windows)),
                    TIME: fc[TIME].to_numpy(),
                    TARGET: y[target.ravel()],
                    PRED: fc[PRED].to_numpy(),
                    **{c: fc[c].to_numpy() for c in quantile_columns(fc.columns) if c != PRED},
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    # Sorted by (series, window, step) on integer keys: the folds' series order is the sorted
    # frame's id order, so this is the order of sorting by the ids, without sorting strings.
    series = np.concatenate([np.repeat(np.arange(len(folds.ids)), len(g) * H) for g, _ in runs])
    order = np.lexsort((out["step"].to_numpy(), out["window"].to_numpy(), series))
    if (order == np.arange(len(order))).all():  # one group (refit=False): already in order
        return out
    return out.take(order).reset_index(drop=True)
