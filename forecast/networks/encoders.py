"""Recurrent encoders over the lookback window: Elman RNN, LSTM, GRU, uni- or bidirectional."""

from __future__ import annotations

import torch
from torch import nn

from forecast import choices

CELLS = dict(
    zip(choices.RNN_CELLS, (nn.RNN, nn.LSTM, nn.GRU), strict=True)
)  # explicit table, not getattr(nn, name)


def make_rnn(
    cell,
    input_size,
    hidden_size,
    num_layers=1,
    dropout=0.0,
    bidirectional=False,
    nonlinearity="tanh",
):
    """One fused ``nn.RNN/LSTM/GRU`` (batch first) with orthogonal recurrent init."""
    kwargs = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
    rnn = CELLS[cell](
        input_size,
        hidden_size,
        num_layers=num_layers,
        batch_first=True,
        dropout=dropout if num_layers > 1 else 0.0,
        bidirectional=bidirectional,
        **kwargs,
    )
    for name, p in rnn.named_parameters():
        if name.startswith("weight_hh"):
            for chunk in p.data.chunk(p.shape[0] // p.shape[1]):  # one square block per gate
                nn.init.orthogonal_(chunk)
        elif name.startswith("weight_ih"):
            nn.init.xavier_uniform_(p.data)
        elif name.startswith("bias"):
            nn.init.zeros_(p.data)
            if cell == "lstm":  # forget-gate bias 1: remember by default
                p.data[hidden_size : 2 * hidden_size] = 1.0
    return rnn


class RNNEncoder(nn.Module):
    """Encode (B, L, F) into per-step outputs and a summary of the final states.

    A bidirectional encoder is safe here: the lookback lies wholly in the past. The summary
    takes the final state of *both* directions of the top layer (``out[:, -1]`` would give the
    backward direction a single step), merged by ``concat`` (2H) or ``sum`` (H).

    ``residual`` / ``layer_norm`` build the stack as separate single-layer RNNs: each layer's
    output is layer-normalised (``layer_norm``; over the features, outside the cell's gates) and
    added to its input (``residual``: ``x + layer(x)``, through a linear projection when the
    widths differ). Without either, one fused (cuDNN-style) module runs the whole stack.
    """

    def __init__(
        self,
        input_size,
        hidden_size=64,
        cell="lstm",
        num_layers=1,
        dropout=0.0,
        bidirectional=False,
        merge="concat",
        nonlinearity="tanh",
        residual=False,
        layer_norm=False,
    ):
        super().__init__()
        self.n_dirs = 2 if bidirectional else 1
        self.merge, self.hidden_size, self.cell = merge, hidden_size, cell
        self.out_size = hidden_size * (self.n_dirs if merge == "concat" else 1)
        self.stacked = residual or layer_norm
        if not self.stacked:
            self.rnn = make_rnn(
                cell, input_size, hidden_size, num_layers, dropout, bidirectional, nonlinearity
            )
            return
        width = self.n_dirs * hidden_size
        sizes = [input_size] + [width] * num_layers
        self.layers = nn.ModuleList(
            make_rnn(cell, sizes[i], hidden_size, 1, 0.0, bidirectional, nonlinearity)
            for i in range(num_layers)
        )
        self.skips = (
            nn.ModuleList(
                nn.Identity() if sizes[i] == width else nn.Linear(sizes[i], width, bias=False)
                for i in range(num_layers)
            )
            if residual
            else None
        )
        self.norms = (
            nn.ModuleList(nn.LayerNorm(width) for _ in range(num_layers)) if layer_norm else None
        )
        self.drop = nn.Dropout(dropout)

    def run(
        self, x, state=None
    ):  # x: (B, T, F); state: the cell's (layers*dirs, B, H) or LSTM (h, c)
        """All steps' top-layer outputs (B, T, dirs*H) and the final state, which ``state`` may
        continue.
        """
        if not self.stacked:
            return self.rnn(x, state)
        is_lstm, n = self.cell == "lstm", self.n_dirs
        finals = []
        for i, rnn in enumerate(self.layers):
            s = None if state is None else _slice_state(state, i * n, (i + 1) * n)
            out, s = rnn(x, s)  # (B, T, dirs*H)
            if self.norms is not None:
                out = self.norms[i](out)
            if self.skips is not None:
                out = self.skips[i](x) + out  # x + layer(x)
            x = self.drop(out) if i < len(self.layers) - 1 else out
            finals.append(s)
        if is_lstm:
            return x, (torch.cat([h for h, _ in finals]), torch.cat([c for _, c in finals]))
        return x, torch.cat(finals)

    def forward(self, x):  # x: (B, L, F)
        out, _ = self.run(x)  # (B, L, dirs*H)
        H = self.hidden_size
        # Forward direction ends at the last step, backward at the first: both have seen the whole
        # window.
        last = (
            out[:, -1] if self.n_dirs == 1 else torch.cat([out[:, -1, :H], out[:, 0, H:]], dim=1)
        )  # (B, dirs*H)
        return self._merge(out), self._merge(last)

    def _merge(self, t):
        if self.n_dirs == 1 or self.merge == "concat":
            return t
        a, b = t.split(self.hidden_size, dim=-1)
        return a + b


def _slice_state(state, lo, hi):
    if isinstance(state, tuple):
        return tuple(s[lo:hi] for s in state)
    return state[lo:hi]
