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
from torch.nn import functional as F

from forecast.choices import LOSSES
from forecast.metrics.point import seasonal_scale

_EPS = 1e-8


def quantile_levels(quantiles):
    """The levels a quantile head forecasts: the requested ones and the median (the point), ascending."""
    return sorted(set(float(q) for q in quantiles) | {0.5})


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
    or the target scaler of the fit's ``state`` (smape). A probabilistic output replaces ``kind``:
    the pinball loss over all its quantile levels, or the distribution's negative log-likelihood."""
    if isinstance(kind, (tuple, list)):  # member_losses: one kind per ensemble member
        return MemberLosses([fit_loss(k, state, scaled_y, offsets, fit_lengths) for k in kind])
    fit_len = np.maximum(fit_lengths, 1)
    if state.network.get("quantiles"):
        return PinballLoss(quantile_levels(state.network["quantiles"]))
    if state.network.get("distribution"):
        return NLLLoss(
            state.network["distribution"],
            loc=state.target_scaler.loc_[:, 0],
            spread=state.target_scaler.scale_[:, 0],
        )
    if kind == "mase":
        return ForecastLoss(
            "mase", series_scale=seasonal_mae(scaled_y, offsets, fit_len, state.season_length)
        )
    if kind == "smape":
        return ForecastLoss(
            "smape",
            loc=state.target_scaler.loc_[:, 0],
            spread=state.target_scaler.scale_[:, 0],
            log=state.target_transform == "log",
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

    def __init__(self, kind="mse", series_scale=None, loc=None, spread=None, log=False):
        super().__init__()
        self.log = log  # smape: the target was log-transformed before scaling (exp after unscaling)
        if kind not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")
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
        if self.log:
            raw_pred, raw_y = raw_pred.clamp(max=80.0).exp(), raw_y.clamp(max=80.0).exp()
        return 2.0 * (raw_pred - raw_y).abs() / (raw_pred.abs() + raw_y.abs()).clamp_min(_EPS)

    def forward(self, pred, y, series=None, mask=None):
        return _masked_mean(self.pointwise(pred, y, series), mask)


def _masked_mean(terms, mask):
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


class PinballLoss(nn.Module):
    """Mean pinball (quantile) loss over every level at once: ``pred`` (B, T, Q), ``y`` (B, T)."""

    def __init__(self, levels):
        super().__init__()
        self.register_buffer(
            "levels", torch.as_tensor(levels, dtype=torch.float32), persistent=False
        )

    def forward(self, pred, y, series=None, mask=None):
        diff = y.float()[..., None] - pred.float()  # (B, T, Q)
        q = self.levels.to(diff.device)
        return _masked_mean(torch.maximum(q * diff, (q - 1.0) * diff).mean(-1), mask)


class NLLLoss(nn.Module):
    """Negative log-likelihood of ``y`` (B, T) under per-step parameters ``pred`` (B, T, P), in the
    scaled frame (``negative_binomial``: of the counts, read back through the series' scaler)."""

    def __init__(self, family, loc=None, spread=None):
        super().__init__()
        self.family = family
        for name, value in (("loc", loc), ("spread", spread)):
            self.register_buffer(
                name,
                None if value is None else torch.as_tensor(value, dtype=torch.float32),
                persistent=False,
            )

    def forward(self, pred, y, series=None, mask=None):
        loc = spread = None
        if self.family == "negative_binomial":
            loc, spread = (t.to(pred.device)[series][:, None] for t in (self.loc, self.spread))
        return _masked_mean(
            -log_likelihood(self.family, pred.float(), y.float(), loc, spread), mask
        )


def nb_mean(mean, loc, spread):
    """Negative binomial mean in counts from its scaled-frame mean (torch): smooth and positive."""
    return spread * F.softplus(loc / spread + mean)


def log_likelihood(family, params, y, loc=None, spread=None):
    """(B, T) log-likelihood of ``y`` (B, T) (scaled frame) under ``params`` (B, T, P).

    ``negative_binomial`` reads the counts back through the scaler's ``loc`` / ``spread`` (B, 1).
    """
    if family == "normal":
        return torch.distributions.Normal(params[..., 0], params[..., 1]).log_prob(y)
    if family == "student_t":
        return torch.distributions.StudentT(
            params[..., 2], params[..., 0], params[..., 1]
        ).log_prob(y)
    mu = nb_mean(params[..., 0], loc, spread)
    counts = (y * spread + loc).round().clamp_min(0.0)
    r = 1.0 / params[..., 1]
    return (
        torch.lgamma(counts + r)
        - torch.lgamma(r)
        - torch.lgamma(counts + 1.0)
        + r * torch.log(r / (r + mu))
        + counts * torch.log(mu / (r + mu))
    )
