"""The forecasting network: an encoder and a head composed, nothing else."""
from __future__ import annotations

from torch import nn

from .encoders import RNNEncoder
from .heads import HEADS


class ForecastNetwork(nn.Module):
    def __init__(self, encoder, head):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, x, x_future, static):  # x: (B, L, F); x_future: (B, H, K); static: (B, S)
        enc_out, summary = self.encoder(x)  # (B, L, E), (B, E)
        return self.head(enc_out, summary, x_future, static)[..., 0]  # (B, H): single target


def build_network(n_features, n_future, n_static, horizon, cell="lstm", hidden_size=64, num_layers=1,
                  dropout=0.0, bidirectional=False, merge="concat", nonlinearity="tanh", head="direct"):
    """Build encoder + head from plain values (the estimator's parameters)."""
    encoder = RNNEncoder(n_features, hidden_size, cell, num_layers, dropout, bidirectional, merge, nonlinearity)
    return ForecastNetwork(encoder, HEADS[head](encoder.out_size, horizon, n_future, n_static))
