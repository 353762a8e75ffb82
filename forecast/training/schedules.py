"""Learning-rate schedules that follow a fit's progress through its plan *or* its time budget.

A fit ends at whichever comes first: its planned steps (``max_steps``, or ``max_epochs`` x steps
per epoch) or ``max_time``. A schedule written against the step count alone (torch's
``CosineAnnealingLR``) never decays in a fit that the clock ends early — and under a budget that is
the usual case on a CPU. Here progress is ``max(step / planned steps, elapsed / max_time)``, so the
learning rate reaches its floor as the fit ends, whichever limit ends it.

* ``"cosine"``: ``lr = base x (FLOOR + (1 - FLOOR) x (1 + cos(pi p)) / 2)`` over the whole fit;
* ``"cooldown"``: the base rate for the first ``1 - COOLDOWN`` of the fit, then the same cosine
  over its last ``COOLDOWN`` (warmup-stable-decay without the warmup; Hägele et al. 2024 show it
  matching a full cosine while leaving the rate high for most of a run of unknown length).

``"plateau"`` (halve on a stalled validation loss) is torch's ``ReduceLROnPlateau``; it steps per
epoch and does not need progress.
"""

from __future__ import annotations

import math
import time

import torch

FLOOR = 0.02  # the last step's rate, as a share of the base rate
COOLDOWN = 0.3  # "cooldown": the share of the fit spent decaying


def factor(kind, progress):
    """The multiplier of the base learning rate at ``progress`` in [0, 1] (clipped)."""
    p = min(max(float(progress), 0.0), 1.0)
    if kind == "cooldown":
        p = max(p - (1.0 - COOLDOWN), 0.0) / COOLDOWN
    return FLOOR + (1.0 - FLOOR) * 0.5 * (1.0 + math.cos(math.pi * p))


class ProgressSchedule:
    """Sets every parameter group's rate from the run's progress; call :meth:`step` after each
    optimizer step. Stateless beyond the optimizer's base rates (progress is recomputed from the
    step count and the clock), so a resumed fit continues where its step count says."""

    def __init__(self, optimizer, kind, total_steps, max_time=None, started=None):
        self.optimizer, self.kind = optimizer, kind
        self.total_steps = max(int(total_steps), 1)
        self.max_time, self.started = max_time, started
        self.base = [group["lr"] for group in optimizer.param_groups]

    def progress(self, step):
        done = step / self.total_steps
        if self.max_time is not None and self.max_time > 0 and self.started is not None:
            done = max(done, (time.perf_counter() - self.started) / self.max_time)
        return done

    def step(self, step):
        f = factor(self.kind, self.progress(step))
        for group, base in zip(self.optimizer.param_groups, self.base, strict=True):
            group["lr"] = base * f

    def state_dict(self):
        return {"kind": self.kind, "base": list(self.base)}

    def load_state_dict(self, state):
        self.base = list(state.get("base", self.base))


def make(optimizer, config, steps_per_epoch):
    """The scheduler ``config.lr_scheduler`` names, or None."""
    kind = config.lr_scheduler
    if kind is None:
        return None
    if kind == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)
    total = config.max_epochs * max(steps_per_epoch, 1)
    if config.max_steps:
        total = min(total, config.max_steps)
    return ProgressSchedule(optimizer, kind, total, config.max_time, config.started)
