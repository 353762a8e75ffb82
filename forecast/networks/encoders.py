"""Recurrent encoders over the lookback window: Elman RNN, LSTM, GRU, uni- or bidirectional."""
from __future__ import annotations

import torch
from torch import nn

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}  # explicit table, not getattr(nn, name)
MERGES = ("concat", "sum")


class RNNEncoder(nn.Module):
    """Encode (B, L, F) into per-step outputs and a summary of the final states.

    A bidirectional encoder is safe here: the lookback lies wholly in the past. The summary
    takes the final state of *both* directions of the top layer (``out[:, -1]`` would give the
    backward direction a single step), merged by ``concat`` (2H) or ``sum`` (H).
    """

    def __init__(self, input_size, hidden_size=64, cell="lstm", num_layers=1, dropout=0.0,
                 bidirectional=False, merge="concat", nonlinearity="tanh"):
        super().__init__()
        kwargs = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
        self.rnn = CELLS[cell](input_size, hidden_size, num_layers=num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0,
                               bidirectional=bidirectional, **kwargs)
        self.n_dirs = 2 if bidirectional else 1
        self.merge = merge
        self.hidden_size = hidden_size
        self.out_size = hidden_size * (self.n_dirs if merge == "concat" else 1)
        self._init_weights()

    def _init_weights(self):
        for name, p in self.rnn.named_parameters():
            if name.startswith("weight_hh"):
                for chunk in p.data.chunk(p.shape[0] // p.shape[1]):  # one square block per gate
                    nn.init.orthogonal_(chunk)
            elif name.startswith("weight_ih"):
                nn.init.xavier_uniform_(p.data)
            elif name.startswith("bias"):
                nn.init.zeros_(p.data)
                if isinstance(self.rnn, nn.LSTM):  # forget-gate bias 1: remember by default
                    p.data[self.hidden_size : 2 * self.hidden_size] = 1.0

    def _merge(self, t, last_dim_split):
        if self.n_dirs == 1 or self.merge == "concat":
            return t
        a, b = t.split(last_dim_split, dim=-1)
        return a + b

    def forward(self, x):  # x: (B, L, F)
        out, state = self.rnn(x)  # out: (B, L, dirs*H)
        h_n = state[0] if isinstance(state, tuple) else state  # LSTM returns (h_n, c_n)
        last = h_n[-self.n_dirs :].transpose(0, 1).flatten(1)  # (B, dirs*H): top layer, both directions
        return self._merge(out, self.hidden_size), self._merge(last, self.hidden_size)
