"""Heads: map the encoder's summary (and known future inputs) to the horizon."""

from __future__ import annotations

import torch
from torch import nn

from forecast import choices
from forecast.networks.encoders import make_rnn


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
        self.mlp = nn.Sequential(
            nn.Linear(in_size, hidden), nn.ReLU(), nn.Linear(hidden, horizon * n_targets)
        )
        self.skip = nn.Linear(
            in_size, horizon * n_targets
        )  # linear path keeps simple structure easy to learn

    def zero_output(self):
        """Start at a zero forecast (the seasonal skip connection then starts at seasonal naive)."""
        for layer in (self.mlp[-1], self.skip):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, enc_out, summary, x_future, static):
        # enc_out: (B, L, E) unused by the direct head; summary: (B, E); x_future: (B, H, K);
        # static: (B, S)
        z = torch.cat([summary, x_future.flatten(1), static], dim=1)  # (B, E + H*K + S)
        return (self.mlp(z) + self.skip(z)).view(-1, self.horizon, self.n_targets)  # (B, H, T)


class DotAttention(nn.Module):
    """Luong "general" attention: score = h . W e, scaled by sqrt(d)."""

    def __init__(self, dec_size, enc_size):
        super().__init__()
        self.key = nn.Linear(enc_size, dec_size, bias=False)

    def forward(self, h, enc_out):  # h: (B, D); enc_out: (B, L, E)
        scores = torch.einsum("bd,bld->bl", h, self.key(enc_out)) / h.shape[-1] ** 0.5  # (B, L)
        return scores.softmax(dim=1)


class AdditiveAttention(nn.Module):
    """Bahdanau attention: score = v . tanh(W h + U e)."""

    def __init__(self, dec_size, enc_size):
        super().__init__()
        self.query, self.key = (
            nn.Linear(dec_size, dec_size),
            nn.Linear(enc_size, dec_size, bias=False),
        )
        self.v = nn.Linear(dec_size, 1, bias=False)

    def forward(self, h, enc_out):  # h: (B, D); enc_out: (B, L, E)
        scores = self.v(torch.tanh(self.query(h)[:, None] + self.key(enc_out)))[..., 0]  # (B, L)
        return scores.softmax(dim=1)


ATTENTIONS = dict(
    zip(choices.ATTENTIONS[1:], (DotAttention, AdditiveAttention), strict=True)
)  # [0] is None


class Seq2SeqHead(nn.Module):
    """Encoder-decoder: a unidirectional recurrent decoder unrolls ``horizon`` steps.

    A linear bridge maps the encoder summary (either direction count) and the static covariates
    to the decoder's initial state. Step ``t`` reads [previous output, future-known covariates at
    ``t``, static]; the first "previous output" is a zero go-token. With ``attention`` the
    decoder state queries the encoder outputs and the context joins the output layer; the
    weights of the last forward are kept in ``attention_weights`` (B, H, L), detached.

    Teacher forcing: when ``y`` is given in training mode, each sample's previous output is
    replaced by the true value with probability ``teacher_forcing`` (set by the training
    schedule, see ``forecast.estimator``). Without ``y`` (evaluation, forecasting) it never is.
    """

    def __init__(
        self,
        enc_size,
        horizon,
        n_future=0,
        n_static=0,
        n_targets=1,
        hidden=64,
        cell="lstm",
        num_layers=1,
        attention=None,
    ):
        super().__init__()
        self.horizon, self.n_targets, self.num_layers, self.hidden = (
            horizon,
            n_targets,
            num_layers,
            hidden,
        )
        self.n_states = 2 if cell == "lstm" else 1  # LSTM needs (h, c)
        self.bridge = nn.Linear(enc_size + n_static, self.n_states * num_layers * hidden)
        self.rnn = make_rnn(cell, n_targets + n_future + n_static, hidden, num_layers)
        self.attention = ATTENTIONS[attention](hidden, enc_size) if attention else None
        self.out = nn.Linear(hidden + (enc_size if attention else 0), n_targets)
        self.teacher_forcing = 0.0
        self.generator = (
            None  # a CPU torch.Generator for the forcing draws (None: torch's global one)
        )
        self.attention_weights = None

    def zero_output(self):
        """Start at a zero forecast (the seasonal skip connection then starts at seasonal naive)."""
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, enc_out, summary, x_future, static, y=None):
        # enc_out: (B, L, E); summary: (B, E); x_future: (B, H, K); static: (B, S); y: (B, H) or
        # None
        B = summary.shape[0]
        state = self._initial_state(torch.cat([summary, static], dim=1))
        prev = summary.new_zeros(B, self.n_targets)  # go-token
        preds, weights = [], []
        for t in range(self.horizon):
            inp = torch.cat([prev, x_future[:, t], static], dim=1)  # (B, T + K + S)
            out, state = self.rnn(inp[:, None], state)
            h = out[:, 0]  # (B, D)
            if self.attention is not None:
                w = self.attention(h, enc_out)  # (B, L)
                h = torch.cat([h, torch.einsum("bl,ble->be", w, enc_out)], dim=1)  # (B, D + E)
                weights.append(w)
            pred = self.out(h)  # (B, T)
            preds.append(pred)
            prev = pred
            if y is not None and self.training and self.teacher_forcing > 0:
                draw = (
                    torch.rand(B, 1, generator=self.generator)
                    if self.generator is not None
                    else torch.rand(B, 1, device=pred.device)
                )
                force = draw.to(pred.device) < self.teacher_forcing  # (B, 1)
                prev = torch.where(force, y[:, t, None].to(pred.dtype), pred)
        if weights:
            self.attention_weights = torch.stack(weights, dim=1).detach()  # (B, H, L)
        return torch.stack(preds, dim=1)  # (B, H, T)

    def _initial_state(self, z):  # z: (B, E + S) -> (layers, B, D) or LSTM (h, c)
        parts = torch.tanh(self.bridge(z)).view(-1, self.n_states, self.num_layers, self.hidden)
        parts = parts.permute(1, 2, 0, 3).contiguous()  # (states, layers, B, D)
        return (parts[0], parts[1]) if self.n_states == 2 else parts[0]


class OneStepHead(nn.Module):
    """The recursive family's readout: each step's recurrent output -> the next value."""

    def __init__(self, enc_size, n_targets=1):
        super().__init__()
        self.out = nn.Linear(enc_size, n_targets)

    def forward(self, out):  # out: (B, T, E)
        return self.out(out)  # (B, T, n_targets)


HEADS = dict(zip(choices.NETWORK_HEADS, (DirectHead, Seq2SeqHead, OneStepHead), strict=True))
