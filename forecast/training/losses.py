"""Training losses over (B, T) forecasts, with per-series weights and a mask for padded rows.

``mse`` / ``mae`` / ``huber`` score the values the network sees (each series scaled by the
target scaler). The scale-free losses score what forecasts are judged by:

* ``mase``: absolute error divided by the series' in-sample seasonal-naive MAE
  (mean |y_t - y_{t-m}| over its training part), so every series weighs the same whatever its
  scale or noise level: the M4 MASE, as a loss;
* ``smape``: 2|y - ŷ| / (|y| + |ŷ|), on the target's own scale (the target scaler and a log
  transform undone).

Both are invariant to the per-series scaler (the MASE denominators are computed in the scaled
space, where an affine scaler divides error and denominator alike).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from forecast.choices import POINT_LOSSES
from forecast.data.scaling import LOG_SHIFT
from forecast.metrics.point import seasonal_scale

_EPS = 1e-8


def horizon_mask(batch):
    """(B, H) observed-target mask of a batch, or None when its panel has no padded rows."""
    mask = getattr(batch, "mask", None)
    return None if mask is None else mask[:, -batch.y.shape[1] :]


def seasonal_mae(values, offsets, fit_lengths, season_length):
    """(S,) in-sample seasonal-naive MAE of each series' first ``fit_lengths[s]`` rows.

    A series too short for one seasonal difference falls back to lag 1; a series with no
    variation (or a single point) takes the median of the others (1.0 when none has any).
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    with warnings.catch_warnings():  # short series: the lag-1 fallback or NaN, handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        out = np.array(
            [
                seasonal_scale(values[a : a + int(n)], season_length)
                for a, n in zip(offsets[:-1], fit_lengths)
            ],
            dtype=np.float64,
        )
    good = out > _EPS
    out[~good] = np.median(out[good]) if good.any() else 1.0
    return out


def fit_loss(kind, state, scaled_y, offsets, fit_lengths):
    """The training loss ``kind`` of a fit, with the per-series statistics the scale-free losses
    need: the seasonal-naive MAE of each series' first ``fit_lengths`` rows of ``scaled_y`` (mase)
    or the target scaler of the fit's ``state`` (smape). A distribution family's loss
    (``state.family``,
    ``forecast.probabilistic.families``) replaces ``kind``: the pinball loss over all its levels, or
    the negative log-likelihood. A sequence of kinds gives each ensemble member its own."""
    if isinstance(kind, (tuple, list)):  # one kind per ensemble member
        return MemberLosses([fit_loss(k, state, scaled_y, offsets, fit_lengths) for k in kind])
    fit_len = np.maximum(fit_lengths, 1)
    if state.family is not None:
        return state.family.loss(state.target_scaler.loc_[:, 0], state.target_scaler.scale_[:, 0])
    if kind == "mase":
        return ForecastLoss(
            "mase", series_scale=seasonal_mae(scaled_y, offsets, fit_len, state.season_length)
        )
    if kind == "smape":
        return ForecastLoss(
            "smape",
            loc=state.target_scaler.loc_[:, 0],
            spread=state.target_scaler.scale_[:, 0],
            shift=LOG_SHIFT.get(state.target_transform),
        )
    return ForecastLoss(kind)


class ForecastLoss(nn.Module):
    """``loss(pred, y, series=None, mask=None)`` -> scalar mean over observed points.

    Parameters
    ----------
    kind : one of :data:`LOSSES`.
    series_scale : (S,) MASE denominators per fitted series (``mase`` only).
    loc, spread : (S,) the target scaler's location and scale per series (``smape`` only).
    """

    def __init__(self, kind="mse", series_scale=None, loc=None, spread=None, shift=None):
        super().__init__()
        # smape: the target was log(y + shift)-transformed before scaling (None: not at all)
        self.shift = shift
        if kind not in POINT_LOSSES:
            raise ValueError(f"loss must be one of {POINT_LOSSES}, got {kind!r}")
        self.kind = kind
        for name, value in (("series_scale", series_scale), ("loc", loc), ("spread", spread)):
            self.register_buffer(
                name,
                None if value is None else torch.as_tensor(value, dtype=torch.float32),
                persistent=False,
            )
        if kind == "mase" and series_scale is None:
            raise ValueError(
                "loss='mase' needs each series' in-sample seasonal-naive MAE (series_scale)"
            )

    def pointwise(self, pred, y, series=None):  # pred, y: (B, T); series: (B,) -> (B, T)
        pred, y = pred.float(), y.float()
        if self.kind == "mse":
            return (pred - y) ** 2
        if self.kind == "huber":
            return nn.functional.huber_loss(pred, y, reduction="none")
        if self.kind == "mae":
            return (pred - y).abs()
        if self.kind == "mase":
            return (pred - y).abs() / self.series_scale.to(pred.device)[series][:, None]
        loc, spread = (
            t.to(pred.device)[series][:, None] if t is not None else 0.0
            for t in (self.loc, self.spread)
        )
        spread = 1.0 if self.spread is None else spread
        raw_pred, raw_y = pred * spread + loc, y * spread + loc
        if self.shift is not None:
            raw_pred, raw_y = (v.clamp(max=80.0).exp() - self.shift for v in (raw_pred, raw_y))
        return 2.0 * (raw_pred - raw_y).abs() / (raw_pred.abs() + raw_y.abs()).clamp_min(_EPS)

    def forward(self, pred, y, series=None, mask=None):
        return masked_mean(self.pointwise(pred, y, series), mask)


def masked_mean(terms, mask):
    if mask is None:
        return terms.mean()
    mask = mask.to(terms.dtype)
    return (terms * mask).sum() / mask.sum().clamp_min(1.0)


class MemberLosses(nn.Module):
    """One loss per ensemble member (``forecast.networks.model.Ensemble`` reads ``losses``); on a
    combined forecast (validation) the mean of them all."""

    def __init__(self, losses):
        super().__init__()
        self.losses = nn.ModuleList(losses)

    def forward(self, pred, y, series=None, mask=None):
        return torch.stack([fn(pred, y, series, mask) for fn in self.losses]).mean()
