"""One readable training loop: autocast forward, backward, clip (recording the pre-clip norm), step.

``train`` prints nothing and returns a :class:`History`; early stopping, progress bars and
experiment tracking join through the small :class:`Callback` protocol. Per-step statistics stay
on the device and are read once per epoch, so the loop never waits on a host sync per step.
"""

from __future__ import annotations

import copy
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass

import torch

from forecast import choices
from forecast.training import schedules as lr_schedules
from forecast.training.distributed import SINGLE, World
from forecast.training.losses import ForecastLoss
from forecast.training.records import Callback, EpochRecord, History, TrainState
from forecast.training.sizing import DEFAULT_STEPS, MAX_PASSES, MIN_STEPS, STEPS_PER_EPOCH, plan
from forecast.training.steps import EpochStats, batch_loss, clip_gradients, evaluate
from forecast.training.stopping import STOP, Interrupted

# Re-exported: callers import the loop's records and sizing from here too.
__all__ = ["Callback", "EpochRecord", "History", "TrainState"]
__all__ += ["DEFAULT_STEPS", "MAX_PASSES", "MIN_STEPS", "STEPS_PER_EPOCH", "plan"]
__all__ += ["batch_loss", "clip_gradients", "evaluate"]

OPTIMIZERS = dict(zip(choices.OPTIMIZERS, (torch.optim.Adam, torch.optim.AdamW), strict=True))


@dataclass
class TrainConfig:
    loss: str = "mse"
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 256
    max_epochs: int = 20
    max_steps: int | None = None
    windows_per_epoch: int | None = None
    clip: str | None = "norm"
    clip_value: float = 1.0
    lr_scheduler: str | None = None
    progress: bool = False
    # seconds after ``started`` (time.perf_counter()) at which training stops
    max_time: float | None = None
    started: float | None = None
    # the ranks training this network together (forecast.training.distributed); SINGLE: alone
    world: World = SINGLE


def progress_enabled(verbose):
    """Progress bars only on an interactive terminal outside CI, unless forced by ``verbose``."""
    if verbose in (True, False):
        return verbose
    return sys.stderr.isatty() and not os.environ.get("CI")


def train(
    module,
    gatherer,
    train_index,
    val_index,
    config,
    *,
    callbacks=(),
    generator=None,
    loss_fn=None,
    checkpoint=None,
):
    """Fit ``module`` on the windows of ``train_index``; validate on ``val_index`` after each epoch.

    ``loss_fn``: a :class:`~forecast.training.losses.ForecastLoss` (None:
    ``ForecastLoss(config.loss)``,
    which the scale-free losses cannot use: they need per-series statistics from the estimator).
    ``config.max_time`` (seconds from ``config.started``) ends training at the first step past it.
    ``checkpoint``: a :class:`~forecast.training.checkpoint.Checkpoint` to resume from and write
    every epoch.

    Returns a :class:`History`. A non-finite training loss rolls the weights back to the last
    finite epoch and stops (``History.rolled_back`` says why); with no finite epoch it raises
    ``FloatingPointError`` rather than return a model that forecasts NaN.
    """
    device, world = gatherer.data.device, config.world
    loss_fn = (loss_fn or ForecastLoss(config.loss)).to(device)
    world.check_same("training data", gatherer.data)

    def epoch(step):
        for share, batch in world.batches(  # this rank's part of each global batch
            gatherer, train_index, config.batch_size, generator, limit=config.windows_per_epoch
        ):
            loss = None  # an empty part (the epoch's last batch has fewer windows than ranks)
            if batch is not None:
                with torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
                    loss = batch_loss(module, batch, loss_fn)
            if step(loss, share):
                return

    steps_per_epoch = math.ceil(
        min(train_index.n_windows, config.windows_per_epoch or math.inf) / config.batch_size
    )
    return run_epochs(
        module,
        config,
        epoch,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        validate=lambda: evaluate(
            module, gatherer, val_index, loss_fn, config.batch_size * 4, world
        ),
        checkpoint=checkpoint,
    )


def run_epochs(module, config, epoch, *, steps_per_epoch, validate, callbacks=(), checkpoint=None):
    """The epoch loop both training loops share (``train`` and ``tbptt.train_tbptt``); they differ
    only in ``epoch(step)``, which produces one epoch's losses and hands each to ``step`` (a
    :class:`Run`), stopping when it returns True. ``validate()``: the validation loss, or None.
    ``checkpoint`` (:mod:`forecast.training.checkpoint`): resume from its latest epoch, save after
    each epoch (rank 0 writes it; every rank resumes from it).

    Returns the :class:`History`.
    """
    run, main = Run(module, config, steps_per_epoch), config.world.rank == 0
    done = checkpoint is not None and checkpoint.restore(run)
    config.world.broadcast_(module)  # every rank starts from rank 0's weights
    for cb in callbacks:
        cb.on_train_begin(run.state)
    if checkpoint is not None:
        checkpoint.restore_callbacks(callbacks)
    epochs = range(run.state.epoch + 1, 1 if done else config.max_epochs + 1)
    if config.progress and main:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc="training", unit="epoch", leave=False)
    for number in epochs:
        run.begin_epoch(number)
        epoch(run)
        going = run.end_epoch(validate, callbacks)
        if checkpoint is not None and main:
            checkpoint.save(run, callbacks, done=not going)
        if not going:
            break
    for cb in callbacks:
        cb.on_train_end(run.state, run.history)
    return run.history


class Run:
    """One training run's moving parts: optimizer, scheduler, state, history, the last finite
    weights.

    ``run(loss, share)`` is one optimizer step: backward, the ranks' gradients summed (under
    ``strategy="ddp"``; ``share``: this rank's part of the global batch), clip (recording the
    pre-clip norm), step, zero grads; it returns True once training must end (``max_steps``
    reached or ``max_time`` passed). A stop request (:data:`forecast.training.stopping.STOP`, set
    by SIGINT/SIGTERM) raises :class:`~forecast.training.stopping.Interrupted` before the step, in
    whichever thread trains (and on every rank). Per-step statistics stay on the device and are
    read once per epoch, in :meth:`end_epoch`.
    """

    def __init__(self, module, config, steps_per_epoch):
        self.module, self.config = module, config
        self.optimizer = OPTIMIZERS[config.optimizer](
            module.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        self.scheduler = lr_schedules.make(self.optimizer, config, steps_per_epoch)
        self.world = config.world
        self.state = TrainState(module, self.optimizer, rank=self.world.rank)
        self.history = History()
        self.max_norm = config.clip_value if config.clip == "norm" else math.inf
        self.last_good = copy.deepcopy(module.state_dict())
        self.device = next(module.parameters()).device

    def begin_epoch(self, number):
        self.state.epoch, self.t0 = number, time.perf_counter()
        self.module.train()
        self.stats = EpochStats(self.device)

    def __call__(self, loss, share=1.0):
        # a plain attribute read and a clock read per step; every rank gets the same answer
        signum, late = self.world.agree(STOP.signum, out_of_time(self.config))
        if signum:
            raise Interrupted(signum)
        loss = self.world.part(loss, share, self.device)  # its term of the global batch's mean
        if loss.requires_grad:
            loss.backward()
        self.world.sum_gradients(self.module)  # before clipping: the clip sees the global norm
        norm, clipped = clip_gradients(self.module, self.config, self.max_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        if self.scheduler is not None and self.config.lr_scheduler != "plateau":
            self.scheduler.step(self.state.step)
        members = getattr(self.module, "member_losses", None)  # an ensemble's, of this batch
        if members is not None:
            members = self.world.part(members, share, self.device)
        self.stats.add(loss, norm, clipped, members)
        return self.spent(late)

    def spent(self, late=None):
        """True once ``max_steps`` steps are taken or ``max_time`` has passed (``late``: the
        ranks' agreed answer; None: this process's clock)."""
        max_steps = self.config.max_steps
        late = out_of_time(self.config) if late is None else late
        return (max_steps is not None and self.state.step >= max_steps) or late

    def end_epoch(self, validate, callbacks):
        """Close an epoch: the one host sync of its statistics, rollback on a non-finite loss,
        validation, the record and the callbacks. False when training stops here."""
        module, state, config = self.module, self.state, self.config
        self.world.sum_(self.stats.sums[:1], self.stats.members)  # the ranks' loss terms
        loss_sum, norm_sum, n_clipped, n = (
            self.stats.sums.tolist()
        )  # the one host sync of the epoch
        n = max(n, 1)
        finite = (
            torch.stack([p.detach().isfinite().all() for p in module.parameters()]).all().item()
        )
        if not (math.isfinite(loss_sum) and finite):
            _roll_back(module, self.last_good, self.history, state.epoch)
            return False
        val_loss = validate()
        if self.scheduler is not None and config.lr_scheduler == "plateau":
            self.scheduler.step(val_loss if val_loss is not None else loss_sum / n)
        members = None if self.stats.members is None else (self.stats.members / n).tolist()
        record = EpochRecord(
            state.epoch,
            int(n),
            loss_sum / n,
            val_loss,
            norm_sum / n,
            self.stats.norm_max.item(),
            n_clipped / n,
            self.optimizer.param_groups[0]["lr"],
            time.perf_counter() - self.t0,
            members,
        )
        self.history.records.append(record)
        self.last_good = copy.deepcopy(module.state_dict())
        for cb in callbacks:
            cb.on_epoch_end(state, record)
        return not self.world.any(state.stop or self.spent())  # every rank stops here, or none


def out_of_time(config):
    """True once ``config.max_time`` seconds have passed since ``config.started``."""
    return config.max_time is not None and time.perf_counter() - config.started >= config.max_time


def _roll_back(module, last_good, history, epoch):
    if not history.records:
        raise FloatingPointError(
            f"training loss became non-finite in epoch {epoch} before any finite epoch: lower "
            "learning_rate, keep gradient clipping on, or check the data's scale"
        )
    module.load_state_dict(last_good)
    last = history.records[-1].epoch
    history.rolled_back = f"non-finite loss in epoch {epoch}; weights rolled back to epoch {last}"
    warnings.warn(history.rolled_back, RuntimeWarning, stacklevel=3)
