"""The recursive network: a one-step-ahead RNN, trained many-to-many, forecasting by feeding its
predictions back (``head="recursive"``; ``forecast.training.tbptt`` trains it on whole series)."""

from __future__ import annotations

import torch
from torch import nn

from forecast.networks.norms import WindowNorm
from forecast.networks.outputs import Point


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
        # y_prev: (B, T); past_prev: (B, T, P); known: (B, T, K); static: (B, S) -> (B, T, 1 + P + K
        # + S)
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
