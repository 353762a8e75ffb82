"""The whole forecast of a fitted model as one torch module, the graph that ``forecast.export.onnx``
writes: raw windows in the user's units in, forecast columns in the user's units out.

:class:`ForecastGraph` computes what ``predict_at`` computes, in the same order and precision: the
target transform and each series' scaling of the raw window (float64), the network (float32: its
window normalisation with the smoothing hybrid's learned per-series terms, encoder and head), the
quantiles and intervals of ``forecast.probabilistic.decoder`` and the inverse scaling (float64).
The fitted scalers, static covariates and conformal widths are its constants.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import torch
from torch import nn

from forecast.data.columns import bounds, interval_columns, quantile_column
from forecast.data.scaling import EXP_CAP, LOG_SHIFT
from forecast.probabilistic.families import Normal, Quantiles


def _table(values, dtype=torch.float64):
    return torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=dtype)


class ForecastGraph(nn.Module):
    """``forward(y, series, past, future, calendar)`` -> one (B, H) float64 tensor per column.

    Parameters
    ----------
    state : the fitted :class:`~forecast.fitted.state.FittedState`.
    network : the trained network on the CPU, in eval mode (float32).
    levels : the interval levels to output (resolved: ``Decoder(state).levels(level)``).

    ``forward`` takes ``y`` (B, L) the target, ``series`` (B,) int64 each window's position among
    the fitted series, ``past`` (B, L, P) past covariates, ``future`` (B, L+H, K) future-known
    covariates over the window and the horizon, ``calendar`` (B, L+H, C) calendar features
    (``forecast.data.calendar``); the last three are None where the model has none.
    """

    def __init__(self, state, network, levels):
        super().__init__()
        self.network = network
        self.lookback, self.horizon = state.lookback, state.horizon
        self.shift = LOG_SHIFT.get(state.target_transform)  # log(y + shift); None: no log
        self.log = self.shift is not None
        self.n_past, self.n_future = len(state.layout.past), len(state.layout.future)
        sc = state.target_scaler
        self.register_buffer("loc", _table(sc.loc_[:, 0]))  # (S,)
        self.register_buffer("spread", _table(sc.scale_[:, 0]))  # (S,)
        self.register_buffer("cov_loc", _table(state.cov_scaler.loc_))  # (S, P+K)
        self.register_buffer("cov_spread", _table(state.cov_scaler.scale_))  # (S, P+K)
        self.register_buffer("static", _table(state.scaled_static(), torch.float32))  # (S, Q)
        self.family = state.family
        self.levels = tuple(levels)
        cal = state.conformal
        self.interval = None if cal is None else cal["interval"]
        if cal is not None:
            scores = np.asarray(cal["scores"], dtype=np.float64)  # (H, calibrated levels)
            index = [list(cal["levels"]).index(lv) for lv in self.levels]
            self.register_buffer("widths", _table(scores[:, index].T))  # (levels, H)
            noise = cal.get("noise") or np.ones(len(state.ids))
            self.register_buffer("noise", _table(noise))  # (S,)
        requested = getattr(self.family, "requested", ())
        self.columns = ["y_pred", *(quantile_column(q) for q in requested)]
        self.requested = tuple(requested)
        self.columns += [c for lv in self.levels for c in interval_columns(lv)]

    def forward(self, y, series, past=None, future=None, calendar=None):
        L, H = self.lookback, self.horizon
        target = torch.log(y + self.shift) if self.log else y  # (B, L)
        parts = [((target - self.loc[series, None]) / self.spread[series, None])[..., None]]
        ahead = []
        if past is not None:
            parts.append(self._scale(past, series, 0, self.n_past))
        if future is not None:
            known = self._scale(future, series, self.n_past, self.n_past + self.n_future)
            parts.append(known[:, :L])
            ahead.append(known[:, L:])
        if calendar is not None:
            parts.append(calendar[:, :L])
            ahead.append(calendar[:, L:])
        x = torch.cat(parts, dim=-1).float()  # (B, L, F)
        x_future = torch.cat(ahead, dim=-1).float() if ahead else x.new_zeros(x.shape[0], H, 0)
        out = self.network(x, x_future, self.static[series], series=series)
        return self.decode(out.double(), series)  # out: (B, H) or (B, H, C), scaled frame

    def _scale(self, values, series, a, b):  # (B, T, k) covariates -> scaled
        return (values - self.cov_loc[series, None, a:b]) / self.cov_spread[series, None, a:b]

    def quantile(self, out, q):
        """(B, H) quantile ``q`` of the network's output, in the scaled frame."""
        if self.family is None:
            return out  # the point (q is 0.5: export checked the levels)
        if isinstance(self.family, Quantiles):
            return out[..., next(i for i, v in enumerate(self.family.levels) if abs(v - q) < 1e-9)]
        if isinstance(self.family, Normal):
            return out[..., 0] + out[..., 1] * NormalDist().inv_cdf(q)
        raise ValueError(f"loss={self.family.name!r} cannot be exported")  # export refuses it

    def decode(self, out, series):
        """Tuple of (B, H) columns in the user's units, in :attr:`columns` order."""
        point = self.quantile(out, 0.5)
        cols = [point, *(self.quantile(out, q) for q in self.requested)]
        for j, lv in enumerate(self.levels):
            if self.interval is None:
                cols += [self.quantile(out, b) for b in bounds(lv)]
                continue
            width = self.widths[j] * self.noise[series, None]  # (B, H)
            around = bounds(lv) if self.interval == "cqr" else (0.5, 0.5)  # cqr: the quantiles
            lo, hi = (self.quantile(out, b) for b in around)
            cols += [lo - width, hi + width]
        cols = [self._inverse(v, series) for v in cols]
        return tuple(self._nest(cols))

    def _inverse(self, v, series):
        v = v * self.spread[series, None] + self.loc[series, None]
        return torch.exp(torch.clamp(v, max=EXP_CAP)) - self.shift if self.log else v

    def _nest(self, cols):
        """Intervals nest as ``forecast.probabilistic.decoder.nest`` makes them."""
        start = 1 + len(self.requested)
        lo = hi = cols[0]
        for lv in sorted(self.levels):
            j = start + 2 * self.levels.index(lv)
            lo, hi = torch.minimum(cols[j], lo), torch.maximum(cols[j + 1], hi)
            cols[j], cols[j + 1] = lo, hi
        return cols
