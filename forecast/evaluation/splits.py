"""``TemporalSplit``: the backtest's fold logic as a scikit-learn splitter, so
``GridSearchCV(RNNForecaster(...), grid, cv=TemporalSplit(...))`` picks by forecast error. Its test
fold holds, per series, the history up to the cutoff followed by the ``horizon`` points after it:
``score`` forecasts from the origin ``horizon`` points before each series' end, so it needs that
history (lookback rows) in the fold and scores only the last ``horizon`` points.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.checks import check_int
from forecast.data.frames import ID, TIME


class TemporalSplit:
    """scikit-learn splitter for long frames: train up to a cutoff per series, test the next
    ``horizon`` points.

    Split ``k`` (0 = oldest) cuts each series of length ``n`` at position
    ``n - horizon - (n_splits - 1 - k) * step - 1`` (as ``backtest``). ``train_idx`` : rows up to
    the cutoff; ``test_idx`` : the ``context`` rows up to the cutoff (None: all of them) and the
    ``horizon`` rows after it, the input that ``score`` needs to forecast from the cutoff.
    Indices are row positions of ``X`` (any row order).
    """

    def __init__(self, n_splits=3, horizon=12, step=None, context=None):
        self.n_splits, self.horizon, self.step, self.context = n_splits, horizon, step, context

    def get_n_splits(self, X=None, y=None, groups=None):
        return self.n_splits

    def split(self, X, y=None, groups=None):
        """Yield (train_idx, test_idx) for each split; X : long DataFrame [unique_id, ds, ...]."""
        for name in ("n_splits", "horizon") + (("step",) if self.step is not None else ()):
            check_int(name, getattr(self, name), 1, prefix="TemporalSplit: ")
        step = self.horizon if self.step is None else self.step
        missing = [c for c in (ID, TIME) if c not in X.columns]
        if missing:
            raise ValueError(
                f"TemporalSplit needs a long frame with columns {missing}; X has {list(X.columns)}"
            )
        ids = X[ID].astype(str)
        pos = pd.to_datetime(X[TIME]).groupby(ids).rank(method="first").to_numpy(np.int64) - 1
        n = ids.map(ids.value_counts()).to_numpy(np.int64)
        for k in range(self.n_splits):
            cut = n - self.horizon - (self.n_splits - 1 - k) * step - 1
            if (cut < 0).any():
                i = int(np.argmax(cut < 0))
                raise ValueError(
                    f"series {ids.iloc[i]!r} has {n[i]} rows, too few for "
                    f"n_splits={self.n_splits}, "
                    f"horizon={self.horizon}, step={step}"
                )
            start = -np.inf if self.context is None else cut - self.context
            yield (
                np.flatnonzero(pos <= cut),
                np.flatnonzero((pos > start) & (pos <= cut + self.horizon)),
            )
