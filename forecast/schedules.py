"""Training-time schedules that act on a network through the callback protocol."""
from __future__ import annotations

from .training import Callback


class TeacherForcing(Callback):
    """Linear teacher-forcing decay for the seq2seq decoder.

    Epoch ``e`` of ``E`` uses ratio ``start * (E - e) / (E - 1)``: ``start`` in the first epoch,
    0 in the last (constant ``start`` when ``E == 1``). Evaluation and forecasting never force:
    the decoder only reads targets in training mode when they are passed to it.
    """

    def __init__(self, start, max_epochs):
        self.start, self.max_epochs = float(start), int(max_epochs)

    def ratio(self, epoch):
        if self.max_epochs <= 1:
            return self.start
        return self.start * max(self.max_epochs - epoch, 0) / (self.max_epochs - 1)

    def _set(self, module, epoch):
        head = getattr(module, "head", None)
        if hasattr(head, "teacher_forcing"):
            head.teacher_forcing = self.ratio(epoch)

    def on_train_begin(self, state):
        self._set(state.module, 1)

    def on_epoch_end(self, state, record):
        self._set(state.module, state.epoch + 1)

    def on_train_end(self, state, history):
        head = getattr(state.module, "head", None)
        if hasattr(head, "teacher_forcing"):
            head.teacher_forcing = 0.0  # the fitted module never forces
