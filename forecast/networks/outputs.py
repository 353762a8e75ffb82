"""What a network's head emits per horizon step: a point, monotone quantiles, or a distribution.

The head's last layer has ``output.n_channels`` outputs per step in the network's normalised
frame (after the window normalisation). :meth:`project` maps them into the scaled-target frame
the loss and the forecast read, through the window normalisation's inverse, which is affine and
increasing per element (``v * a + b``, ``a > 0``; see ``forecast.networks.model``):

* :class:`Point`: (B, H) — the forecast, as before;
* :class:`Quantiles`: (B, H, Q) — ascending levels that never cross by construction: channel 0
  is the median, the levels above it add cumulative softplus increments to it, those below
  subtract them (no sorting after the fact);
* :class:`Parametric`: (B, H, P) — ``normal`` (loc, scale), ``student_t`` (loc, scale, df > 2)
  or ``negative_binomial`` (the mean in the scaled frame, the dispersion alpha > 0; the mean
  in counts is ``spread * softplus(loc / spread + mean)`` with the series' scaler, so it stays
  positive and follows the scaled mean where that is well above zero).

Channel 0 is always the location in the normalised frame: the recursive head feeds it back, and
the seasonal skip connection adds its base to it.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from forecast.choices import DISTRIBUTIONS
from forecast.training.losses import quantile_levels

MIN_SCALE = 1e-3  # in the normalised frame: keeps the likelihood finite on flat windows


def affine(norm, stats, shape, like):
    """(a, b), each ``shape`` (B, H), of the norm's inverse ``v -> v * a + b`` (a > 0)."""
    zero = like.new_zeros(shape)
    b = norm.inverse(zero, stats)
    return norm.inverse(zero + 1.0, stats) - b, b


def broadcast(v, shape):
    """(B, H) or (B, 1) statistics broadcast to ``shape``'s first two dimensions, (B, H, 1)."""
    return v.expand(shape[0], shape[1])[..., None]


class Point:
    n_channels = 1
    kind = "point"

    def project(self, raw, norm, stats):  # raw (B, H, 1) -> (B, H)
        return norm.inverse(raw[..., 0], stats)

    def point(self, out):
        return out

    def config(self):
        return {}


class Quantiles:
    """Monotone quantile levels (ascending; 0.5 always among them: the point forecast)."""

    kind = "quantiles"

    def __init__(self, levels):
        self.levels = quantile_levels(levels)
        self.median = self.levels.index(0.5)
        self.n_channels = len(self.levels)

    def project(self, raw, norm, stats):  # raw (B, H, Q) -> (B, H, Q) ascending
        m = self.median
        base = raw[..., :1]
        up = base + F.softplus(raw[..., 1 : self.n_channels - m]).cumsum(
            -1
        )  # levels above the median
        down = base - F.softplus(raw[..., self.n_channels - m :]).cumsum(-1)  # below, nearest first
        q = torch.cat([down.flip(-1), base, up], dim=-1)
        a, b = affine(norm, stats, raw.shape[:2], raw)
        return q * a[..., None] + b[..., None]

    def point(self, out):
        return out[..., self.median]

    def config(self):
        return {"quantiles": self.levels}


class Parametric:
    """A distribution per step, its parameters in the scaled-target frame."""

    kind = "distribution"

    def __init__(self, family):
        if family not in DISTRIBUTIONS[1:]:
            raise ValueError(f"distribution must be one of {DISTRIBUTIONS[1:]}, got {family!r}")
        self.family = family
        self.n_channels = 3 if family == "student_t" else 2

    def project(self, raw, norm, stats):  # raw (B, H, P) -> params (B, H, P)
        a, b = affine(norm, stats, raw.shape[:2], raw)
        loc = raw[..., 0] * a + b
        if self.family == "negative_binomial":
            return torch.stack([loc, F.softplus(raw[..., 1]) + 1e-4], dim=-1)
        scale = (F.softplus(raw[..., 1]) + MIN_SCALE) * a
        parts = [loc, scale] + (
            [2.0 + F.softplus(raw[..., 2])] if self.family == "student_t" else []
        )
        return torch.stack(parts, dim=-1)

    def point(self, out):
        return out[..., 0]

    def config(self):
        return {"distribution": self.family}


def make_output(quantiles=None, distribution=None):
    """The output of a network with these settings (at most one of the two)."""
    if quantiles:
        return Quantiles(quantiles)
    if distribution:
        return Parametric(distribution)
    return Point()
