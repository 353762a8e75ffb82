"""Per-series scalers with an exact inverse.

Statistics are computed per series and per column on the training part only and stored as
plain arrays, so they serialise to JSON and apply to new history of the same series.
"""

from __future__ import annotations

import numpy as np

from forecast.choices import SCALERS

_EPS = 1e-8
LOG_SHIFT = {"log": 0.0, "log1p": 1.0}  # transform: log(y + shift); inverse: exp(v) - shift
EXP_CAP = 700.0  # log values above this are capped before exp: a finite forecast, never inf


def transform_target(y, kind, ids=None, where="data"):
    """Apply ``target_transform`` to target values ``y`` (N,) (a copy); ``ids`` (N,) names series in
    errors.

    "log" makes multiplicative structure (seasonality proportional to the level, exponential
    trend) additive, as ES-RNN does; it needs every value > 0. "log1p" (``log(1 + y)``) does the
    same for data with zeros (counts, sales, closures): nearly log for large values, zero stays
    zero; it needs every value >= 0.
    """
    y = np.asarray(y, dtype=np.float64)
    if kind is None:
        return y
    bad = ~((y > 0) if kind == "log" else (y >= 0)) & np.isfinite(y)
    if bad.any():
        i = int(np.argmax(bad))
        who = f" of series {ids[i]!r}" if ids is not None else ""
        needs, other = (
            ("positive", "('log1p', method) for data with zeros, a scaler without a log for")
            if kind == "log"
            else ("non-negative", "a scaler without a log for data with")
        )
        raise ValueError(
            f"{where}: scaler=({kind!r}, ...) needs {needs} targets, but value "
            f"{float(y[i])!r}{who} is not ({int(bad.sum())} such value(s)); use {other} negatives"
        )
    return np.log(y) if kind == "log" else np.log1p(y)


def inverse_target(y, kind):
    """Exact inverse of :func:`transform_target` (values far above the data are capped, not inf)."""
    if kind is None:
        return y
    capped = np.minimum(y, EXP_CAP)
    return np.exp(capped) if kind == "log" else np.expm1(capped)


class SeriesScaler:
    """Scale each series (and each column) by its own location and spread.

    Parameters
    ----------
    method : "standard" (mean / population std) | "robust" (median / IQR, the std where the IQR
        is 0) | "none"
    """

    def __init__(self, method="standard"):
        if method not in SCALERS:
            raise ValueError(f"scaler must be one of {SCALERS}, got {method!r}")
        self.method = method

    def fit(self, values, offsets, fit_lengths):
        """values: (N, C) stacked series; offsets: (S+1,) row starts; fit_lengths: (S,) rows
        used."""
        values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
        n_series, n_cols = len(offsets) - 1, values.shape[1]
        self.loc_ = np.zeros((n_series, n_cols))
        self.scale_ = np.ones((n_series, n_cols))
        if self.method == "none":
            return self
        for s in range(n_series):
            part = values[offsets[s] : offsets[s] + max(int(fit_lengths[s]), 1)]
            self.loc_[s], self.scale_[s] = self._stats(part)
        self.scale_[~(self.scale_ > _EPS)] = 1.0  # constant columns: shift only
        return self

    def _stats(self, part):
        if self.method == "standard":
            return part.mean(axis=0), part.std(axis=0)
        q25, q50, q75 = np.percentile(part, [25, 50, 75], axis=0)
        iqr = q75 - q25
        # Mostly-constant series (intermittent demand): IQR 0 would leave spikes unscaled;
        # use the std.
        return q50, np.where(iqr > _EPS, iqr, part.std(axis=0))

    def transform(self, values, series):
        """values: (N, C); series: (N,) series position of each row."""
        return (np.asarray(values).reshape(len(values), -1) - self.loc_[series]) / self.scale_[
            series
        ]

    def inverse(self, values, series):
        """values: (..., C) or (B, H) for a one-column scaler; series: (B,) — exact inverse."""
        loc, scale = self.loc_[series], self.scale_[series]
        if values.ndim == 2 and loc.shape[1] == 1:
            loc, scale = loc[:, :1], scale[:, :1]
        return values * scale + loc

    def subset(self, series):
        """A scaler holding only the rows ``series`` (for predicting a subset of known series)."""
        out = SeriesScaler(self.method)
        out.loc_, out.scale_ = self.loc_[series], self.scale_[series]
        return out

    def to_dict(self):
        return {"method": self.method, "loc": self.loc_.tolist(), "scale": self.scale_.tolist()}

    @classmethod
    def from_dict(cls, d):
        out = cls(d["method"])
        out.loc_ = np.asarray(d["loc"], dtype=np.float64)
        out.scale_ = np.asarray(d["scale"], dtype=np.float64)
        return out


class ColumnScaler:
    """Standardise static columns across series (one value per series, so no per-series stats)."""

    def fit(self, values):
        values = np.asarray(values, dtype=np.float64)
        self.mean_ = values.mean(axis=0) if len(values) else np.zeros(values.shape[1])
        std = values.std(axis=0) if len(values) else np.ones(values.shape[1])
        self.std_ = np.where(std > _EPS, std, 1.0)
        return self

    def transform(self, values):
        return (np.asarray(values, dtype=np.float64) - self.mean_) / self.std_

    def to_dict(self):
        return {"mean": self.mean_.tolist(), "std": self.std_.tolist()}

    @classmethod
    def from_dict(cls, d):
        out = cls()
        out.mean_ = np.asarray(d["mean"], dtype=np.float64)
        out.std_ = np.asarray(d["std"], dtype=np.float64)
        return out
