"""The forecasting networks: an encoder and a head composed, nothing else.

Each network maps ``(x (B, L, F), x_future (B, H, K), static (B, S)) -> (B, H)``. A network may
also define ``training_loss(batch, loss_fn)``; ``forecast.training.train`` then uses it instead
of ``loss_fn(module(...), batch.y)`` (teacher forcing, many-to-many targets).
"""
from __future__ import annotations

import torch
from torch import nn

from .encoders import RNNEncoder
from .heads import HEADS, OneStepHead, Seq2SeqHead


class ForecastNetwork(nn.Module):
    """Encoder over the lookback + a head over the horizon ("direct" or "seq2seq")."""

    def __init__(self, encoder, head):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, x, x_future, static, y=None):  # x: (B, L, F); x_future: (B, H, K); static: (B, S)
        enc_out, summary = self.encoder(x)  # (B, L, E), (B, E)
        teacher = {} if y is None else {"y": y}  # only the seq2seq head reads targets (teacher forcing)
        return self.head(enc_out, summary, x_future, static, **teacher)[..., 0]  # (B, H): single target

    def training_loss(self, batch, loss_fn):
        y = batch.y if isinstance(self.head, Seq2SeqHead) else None
        return loss_fn(self(batch.x, batch.x_future, batch.static, y).float(), batch.y)


class RecursiveNetwork(nn.Module):
    """One-step-ahead RNN, trained many-to-many and forecasting by feeding its predictions back.

    Step ``t`` reads ``[y_{t-1}, past covariates_{t-1}, known_t, static]`` (known = future-known
    + calendar) and predicts ``y_t``. Training scores every step of the window's ``L + H``
    (inputs shifted by one); past covariates are unknown after the origin and read as 0 there,
    in training and forecasting alike. Forecasting runs the lookback in one call, then feeds
    each prediction back for ``horizon`` steps while carrying the hidden state.
    """

    def __init__(self, encoder, head, n_past, n_known):
        super().__init__()
        self.encoder, self.head = encoder, head
        self.n_past, self.n_known = n_past, n_known

    def unroll(self, inputs, state=None):  # inputs: (B, T, D)
        out, state = self.encoder.run(inputs, state)  # (B, T, E)
        return self.head(out)[..., 0], state  # (B, T)

    def step_inputs(self, y_prev, past_prev, known, static):
        # y_prev: (B, T); past_prev: (B, T, P); known: (B, T, K); static: (B, S) -> (B, T, 1 + P + K + S)
        return torch.cat([y_prev[..., None], past_prev, known, static[:, None].expand(-1, y_prev.shape[1], -1)], -1)

    def split(self, x):  # x: (B, L, F) -> y (B, L), past (B, L, P), known (B, L, K)
        P = self.n_past
        return x[..., 0], x[..., 1 : 1 + P], x[..., 1 + P : 1 + P + self.n_known]

    def forward(self, x, x_future, static):  # x: (B, L, F); x_future: (B, H, K); static: (B, S)
        y, past, known = self.split(x)
        known_next = torch.cat([known[:, 1:], x_future[:, :1]], dim=1)  # (B, L, K): known_t for t = 1..L
        pred, state = self.unroll(self.step_inputs(y, past, known_next, static))  # (B, L)
        preds = [pred[:, -1:]]  # (B, 1): y_L, the first horizon step
        no_past = past.new_zeros(past.shape[0], 1, self.n_past)
        for t in range(1, x_future.shape[1]):
            step, state = self.unroll(self.step_inputs(preds[-1], no_past, x_future[:, t : t + 1], static), state)
            preds.append(step)
        return torch.cat(preds, dim=1)  # (B, H)

    def teacher_sequence(self, x, x_future, y_future, static):
        """Inputs (B, L+H-1, D) and one-step targets (B, L+H-1) over the whole window."""
        y, past, known = self.split(x)
        ys = torch.cat([y, y_future.to(y.dtype)], dim=1)  # (B, L+H)
        pasts = torch.cat([past, past.new_zeros(past.shape[0], x_future.shape[1], self.n_past)], dim=1)
        knowns = torch.cat([known, x_future], dim=1)  # (B, L+H, K)
        return self.step_inputs(ys[:, :-1], pasts[:, :-1], knowns[:, 1:], static), ys[:, 1:]

    def training_loss(self, batch, loss_fn):
        inputs, targets = self.teacher_sequence(batch.x, batch.x_future, batch.y, batch.static)
        pred, _ = self.unroll(inputs)  # (B, L+H-1)
        return loss_fn(pred.float(), targets)


def build_network(n_features, n_future, n_static, horizon, cell="lstm", hidden_size=64, num_layers=1,
                  dropout=0.0, bidirectional=False, merge="concat", nonlinearity="tanh", head="direct",
                  attention=None, residual=False, layer_norm=False):
    """Build encoder + head from plain values (the estimator's parameters)."""
    if head == "recursive":
        n_past = n_features - 1 - n_future
        encoder = RNNEncoder(1 + n_past + n_future + n_static, hidden_size, cell, num_layers, dropout, False,
                             merge, nonlinearity, residual, layer_norm)
        return RecursiveNetwork(encoder, OneStepHead(encoder.out_size), n_past, n_future)
    encoder = RNNEncoder(n_features, hidden_size, cell, num_layers, dropout, bidirectional, merge, nonlinearity,
                         residual, layer_norm)
    if head == "seq2seq":
        return ForecastNetwork(encoder, Seq2SeqHead(encoder.out_size, horizon, n_future, n_static, 1, hidden_size,
                                                    cell, num_layers, attention))
    return ForecastNetwork(encoder, HEADS[head](encoder.out_size, horizon, n_future, n_static))
