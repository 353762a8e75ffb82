"""Heads: map the encoder's summary (and known future inputs) to the horizon."""
from __future__ import annotations

import torch
from torch import nn


class DirectHead(nn.Module):
    """Direct multi-horizon output: one linear map to all ``horizon x n_targets`` values at once.

    Input: the encoder summary (B, E), the future-known covariates over the horizon flattened
    (B, H*K), and the static covariates (B, S). A hidden layer mixes them before the output.
    """

    def __init__(self, enc_size, horizon, n_future=0, n_static=0, n_targets=1, hidden=None):
        super().__init__()
        self.horizon, self.n_targets = horizon, n_targets
        in_size = enc_size + horizon * n_future + n_static
        hidden = hidden or max(enc_size, 32)
        self.mlp = nn.Sequential(nn.Linear(in_size, hidden), nn.ReLU(), nn.Linear(hidden, horizon * n_targets))
        self.skip = nn.Linear(in_size, horizon * n_targets)  # linear path keeps simple structure easy to learn

    def forward(self, enc_out, summary, x_future, static):
        # enc_out: (B, L, E) unused by the direct head; summary: (B, E); x_future: (B, H, K); static: (B, S)
        z = torch.cat([summary, x_future.flatten(1), static], dim=1)  # (B, E + H*K + S)
        return (self.mlp(z) + self.skip(z)).view(-1, self.horizon, self.n_targets)  # (B, H, T)


HEADS = {"direct": DirectHead}
