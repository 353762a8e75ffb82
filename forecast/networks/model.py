"""The forecasting networks: an encoder and a head composed, nothing else.

Each network maps ``(x (B, L, F), x_future (B, H, K), static (B, S)) -> (B, H)``. A network may
also define ``training_loss(batch, loss_fn)``; ``forecast.training.loop.train`` then uses it instead
of ``loss_fn(module(...), batch.y)`` (teacher forcing, many-to-many targets).
"""

from __future__ import annotations

import torch
from torch import nn

from forecast.choices import WINDOW_NORMS
from forecast.networks.encoders import RNNEncoder
from forecast.networks.heads import HEADS, OneStepHead, Seq2SeqHead
from forecast.networks.outputs import Point, make_output
from forecast.networks.smoothing import ExpSmoothing
from forecast.training.losses import horizon_mask


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
        if mode not in WINDOW_NORMS or mode == "es":
            raise ValueError(f"window_norm must be one of {WINDOW_NORMS}, got {mode!r}")
        self.mode = mode

    def stats(self, y):  # y: (B, L) -> shift (B, 1), scale (B, 1)
        # Detached, as in RevIN: the inputs carry no parameters, so training is unchanged, and
        # d(loss)/d(x_t) (forecast.evaluation.diagnostics) then follows the recurrent path, not the statistics.
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
    median of their forecasts. Each member's loss is its own (a :class:`~forecast.training.losses.MemberLosses`
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


class RecursiveNetwork(nn.Module):
    """One-step-ahead RNN, trained many-to-many and forecasting by feeding its predictions back.

    Step ``t`` reads ``[y_{t-1}, past covariates_{t-1}, known_t, static]`` (known = future-known
    + calendar) and predicts ``y_t``. Training scores every step of the window's ``L + H``
    (inputs shifted by one); past covariates are unknown after the origin and read as 0 there,
    in training and forecasting alike. Forecasting runs the lookback in one call, then feeds
    each prediction back for ``horizon`` steps while carrying the hidden state.
    """

    def __init__(self, encoder, head, n_past, n_known, window_norm=None, output=None):
        super().__init__()
        self.encoder, self.head = encoder, head
        self.output = output or Point()
        self.n_past, self.n_known = n_past, n_known
        self.norm = WindowNorm(window_norm)  # stats of the lookback; generation runs in its frame

    def unroll(self, inputs, state=None):  # inputs: (B, T, D) -> location channel (B, T), state
        raw, state = self.unroll_raw(inputs, state)
        return raw[..., 0], state

    def unroll_raw(
        self, inputs, state=None
    ):  # inputs: (B, T, D) -> every output channel (B, T, C), state
        out, state = self.encoder.run(inputs, state)  # (B, T, E)
        return self.head(out), state

    def step_inputs(self, y_prev, past_prev, known, static):
        # y_prev: (B, T); past_prev: (B, T, P); known: (B, T, K); static: (B, S) -> (B, T, 1 + P + K + S)
        return torch.cat(
            [y_prev[..., None], past_prev, known, static[:, None].expand(-1, y_prev.shape[1], -1)],
            -1,
        )

    def split(self, x):  # x: (B, L, F) -> y (B, L), past (B, L, P), known (B, L, K)
        P = self.n_past
        return x[..., 0], x[..., 1 : 1 + P], x[..., 1 + P : 1 + P + self.n_known]

    def forward(
        self, x, x_future, static, series=None
    ):  # x: (B, L, F); x_future: (B, H, K); static: (B, S)
        x, stats = self.norm.inputs(x)
        y, past, known = self.split(x)
        known_next = torch.cat(
            [known[:, 1:], x_future[:, :1]], dim=1
        )  # (B, L, K): known_t for t = 1..L
        raw, state = self.unroll_raw(self.step_inputs(y, past, known_next, static))  # (B, L, C)
        raws = [raw[:, -1:]]  # (B, 1, C): y_L, the first horizon step
        no_past = past.new_zeros(past.shape[0], 1, self.n_past)
        for t in range(1, x_future.shape[1]):  # the location (median, loc) is fed back
            step, state = self.unroll_raw(
                self.step_inputs(raws[-1][..., 0], no_past, x_future[:, t : t + 1], static), state
            )
            raws.append(step)
        return self.output.project(torch.cat(raws, dim=1), self.norm, stats)  # (B, H) or (B, H, C)

    def sample_paths(self, x, x_future, static, draw):
        """Coherent sample paths (B, H) in the scaled frame: each step's draw is fed back.

        ``draw(params)`` samples one value per row from the projected step parameters (B, 1, P).
        """
        x, stats = self.norm.inputs(x)
        y, past, known = self.split(x)
        known_next = torch.cat([known[:, 1:], x_future[:, :1]], dim=1)
        raw, state = self.unroll_raw(self.step_inputs(y, past, known_next, static))
        paths, raw = [], raw[:, -1:]
        no_past = past.new_zeros(past.shape[0], 1, self.n_past)
        for t in range(x_future.shape[1]):
            value = draw(self.output.project(raw, self.norm, stats))  # (B, 1) scaled frame
            paths.append(value)
            if t + 1 < x_future.shape[1]:
                fed = self.norm.forward_values(value, stats)  # back into the normalised frame
                raw, state = self.unroll_raw(
                    self.step_inputs(fed, no_past, x_future[:, t + 1 : t + 2], static), state
                )
        return torch.cat(paths, dim=1)

    def teacher_sequence(self, x, x_future, y_future, static):
        """Inputs (B, L+H-1, D) and one-step targets (B, L+H-1) over the whole window."""
        y, past, known = self.split(x)
        ys = torch.cat([y, y_future.to(y.dtype)], dim=1)  # (B, L+H)
        pasts = torch.cat(
            [past, past.new_zeros(past.shape[0], x_future.shape[1], self.n_past)], dim=1
        )
        knowns = torch.cat([known, x_future], dim=1)  # (B, L+H, K)
        return self.step_inputs(ys[:, :-1], pasts[:, :-1], knowns[:, 1:], static), ys[:, 1:]

    def training_loss(self, batch, loss_fn):
        x, stats = self.norm.inputs(batch.x)
        y_future = self.norm.forward_values(batch.y, stats)
        inputs, targets = self.teacher_sequence(x, batch.x_future, y_future, batch.static)
        raw, _ = self.unroll_raw(inputs)  # (B, L+H-1, C)
        mask = (
            None if getattr(batch, "mask", None) is None else batch.mask[:, 1:]
        )  # targets y_1 .. y_{L+H-1}
        # scored in the series' scale, like the other heads
        return loss_fn(
            self.output.project(raw, self.norm, stats).float(),
            self.norm.inverse(targets, stats).float(),
            batch.series,
            mask,
        )


def copy_weights(module, previous):
    """Warm start: copy ``previous``'s weights into the fresh network, which must have the same shapes."""
    state, new = previous.state_dict(), module.state_dict()
    changed = [k for k in new if k not in state or state[k].shape != new[k].shape]
    if changed:
        raise ValueError(
            f"warm_start: the network's shape changed (e.g. {changed[0]!r}: parameters or "
            "covariates differ from the previous fit); fit with warm_start=False"
        )
    module.load_state_dict(state)


def build_network(
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
    n_models=1,
    n_series=1,
    season_length=1,
    quantiles=None,
    distribution=None,
    member_lookbacks=None,
    input_steps=None,
):
    """Build encoder + head from plain values (the estimator's parameters); an :class:`Ensemble`
    of ``n_models`` such networks (each initialised from the generator's next draws) when > 1.
    ``n_series`` and ``season_length`` size the per-series smoothing of ``window_norm="es"``;
    ``quantiles`` / ``distribution`` choose the output (``forecast.networks.outputs``)."""
    if n_models > 1:
        kwargs = dict(
            cell=cell,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            bidirectional=bidirectional,
            merge=merge,
            nonlinearity=nonlinearity,
            head=head,
            attention=attention,
            residual=residual,
            layer_norm=layer_norm,
            window_norm=window_norm,
            skip_period=skip_period,
            n_series=n_series,
            season_length=season_length,
            quantiles=quantiles,
            distribution=distribution,
        )
        steps = member_lookbacks or [None] * n_models
        return Ensemble(
            [
                build_network(n_features, n_future, n_static, horizon, input_steps=s, **kwargs)
                for s in steps
            ]
        )
    output = make_output(quantiles, distribution)
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
