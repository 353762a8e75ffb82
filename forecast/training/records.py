"""What the training loop records and the hooks it calls: one :class:`EpochRecord` per epoch in a
:class:`History`, the :class:`TrainState` callbacks see, and the :class:`Callback` protocol."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn


@dataclass
class EpochRecord:
    epoch: int
    steps: int
    train_loss: float
    val_loss: float | None
    grad_norm_mean: float  # pre-clip global L2 norm of the gradients
    grad_norm_max: float
    clipped_fraction: float  # share of steps whose gradients were rescaled / clipped
    learning_rate: float
    seconds: float
    member_train_loss: list | None = None  # an ensemble's: each member's own mean training loss


@dataclass
class History:
    records: list = field(default_factory=list)
    stopped_early: bool = False
    best_epoch: int | None = None
    rolled_back: str | None = None  # reason, when non-finite loss forced a rollback

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([asdict(r) for r in self.records])

    def to_dict(self):
        return {
            "records": [asdict(r) for r in self.records],
            "stopped_early": self.stopped_early,
            "best_epoch": self.best_epoch,
            "rolled_back": self.rolled_back,
        }

    @classmethod
    def from_dict(cls, d):
        return cls(
            [EpochRecord(**r) for r in d["records"]],
            d["stopped_early"],
            d["best_epoch"],
            d["rolled_back"],
        )


@dataclass
class TrainState:
    module: nn.Module
    optimizer: torch.optim.Optimizer
    epoch: int = 0
    step: int = 0
    stop: bool = False
    rank: int = 0  # this process's rank under strategy="ddp": a callback that writes checks it


class Callback:
    """Hooks called by :func:`train`; set ``state.stop = True`` to end training after this epoch."""

    def on_train_begin(self, state):
        pass

    def on_epoch_end(self, state, record):
        pass

    def on_train_end(self, state, history):
        pass
