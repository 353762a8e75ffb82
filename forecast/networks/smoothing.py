"""ES-RNN-style exponential smoothing inside the forward pass (Smyl, IJF 2020, the M4 winner).

:class:`ExpSmoothing` is a window normalisation with learned, per-series smoothing coefficients.
For each input window y (B, L) of series s, with season length m:

* seasonality: the window's last k = L // m full cycles, each taken relative to its own mean,
  are averaged with exponentially decaying weights γ_s (1 - γ_s)^(k-1-j) (the latest cycle
  weighs most), then centred: one seasonal profile p (B, m);
* level: the de-seasonalised window u_t = y_t - p[t] is smoothed exponentially with α_s
  (weights α_s (1 - α_s)^i for step i back from the origin; the oldest step takes the rest),
  giving the level l at the origin;
* the profile is scaled by a per-series seasonal strength β_s in (0, 1), learned too, and
  initialised from how regular the series' season is (0.5 + 0.4 x the lag-m autocorrelation of
  its detrended training part, ``forecast.data.seasonality.seasonal_strength_prior``): noisy
  profiles
  (weekly data, two cycles) start shrunk, regular ones nearly whole;
* the network reads (u_t - l) / σ (σ: the spread of u, detached) and forecasts in that frame;
  its forecast maps back as l + p[h mod m] + σ · out_h. At zero network output the forecast is
  the exponential-smoothing forecast itself (level + seasonal profile), so the recurrent network
  learns a correction to a Holt–Winters-style forecast, end to end with α_s and γ_s.

Applied to log values (``target_transform="log"``), the additive level and seasonality here are
ES-RNN's multiplicative ones. The coefficients are ``sigmoid`` of a per-series embedding; the
fitted values are read with :meth:`coefficients`.
"""

from __future__ import annotations

import torch
from torch import nn


class ExpSmoothing(nn.Module):
    EPS = 1e-5

    def __init__(self, n_series, season_length=1, alpha=0.6, gamma=0.3):
        super().__init__()
        self.season_length = max(int(season_length or 1), 1)
        self.logits = nn.Embedding(
            max(n_series, 1), 3
        )  # per series: (alpha, gamma, strength) before the sigmoid
        with (
            torch.no_grad()
        ):  # alpha 0.6: on M3 yearly 0.3 lagged trending series (sMAPE 19.6 vs 16.8, 3 seeds)
            self.logits.weight[:, 0] = torch.logit(torch.tensor(float(alpha)))
            self.logits.weight[:, 1] = torch.logit(torch.tensor(float(gamma)))
        self.set_strength(torch.full((max(n_series, 1),), 0.5))

    @torch.no_grad()
    def set_strength(self, prior):
        """Initial seasonal strength per series, in (0, 1): how much of the seasonal profile the
        smoothing forecast carries before training
        (``forecast.data.seasonality.seasonal_strength_prior``)."""
        prior = torch.as_tensor(prior, dtype=self.logits.weight.dtype).clamp(1e-3, 1 - 1e-3)
        self.logits.weight[:, 2] = torch.logit(prior)

    def coefficients(self, series=None):
        """(S, 3) or (B, 3) coefficients in (0, 1): alpha (level), gamma (seasonality), beta
        (seasonal strength).
        ``series`` None inside a forward: the mean over fitted series (for unindexed callers)."""
        if series is None:
            return torch.sigmoid(self.logits.weight)
        return torch.sigmoid(self.logits(series))

    def profile(self, y, gamma):  # y: (B, L); gamma: (B, 1) -> seasonal profile (B, m), centred
        B, L = y.shape
        m = self.season_length
        k = L // m
        if m == 1 or k < 2:
            return y.new_zeros(B, 1)
        cycles = y[:, L - k * m :].reshape(B, k, m)
        dev = cycles - cycles.mean(dim=2, keepdim=True)  # each cycle relative to its own mean
        j = torch.arange(k, device=y.device, dtype=y.dtype)
        w = gamma * (1 - gamma) ** (k - 1 - j)  # (B, k): the latest cycle weighs most
        w = w / w.sum(dim=1, keepdim=True)
        p = (w[:, :, None] * dev).sum(dim=1)  # (B, m)
        return p - p.mean(dim=1, keepdim=True)

    def stats(self, y, series=None):
        """y (B, L) -> seasonal component over the window (B, L), level at the origin (B, 1),
        seasonal profile (B, m) (or (B, 1) zeros) and spread (B, 1)."""
        coef = (
            self.coefficients(series)
            if series is not None
            else self.coefficients().mean(0, keepdim=True)
        )
        coef = coef.to(y.dtype).expand(y.shape[0], 3)
        alpha, gamma, strength = coef[:, :1], coef[:, 1:2], coef[:, 2:]
        L, m = y.shape[1], self.season_length
        p = self.profile(y, gamma) * strength  # (B, m) or (B, 1) zeros
        phase = (torch.arange(L, device=y.device) - L % m) % p.shape[
            1
        ]  # window step -> cycle position
        season_in = p[:, phase]  # (B, L)
        u = y - season_in
        i = torch.arange(
            L - 1, -1, -1, device=y.device, dtype=y.dtype
        )  # steps back from the origin
        w = alpha * (1 - alpha) ** i  # (B, L)
        w = torch.cat(
            [(1 - alpha) ** (L - 1), w[:, 1:]], dim=1
        )  # the oldest step takes the remaining weight
        level = (w * u).sum(dim=1, keepdim=True)  # (B, 1)
        spread = ((u - level).detach().pow(2).mean(dim=1, keepdim=True) + self.EPS).sqrt()
        return season_in, level, p, spread

    def inputs(self, x, series=None):  # x: (B, L, F) -> normalised x, stats
        season_in, level, p, spread = self.stats(x[..., 0], series)
        z = (x[..., 0] - season_in - level) / spread
        return torch.cat([z[..., None], x[..., 1:]], dim=-1), (level, p, spread)

    @staticmethod
    def _shift(stats, horizon):  # (B, H): level + the seasonal profile continued over the horizon
        level, p, _ = stats
        h = torch.arange(horizon, device=p.device) % p.shape[1]
        return level + p[:, h]

    def forward_values(self, v, stats):  # raw horizon values (B, H) -> normalised frame
        return (v - self._shift(stats, v.shape[1])) / stats[2]

    def inverse(self, v, stats):  # normalised forecast (B, H) -> raw
        return v * stats[2] + self._shift(stats, v.shape[1])
