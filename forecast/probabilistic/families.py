"""One class per distribution family: its head, its likelihood, its quantiles and its sampling.

A family is chosen by ``loss`` (``forecast.choices.FAMILIES``); :func:`family` builds it. Each
class owns everything that differs between families, so a new family is one class here (and
its name in ``FAMILIES``):

* ``n_channels`` and :meth:`project`: the head's outputs per horizon step, mapped from the
  network's normalised frame into the scaled-target frame through the window normalisation's
  inverse, which is affine and increasing per element (``v * a + b``, ``a > 0``;
  ``forecast.networks.model``). Channel 0 is always the location: the recursive head feeds it
  back, and the seasonal skip connection adds its base to it;
* :meth:`loss`: the training loss (pinball, or the negative log-likelihood) as an ``nn.Module``
  with the signature of ``forecast.training.losses.ForecastLoss``;
* :meth:`quantile`: quantile(s) of the per-step forecast in the scaled frame (numpy);
* :meth:`sample`: independent draws per step (numpy), and :meth:`draw`: one torch draw per row,
  which the recursive head feeds back for coherent paths (None: the family cannot).

``counts``: the family forecasts counts, not scaled values (the negative binomial), which the
decoder then does not map back through the scaler.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import special, stats
from torch import nn
from torch.nn import functional as F

from forecast.networks.outputs import affine
from forecast.training.losses import masked_mean

MIN_SCALE = 1e-3  # in the normalised frame: keeps the likelihood finite on flat windows


def quantile_levels(quantiles):
    """The levels a quantile head forecasts: the requested ones and the median, ascending."""
    return sorted(set(float(q) for q in quantiles) | {0.5})


class Quantiles:
    """``loss="pinball"``: monotone quantile levels (ascending; 0.5 always among them, the point).

    The levels never cross by construction: channel 0 is the median, the levels above it add
    cumulative softplus increments to it, those below subtract them (no sorting after the fact).
    """

    name, counts, draw = "pinball", False, None

    def __init__(self, levels):
        self.requested = tuple(levels)
        self.levels = quantile_levels(levels)
        self.median = self.levels.index(0.5)
        self.n_channels = len(self.levels)

    def project(self, raw, norm, stats):  # raw (B, H, Q) -> (B, H, Q) ascending
        m = self.median
        base = raw[..., :1]
        up = base + F.softplus(raw[..., 1 : self.n_channels - m]).cumsum(-1)  # above the median
        down = base - F.softplus(raw[..., self.n_channels - m :]).cumsum(-1)  # nearest first
        q = torch.cat([down.flip(-1), base, up], dim=-1)
        a, b = affine(norm, stats, raw.shape[:2], raw)
        return q * a[..., None] + b[..., None]

    def point(self, out):
        return out[..., self.median]

    def loss(self, loc=None, spread=None):
        return PinballLoss(self.levels)

    def quantile(self, out, q, loc=None, spread=None, level=None):
        """(n, H) quantile ``q`` (one of the levels) of ``out`` (n, H, Q)."""
        for i, x in enumerate(self.levels):
            if abs(q - x) < 1e-9:
                return out[..., i]
        raise ValueError(
            f"level={level!r} needs the quantile {q:g}, but the model was fitted with "
            f"quantiles={self.requested}; add it, or use interval='conformal'"
        )

    def sample(self, out, u, loc=None, spread=None):
        """(n, H, k) draws at uniforms ``u``: the inverse CDF, linear between the levels, flat
        beyond them."""
        levels = np.asarray(self.levels)
        u = np.clip(u, levels[0], levels[-1])
        j = np.clip(np.searchsorted(levels, u, side="right"), 1, len(levels) - 1)  # upper level
        lo, hi = np.take_along_axis(out, j - 1, axis=2), np.take_along_axis(out, j, axis=2)
        return lo + (u - levels[j - 1]) / (levels[j] - levels[j - 1]) * (hi - lo)

    def check_target(self, panel):
        pass


class Parametric:
    """A distribution per step, its parameters in the scaled-target frame; subclasses give the
    parameter channels (:meth:`parameters`), the likelihood and the quantile function."""

    counts = False
    n_channels = 2

    def project(self, raw, norm, stats):  # raw (B, H, P) -> params (B, H, P)
        a, b = affine(norm, stats, raw.shape[:2], raw)
        return self.parameters(raw, raw[..., 0] * a + b, a)

    def parameters(self, raw, loc, a):  # a location-scale family: (loc, scale)
        return torch.stack([loc, resolvable((F.softplus(raw[..., 1]) + MIN_SCALE) * a, loc)], -1)

    def point(self, out):
        return out[..., 0]

    def loss(self, loc=None, spread=None):
        return NLLLoss(self, loc, spread)

    def sample(self, out, u, loc=None, spread=None):
        """(n, H, k) draws at uniforms ``u`` (n, H, k): the quantile function at each."""
        expand = (lambda v: v) if loc is None else (lambda v: v[..., None])
        return self.quantile(out[..., None, :], u, expand(loc), expand(spread))

    def check_target(self, panel):
        pass


def resolvable(scale, loc):
    """``scale``, at least the float resolution of ``loc``. The window norm's inverse is taken
    as a difference (``forecast.networks.outputs.affine``), which cancels to 0 for a window whose
    spread is below its level's resolution (lookback 1 at 1e5 in float32, say): a zero scale has
    no likelihood, and no scale below that resolution can be told from it anyway."""
    info = torch.finfo(scale.dtype)
    return torch.maximum(scale, loc.detach().abs() * info.eps + info.tiny)


class Normal(Parametric):
    """Location and scale. Distributions are built without argument validation
    (``validate_args=False``): a non-finite parameter of a diverging fit gives a non-finite loss,
    which the training loop's guard handles (rolls back, or says what to change), rather than
    torch's own error."""

    name = "normal"

    def log_likelihood(self, params, y, loc=None, spread=None):
        return _normal(params).log_prob(y)

    def quantile(self, params, q, loc=None, spread=None, level=None):
        return params[..., 0] + params[..., 1] * special.ndtri(q)

    def draw(self, params, loc=None, spread=None):
        return _normal(params).sample()


def _normal(params):
    return torch.distributions.Normal(params[..., 0], params[..., 1], validate_args=False)


class StudentT(Parametric):
    """Location, scale and degrees of freedom > 2 (a finite variance)."""

    name, n_channels = "student_t", 3

    def parameters(self, raw, loc, a):
        df = 2.0 + F.softplus(raw[..., 2])
        return torch.cat([super().parameters(raw, loc, a), df[..., None]], dim=-1)

    def log_likelihood(self, params, y, loc=None, spread=None):
        return _student_t(params).log_prob(y)

    def quantile(self, params, q, loc=None, spread=None, level=None):
        return params[..., 0] + params[..., 1] * stats.t.ppf(q, params[..., 2])

    def draw(self, params, loc=None, spread=None):
        return _student_t(params).sample()


def _student_t(params):
    return torch.distributions.StudentT(
        params[..., 2], params[..., 0], params[..., 1], validate_args=False
    )


class NegativeBinomial(Parametric):
    """Counts: the mean in the scaled frame and the dispersion alpha > 0. The mean in counts is
    ``spread * softplus(loc / spread + mean)`` with the series' scaler (``loc``, ``spread``), so
    it stays positive and follows the scaled mean where that is well above zero."""

    name, counts = "negative_binomial", True

    def parameters(self, raw, loc, a):
        return torch.stack([loc, F.softplus(raw[..., 1]) + 1e-4], dim=-1)

    @staticmethod
    def mean(params, loc, spread):  # torch: the mean in counts
        return spread * F.softplus(loc / spread + params[..., 0])

    def log_likelihood(self, params, y, loc=None, spread=None):
        mu = self.mean(params, loc, spread)
        counts = (y * spread + loc).round().clamp_min(0.0)
        r = 1.0 / params[..., 1]
        return (
            torch.lgamma(counts + r)
            - torch.lgamma(r)
            - torch.lgamma(counts + 1.0)
            + r * torch.log(r / (r + mu))
            + counts * torch.log(mu / (r + mu))
        )

    def quantile(self, params, q, loc=None, spread=None, level=None):
        mu = spread * np.logaddexp(0.0, loc / spread + params[..., 0])  # mean(), in numpy
        r = 1.0 / params[..., 1]
        return stats.nbinom.ppf(q, r, r / (r + mu))

    def draw(self, params, loc=None, spread=None):  # a draw in the scaled frame
        mu, r = self.mean(params, loc, spread), 1.0 / params[..., 1]
        counts = torch.distributions.NegativeBinomial(
            r, probs=mu / (r + mu), validate_args=False
        ).sample()
        return (counts - loc) / spread

    def check_target(self, panel):
        """Counts only: non-negative integer targets (the first bad series named)."""
        y = panel.data[:, 0]
        bad = ~np.isfinite(y) | (y < 0) | (y != np.round(y))
        if bad.any():
            row = int(np.argmax(bad))
            s = int(np.searchsorted(panel.offsets, row, side="right") - 1)
            raise ValueError(
                f"loss='negative_binomial' needs non-negative integer counts, but series "
                f"{panel.ids[s]!r} has y={y[row]!r}; use loss='normal' or 'student_t'"
            )


FAMILIES = {"normal": Normal, "student_t": StudentT, "negative_binomial": NegativeBinomial}


def family(name, quantiles=None):
    """The family of ``loss=name`` (None for a point loss); ``quantiles`` for "pinball"."""
    if name == "pinball":
        return Quantiles(quantiles)
    return FAMILIES[name]() if name in FAMILIES else None


class PinballLoss(nn.Module):
    """Mean pinball (quantile) loss over every level at once: ``pred`` (B, T, Q), ``y`` (B, T)."""

    def __init__(self, levels):
        super().__init__()
        levels = torch.as_tensor(levels, dtype=torch.float32)
        self.register_buffer("levels", levels, persistent=False)

    def forward(self, pred, y, series=None, mask=None):
        diff = y.float()[..., None] - pred.float()  # (B, T, Q)
        q = self.levels.to(diff.device)
        return masked_mean(torch.maximum(q * diff, (q - 1.0) * diff).mean(-1), mask)


class NLLLoss(nn.Module):
    """Negative log-likelihood of ``y`` (B, T) under per-step parameters ``pred`` (B, T, P), in
    the scaled frame; ``loc`` / ``spread`` (S,): the target scaler's, read by count families."""

    def __init__(self, family, loc=None, spread=None):
        super().__init__()
        self.family = family
        for name, value in (("loc", loc), ("spread", spread)):
            value = None if value is None else torch.as_tensor(value, dtype=torch.float32)
            self.register_buffer(name, value, persistent=False)

    def forward(self, pred, y, series=None, mask=None):
        loc = spread = None
        if self.family.counts:
            loc, spread = (t.to(pred.device)[series][:, None] for t in (self.loc, self.spread))
        ll = self.family.log_likelihood(pred.float(), y.float(), loc, spread)
        return masked_mean(-ll, mask)
