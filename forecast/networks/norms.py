"""Reversible per-window normalisation of the target channel (``window_norm="last"|"standard"``)."""

from __future__ import annotations

import torch
from torch import nn

from forecast.choices import NORMS


class WindowNorm(nn.Module):
    """Reversible per-window normalisation of the target channel (no parameters).

    Each input window's target is shifted (``"last"``: by its last value) or standardised
    (``"standard"``: by its own mean and standard deviation, as in RevIN, Kim et al. 2022,
    without the learned affine); the network forecasts in that frame and the forecast is mapped
    back. Trends and level shifts then no longer push inputs outside the range seen in training.
    The forecast is equivariant: adding c to a window adds c to its forecast ("last"), and
    a*window + c gives a*forecast + c ("standard"; a > 0). With "standard", a flat window has
    (almost) no spread, so its forecast stays (almost) flat at the window's level.
    """

    EPS = 1e-5

    def __init__(self, mode=None):
        super().__init__()
        if mode not in NORMS or mode == "es":
            raise ValueError(f"window_norm must be one of {NORMS[:3]}, got {mode!r}")
        self.mode = mode

    def stats(self, y):  # y: (B, L) -> shift (B, 1), scale (B, 1)
        # Detached, as in RevIN: the inputs carry no parameters, so training is unchanged, and
        # d(loss)/d(x_t) (forecast.evaluation.diagnostics) then follows the recurrent path, not the
        # statistics.
        y = y.detach()
        if self.mode == "last":
            return y[:, -1:], torch.ones_like(y[:, -1:])
        var = y.var(dim=1, keepdim=True, unbiased=False)
        return y.mean(dim=1, keepdim=True), (var + self.EPS).sqrt()

    def inputs(
        self, x, series=None
    ):  # x: (B, L, F) -> x with its target channel normalised, and the stats
        if self.mode is None:
            return x, None
        shift, scale = self.stats(x[..., 0])
        return torch.cat([((x[..., 0] - shift) / scale)[..., None], x[..., 1:]], dim=-1), (
            shift,
            scale,
        )

    @staticmethod
    def forward_values(v, stats):  # raw -> normalised frame
        return v if stats is None else (v - stats[0]) / stats[1]

    @staticmethod
    def inverse(v, stats):  # normalised frame -> raw
        return v if stats is None else v * stats[1] + stats[0]
