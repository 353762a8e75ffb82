"""The callbacks the estimator adds to a fit: early stopping and the teacher-forcing schedule.

Both join the training loop through its :class:`~forecast.training.loop.Callback` protocol, and keep
their state in a checkpoint through ``state_dict`` / ``load_state_dict``
(``forecast.training.checkpoint``).
"""

from __future__ import annotations

import copy
import math

import torch

from forecast.training.loop import Callback


class EarlyStopping(Callback):
    """Stop when the validation loss has not improved for ``patience`` epochs; restore the best
    weights.
    """

    def __init__(self, patience=5, min_delta=0.0):
        self.patience, self.min_delta = patience, min_delta

    def on_train_begin(self, state):
        self.best, self.best_epoch, self.best_state, self.bad = math.inf, None, None, 0

    def on_epoch_end(self, state, record):
        if record.val_loss is None or not math.isfinite(record.val_loss):
            return
        if record.val_loss < self.best - self.min_delta:
            self.best, self.best_epoch, self.bad = record.val_loss, record.epoch, 0
            self.best_state = copy.deepcopy(state.module.state_dict())
        else:
            self.bad += 1
            state.stop = self.bad >= self.patience

    def state_dict(self):
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "bad": self.bad,
        }

    def load_state_dict(self, d):
        self.best, self.best_epoch, self.best_state, self.bad = (
            d["best"],
            d["best_epoch"],
            d["best_state"],
            d["bad"],
        )

    def on_train_end(self, state, history):
        if self.best_state is not None:
            state.module.load_state_dict(self.best_state)
            history.best_epoch = self.best_epoch
            history.stopped_early = self.bad >= self.patience


class TeacherForcing(Callback):
    """Linear teacher-forcing decay for the seq2seq decoder.

    Epoch ``e`` of ``E`` uses ratio ``start * (E - e) / (E - 1)``: ``start`` in the first epoch,
    0 in the last (constant ``start`` when ``E == 1``). Evaluation and forecasting never force:
    the decoder only reads targets in training mode when they are passed to it. Passed to
    ``RNNForecaster.fit(df, callbacks=[TeacherForcing(0.5)])``, ``max_epochs`` None is the fit's.
    A network without a seq2seq head is refused (nothing would read the ratio).
    """

    def __init__(self, start, max_epochs=None, seed=0):
        if not (isinstance(start, (int, float)) and 0.0 <= start <= 1.0):
            raise ValueError(f"TeacherForcing: start must be a number in [0, 1], got {start!r}")
        self.start = float(start)
        self.max_epochs = None if max_epochs is None else int(max_epochs)
        # the forcing draws come from this fit's own generator: reproducible per seed even when
        # several models train at once in threads (None: torch's global generator)
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)

    def ratio(self, epoch):
        if self.max_epochs <= 1:
            return self.start
        return self.start * max(self.max_epochs - epoch, 0) / (self.max_epochs - 1)

    def _set(self, module, epoch):
        for head in _heads(module):
            head.teacher_forcing = self.ratio(epoch)
            head.generator = self.generator

    def on_train_begin(self, state):
        if not _heads(state.module):
            raise ValueError(
                "TeacherForcing drives a seq2seq decoder: fit with head='seq2seq' (or "
                "'seq2seq_dot', 'seq2seq_additive')"
            )
        self._set(state.module, state.epoch + 1)  # epoch 1, or the first after a resumed checkpoint

    def state_dict(self):
        return {"generator": None if self.generator is None else self.generator.get_state()}

    def load_state_dict(self, d):
        if self.generator is not None and d["generator"] is not None:
            self.generator.set_state(d["generator"])

    def on_epoch_end(self, state, record):
        self._set(state.module, state.epoch + 1)

    def on_train_end(self, state, history):
        for head in _heads(state.module):
            head.teacher_forcing, head.generator = 0.0, None  # the fitted module never forces


def _heads(module):
    """The seq2seq heads of a network or of every member of an ensemble."""
    heads = [getattr(m, "head", None) for m in getattr(module, "members", [module])]
    return [h for h in heads if hasattr(h, "teacher_forcing")]
