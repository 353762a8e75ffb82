"""The forecasting networks: an encoder and a head composed, nothing else.

Each network maps ``(x (B, L, F), x_future (B, H, K), static (B, S)) -> (B, H)``. A network may
also define ``training_loss(batch, loss_fn)``; ``forecast.training.loop.train`` then uses it instead
of ``loss_fn(module(...), batch.y)`` (teacher forcing, many-to-many targets).
"""

from __future__ import annotations

import torch
from torch import nn

from forecast.networks.encoders import RNNEncoder
from forecast.networks.heads import HEADS, OneStepHead, Seq2SeqHead
from forecast.networks.norms import WindowNorm
from forecast.networks.outputs import Point
from forecast.networks.recursive import RecursiveNetwork
from forecast.networks.smoothing import ExpSmoothing
from forecast.training.losses import horizon_mask


def seasonal_base(y, horizon, period):
    """Seasonal-naive forecast of each window: y (B, L) -> (B, H), repeating its last ``period``
    values (the last value when ``period`` is 1 or longer than the window)."""
    period = period if 1 <= period <= y.shape[1] else 1
    idx = y.shape[1] - period + torch.arange(horizon, device=y.device) % period  # (H,)
    return y[:, idx]


class ForecastNetwork(nn.Module):
    """Encoder over the lookback + a head over the horizon ("direct" or "seq2seq").

    With ``skip_period`` (the seasonal skip connection) the head forecasts a correction to the
    window's seasonal-naive forecast, and its output layers start at zero: an untrained network
    is exactly seasonal naive, and training can only move away from it where that pays. With
    ``norm`` an :class:`~forecast.networks.smoothing.ExpSmoothing` (``window_norm="es"``) the
    same holds for the exponential-smoothing forecast.
    ``series`` (B,): the fitted series of each window (read by per-series smoothing only).
    ``output`` (``forecast.networks.outputs``): what the head emits per step — a point (B, H),
    monotone quantiles (B, H, Q) or a distribution's parameters (B, H, P), in the scaled frame.
    """

    def __init__(self, encoder, head, norm=None, skip_period=None, output=None, input_steps=None):
        super().__init__()
        self.encoder, self.head = encoder, head
        self.output = output or Point()
        self.input_steps = (
            input_steps  # read only the window's last steps (an ensemble member's lookback)
        )
        self.norm = norm if isinstance(norm, nn.Module) else WindowNorm(norm)
        self.skip_period = skip_period
        if skip_period or isinstance(self.norm, ExpSmoothing):
            head.zero_output()

    def forward(
        self, x, x_future, static, y=None, series=None
    ):  # x: (B, L, F); x_future: (B, H, K); static: (B, S)
        if self.input_steps:
            x = x[:, -self.input_steps :]
        x, stats = self.norm.inputs(x, series)
        enc_out, summary = self.encoder(x)  # (B, L, E), (B, E)
        # only the seq2seq head reads targets (teacher forcing), in the normalised frame
        teacher = {} if y is None else {"y": self.norm.forward_values(y, stats)}
        raw = self.head(
            enc_out, summary, x_future, static, **teacher
        )  # (B, H, C): the output's channels
        if self.skip_period:  # the correction's base, added to the location channel
            base = seasonal_base(x[..., 0], raw.shape[1], self.skip_period)[..., None]
            raw = (
                raw + base
                if raw.shape[-1] == 1
                else torch.cat([raw[..., :1] + base, raw[..., 1:]], dim=-1)
            )
        return self.output.project(raw, self.norm, stats)

    def training_loss(self, batch, loss_fn):
        y = batch.y if isinstance(self.head, Seq2SeqHead) else None
        return loss_fn(
            self(batch.x, batch.x_future, batch.static, y, batch.series).float(),
            batch.y,
            batch.series,
            horizon_mask(batch),
        )


class Ensemble(nn.Module):
    """``n`` member networks trained side by side (one optimizer, one loop) and combined by the
    median of their forecasts. Each member's loss is its own (a
    :class:`~forecast.training.losses.MemberLosses`
    gives each member its own kind); the training loss is their mean, and
    :func:`forecast.training.loop.clip_gradients` clips each member as if it trained alone. A member
    may read only the last ``input_steps`` of the window (``member_lookbacks``).
    ``member_losses`` holds the last step's per-member losses (detached) for the history."""

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.member_losses = None

    @property
    def output(self):  # the members share one output kind (forecast.networks.outputs)
        return self.members[0].output

    def forward(self, x, x_future, static, series=None):
        outs = torch.stack(
            [m(x, x_future, static, series=series) for m in self.members]
        )  # (M, B, H)
        return (
            outs.float().quantile(0.5, dim=0).to(outs.dtype) if len(self.members) > 1 else outs[0]
        )

    def training_loss(self, batch, loss_fn):
        fns = getattr(loss_fn, "losses", None) or [loss_fn] * len(self.members)
        losses = torch.stack([m.training_loss(batch, fn) for m, fn in zip(self.members, fns)])
        self.member_losses = losses.detach()
        return losses.mean()


def copy_weights(module, previous):
    """Warm start: copy ``previous``'s weights into the fresh network, which must have the same
    shapes.
    """
    state, new = previous.state_dict(), module.state_dict()
    changed = [k for k in new if k not in state or state[k].shape != new[k].shape]
    if changed:
        raise ValueError(
            f"warm_start: the network's shape changed (e.g. {changed[0]!r}: parameters or "
            "covariates differ from the previous fit); fit with warm_start=False"
        )
    module.load_state_dict(state)


def build_network(
    n_features, n_future, n_static, horizon, *, n_models=1, member_lookbacks=None, **config
):
    """Build encoder + head from plain values (the estimator's parameters; ``config``: those of
    :func:`single_network`); an :class:`Ensemble` of ``n_models`` such networks (each initialised
    from the generator's next draws) when > 1, ``member_lookbacks`` each member's window (None:
    the whole window)."""
    if n_models > 1:
        steps = member_lookbacks or [None] * n_models
        return Ensemble(
            [
                single_network(n_features, n_future, n_static, horizon, input_steps=s, **config)
                for s in steps
            ]
        )
    return single_network(n_features, n_future, n_static, horizon, **config)


def single_network(
    n_features,
    n_future,
    n_static,
    horizon,
    *,
    cell="lstm",
    hidden_size=64,
    num_layers=1,
    dropout=0.0,
    bidirectional=False,
    merge="concat",
    nonlinearity="tanh",
    head="direct",
    attention=None,
    residual=False,
    layer_norm=False,
    window_norm=None,
    skip_period=None,
    n_series=1,
    season_length=1,
    output=None,
    input_steps=None,
):
    """One encoder + head. ``n_series`` and ``season_length`` size the per-series smoothing of
    ``window_norm="es"``; ``output``: what the head emits per step (None: a point; a distribution
    family of ``forecast.probabilistic.families``)."""
    output = output or Point()
    C = output.n_channels
    rnn = dict(
        hidden_size=hidden_size,
        cell=cell,
        num_layers=num_layers,
        dropout=dropout,
        merge=merge,
        nonlinearity=nonlinearity,
        residual=residual,
        layer_norm=layer_norm,
    )
    if head == "recursive":
        n_past = n_features - 1 - n_future
        encoder = RNNEncoder(1 + n_past + n_future + n_static, bidirectional=False, **rnn)
        return RecursiveNetwork(
            encoder, OneStepHead(encoder.out_size, C), n_past, n_future, window_norm, output
        )
    encoder = RNNEncoder(n_features, bidirectional=bidirectional, **rnn)
    if window_norm == "es":
        window_norm = ExpSmoothing(n_series, season_length)
    if head == "seq2seq":
        decoder = Seq2SeqHead(
            encoder.out_size,
            horizon,
            n_future,
            n_static,
            C,
            hidden=hidden_size,
            cell=cell,
            num_layers=num_layers,
            attention=attention,
        )
        return ForecastNetwork(encoder, decoder, window_norm, skip_period, output, input_steps)
    return ForecastNetwork(
        encoder,
        HEADS[head](encoder.out_size, horizon, n_future, n_static, C),
        window_norm,
        skip_period,
        output,
        input_steps,
    )
