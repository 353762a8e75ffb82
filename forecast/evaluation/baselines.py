"""Yardsticks with the estimator's API: Naive (repeat the last value) and SeasonalNaive.

Every forecast needs one: backtesting and model selection compare against them, and the M4
convention scales errors by the seasonal naive forecast's in-sample error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import NotFittedError

from forecast.checks import check_int
from forecast.data import frames
from forecast.data.calendar import future_dates
from forecast.data.frames import ID, TARGET, TIME
from forecast.data.seasonality import centred_trend, seasonality_test


class SeasonalNaive(RegressorMixin, BaseEstimator):
    """Forecast each step with the value one season earlier: y_hat[T+h] = y[T + h - m*ceil(h/m)].

    Parameters
    ----------
    horizon : steps to forecast.
    season_length : m, in steps (1 gives the naive forecast).
    fill : as in ``RNNForecaster``.
    """

    def __init__(self, horizon=12, season_length=1, fill=None):
        self.horizon, self.season_length, self.fill = horizon, season_length, fill

    @property
    def lookback(self):
        return self.season_length

    def fit(self, df, y=None, *, id_col="unique_id", time_col="ds", target_col="y", callbacks=None):
        """Remember the last season of every series. ``df``: long, wide or Series (as
        ``RNNForecaster``)."""
        for name in ("horizon", "season_length"):
            check_int(name, getattr(self, name), 1)
        long, self.spec_ = frames.to_long(
            frames.with_target(df, y, target_col), id_col, time_col, target_col
        )
        long, self.freqs_ = frames.validate(
            long, (), self.fill, where="fit data", names=self.spec_.names
        )
        self._check_length(long)
        self.ids_ = long[ID].unique()
        self.last_ = long.groupby(ID, sort=False).tail(self.season_length)
        return self

    def _check_length(self, long):
        n = long.groupby(ID, sort=False).size()
        if (n < self.season_length).any():
            uid = n.index[np.argmax((n < self.season_length).to_numpy())]
            raise ValueError(
                f"series {uid!r} has {n[uid]} points, fewer than season_length={self.season_length}"
            )

    def _check_fitted(self):
        if not hasattr(self, "last_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(df) first"
            )

    def predict(self, df=None, X_future=None):
        """Forecast ``horizon`` steps after the training data (or after new history ``df``)."""
        self._check_fitted()
        spec, last = self.spec_, self.last_
        if df is not None:
            long, spec = frames.to_long(df, spec.id_col, spec.time_col, spec.target_col)
            long, _ = frames.validate(long, (), self.fill, where="predict data", names=spec.names)
            unknown = sorted(set(long[ID]) - set(self.ids_))
            if unknown:
                raise ValueError(f"predict data: unknown unique_id(s) {unknown[:5]}")
            self._check_length(long)
            last = long.groupby(ID, sort=False).tail(self.season_length)
        rows = []
        for uid, part in last.groupby(ID, sort=False):
            values = part[TARGET].to_numpy()
            dates = future_dates(part[TIME].iloc[-1], self.freqs_[uid], self.horizon)
            rows.append(
                pd.DataFrame({ID: uid, TIME: dates, "y_pred": self._repeat(values[None])[0]})
            )
        return frames.from_long(pd.concat(rows, ignore_index=True), spec)

    def _repeat(self, season):  # season: (n, m) last m values -> (n, horizon)
        return season[:, np.arange(self.horizon) % self.season_length]

    def predict_at(self, df, origins):
        """Forecasts from every (unique_id, cutoff) of ``origins``: [unique_id, cutoff, ds,
        y_pred]."""
        self._check_fitted()
        long, _ = frames.to_long(df, self.spec_.id_col, self.spec_.time_col, self.spec_.target_col)
        long, _ = frames.validate(
            long, (), frames.causal_fill(self.fill), where="backtest data", names=self.spec_.names
        )
        ids, rows = frames.origin_rows(long, origins)
        m, H = self.season_length, self.horizon
        starts = long.groupby(ID, sort=False).cumcount().to_numpy()[rows]
        ends = rows + (
            long.groupby(ID, sort=False)[TIME].transform("size").to_numpy()[rows] - starts - 1
        )
        if ((starts < m - 1) | (rows + H > ends)).any():
            i = int(np.argmax((starts < m - 1) | (rows + H > ends)))
            raise ValueError(
                f"origin ({ids[i]!r}, {origins['cutoff'].iloc[i]}) needs {m} points up to the "
                "cutoff "
                f"and {H} after it"
            )
        y, ds = long[TARGET].to_numpy(), long[TIME].to_numpy()
        season = y[rows[:, None] - m + 1 + np.arange(m)]  # (n, m)
        return pd.DataFrame(
            {
                ID: np.repeat(ids, H),
                "cutoff": np.repeat(ds[rows], H),
                TIME: ds[rows[:, None] + 1 + np.arange(H)].ravel(),
                "y_pred": self._repeat(season).ravel(),
            }
        )

    def score(self, df, y=None):
        """Negative MAE over the last ``horizon`` points of each series (same protocol as
        RNNForecaster)."""
        from forecast.fitted.inference import holdout_score

        self._check_fitted()
        return holdout_score(self, frames.with_target(df, y, self.spec_.target_col))


class Naive(SeasonalNaive):
    """Repeat the last observed value over the horizon (SeasonalNaive with season_length=1)."""

    def __init__(self, horizon=12, fill=None):
        super().__init__(horizon=horizon, season_length=1, fill=fill)

    def get_params(self, deep=True):
        return {"horizon": self.horizon, "fill": self.fill}


# ---------------------------------------------------------------------------------------------
# Naive2 (the M3/M4 benchmark): naive on classically deseasonalised data, on plain arrays
# ---------------------------------------------------------------------------------------------


def seasonal_indices(y, season_length):
    """Seasonal figure of a classical multiplicative decomposition (R's ``decompose``).

    The trend is the centred moving average (a 2 x m average for even m); index ``j`` is the mean
    ratio ``y / trend`` over positions ``j, j + m, j + 2m, ...`` counted from the first point,
    normalised to average 1. Returns (m,) indices; ones when ``m <= 1``. ``y`` : (n,), n >= m + 1.
    """
    y = np.asarray(y, dtype=np.float64)
    m = int(season_length)
    if m <= 1:
        return np.ones(max(m, 1))
    trend, off = centred_trend(y, m)  # trend of y[off : off + len(trend)]
    ratio = y[off : off + len(trend)] / trend
    pos = (off + np.arange(len(trend))) % m
    figure = np.array([ratio[pos == j].mean() for j in range(m)])
    return figure / figure.mean()


def naive2(y, horizon, season_length):
    """Naive2 forecast of one series: the last value of the seasonally adjusted series,
    re-seasonalised.

    Seasonal adjustment (:func:`seasonal_indices`) applies only when :func:`seasonality_test`
    finds seasonality; otherwise this is the naive forecast. ``y`` : (n,) positive values.
    Returns (horizon,) forecasts.
    """
    y = np.asarray(y, dtype=np.float64)
    m, n = int(season_length), len(y)
    if not seasonality_test(y, m):
        return np.full(horizon, y[-1])
    index = seasonal_indices(y, m)
    return y[-1] / index[(n - 1) % m] * index[(n + np.arange(horizon)) % m]
