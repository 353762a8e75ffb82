"""The folds of a rolling-origin backtest: cutoff positions per series and window, the frame a
fitted model may see at an origin (nothing after the cutoff but known-ahead columns), the
origins of a group of windows, and the forecasts assembled back into one table with actuals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.data.frames import ID, TARGET, TIME
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


def make_folds(long, horizon, n_windows, step):
    """Folds of a sorted long frame [unique_id, ds, ...]; an error names a series too short for
    them."""
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
            f"horizon={horizon} need at least {back[0] + 1} (1 training point + {back[0]})"
        )
    return Folds(ids, offsets, cutoffs, horizon)


def visible(long, pos, last_cut, horizon, est):
    """Rows up to ``horizon`` after the last cutoff; after it only future-known and static columns
    survive, the others repeating each series' value at the cutoff (a value valid wherever the
    cutoff's is: a constant such as 0 would fail a log scaler)."""
    keep = pos <= last_cut + horizon
    frame = long.loc[keep].copy()
    after = (pos > last_cut)[keep]
    known = {
        ID,
        TIME,
        *(getattr(est, "future_covariates", ()) or ()),
        *(getattr(est, "static_covariates", ()) or ()),
    }
    hidden = [col for col in frame.columns if col not in known]
    frame.loc[after, hidden] = np.nan
    frame[hidden] = frame.groupby(ID, sort=False)[hidden].ffill()
    return frame


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
    return out.sort_values([ID, "window", "step"], kind="stable").reset_index(drop=True)
