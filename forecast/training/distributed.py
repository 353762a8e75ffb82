"""Training one network across processes with ``torch.distributed`` (``strategy="ddp"``).

Run by ``torchrun --nproc-per-node N script.py`` (which sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``), a fit joins the process group (gloo on CPU, NCCL on CUDA, each
rank on GPU ``LOCAL_RANK``) and every rank holds the whole panel but gathers only its part of each
global batch: one seeded epoch order of the window index (``windows.epoch_order``, drawn as one
process draws it: a permutation, or a direct draw on large indexes), shared by all ranks, cut into
global batches of ``batch_size`` windows, each cut again into ``WORLD_SIZE`` parts. A rank's loss is
weighted by its part's share of the global batch, so the *sum* of the ranks' gradients is the
gradient of the global batch's mean loss: summed before clipping, the clip sees the global norm,
and N ranks take the steps one process would take with the same ``batch_size``.

The stop flag (SIGINT/SIGTERM) and ``max_time`` are agreed by all ranks at every step, and early
stopping at every epoch end, in a small all-reduce on a CPU (gloo) group, so no rank leaves while
another waits in a collective. A collective that fails (a rank died) or waits longer than
``FORECAST_DDP_TIMEOUT`` seconds (default 60: a rank hangs) raises :class:`RankFailure`.
``WORLD_SIZE`` unset or 1: :data:`SINGLE`, the one-process loop, bit for bit.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from forecast.data.windows import epoch_order

TIMEOUT_ENV = "FORECAST_DDP_TIMEOUT"
_CONTROL = {}  # the gloo group that agrees on flags, per default group (NCCL runs only)


class RankFailure(RuntimeError):
    """A collective failed: another rank died, or did not answer within the timeout."""


def timeout():
    """Seconds a collective may wait for the other ranks (``FORECAST_DDP_TIMEOUT``, default 60)."""
    value = os.environ.get(TIMEOUT_ENV, "60")
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ValueError(f"{TIMEOUT_ENV} must be a positive number of seconds, got {value!r}")
    return seconds


@dataclass(frozen=True)
class World:
    """This process's place among the ranks of one fit; size 1 does no collective at all."""

    rank: int = 0
    size: int = 1
    control: object = None  # the process group that agrees on flags (None: the default group)

    def batches(self, gatherer, index, batch_size, generator=None, shuffle=True, limit=None):
        """Yield ``(share, batch)``: this rank's part of each global batch of ``index`` and its
        share of that batch's windows (``batch`` None when the part is empty). Unshuffled
        (validation), each rank walks its own contiguous block of the windows instead."""
        if self.size == 1:
            for batch in gatherer.batches(index, batch_size, generator, shuffle, limit):
                yield 1.0, batch
            return
        n, device = index.n_windows, gatherer.data.device
        if shuffle:  # the one-process loop's epoch (Gatherer.batches), draw for draw
            order = epoch_order(n, generator, True, limit, device)
        else:
            small = torch.int32 if n < 2**31 else torch.int64
            order = torch.arange(n, device=device, dtype=small).tensor_split(self.size)[self.rank]
            order = order[:limit] if limit is not None and limit < n else order
        for i in range(0, len(order), batch_size):
            chunk = order[i : i + batch_size]
            mine = chunk.tensor_split(self.size)[self.rank] if shuffle else chunk
            batch = gatherer.gather(*index.locate(mine.long())) if len(mine) else None
            yield len(mine) / len(chunk), batch

    def part(self, loss, share, device):
        """This rank's term of the global batch's mean loss (a zero for an empty part)."""
        if self.size == 1:
            return loss
        return torch.zeros((), device=device) if loss is None else loss * share

    def sum_gradients(self, module):
        """Replace every rank's gradients by their sum over the ranks (one all-reduce): with
        :meth:`part`'s weights, the global batch's mean gradient. A parameter this rank's part
        did not reach counts zero (the networks here reach all of theirs every step)."""
        if self.size == 1:
            return
        params = [p for p in module.parameters() if p.requires_grad]
        flat = torch.cat(
            [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]
        )
        self._run("the gradient all-reduce", dist.all_reduce, flat)
        for p, g in zip(params, flat.split([p.numel() for p in params])):
            p.grad = g.view_as(p)

    def agree(self, signum, late):
        """The stop request (a signal number, 0 for none) and "out of time" of any rank."""
        if self.size == 1:
            return signum, late
        flags = torch.tensor([float(signum), float(late)])
        self._run(
            "agreeing on the stop flags", dist.all_reduce, flags, dist.ReduceOp.MAX, self.control
        )
        return int(flags[0]), bool(flags[1])

    def any(self, flag):
        """True when ``flag`` is True on any rank (early stopping, the epoch's last step)."""
        return self.agree(0, flag)[1]

    def sum_(self, *tensors):
        """Sum each tensor over the ranks, in place (None is skipped); returns them."""
        if self.size > 1:
            for t in tensors:
                if t is not None:
                    self._run("summing the epoch's statistics", dist.all_reduce, t)
        return tensors

    def broadcast_(self, module):
        """Give every rank rank 0's parameters and buffers (the weights a fit starts from)."""
        if self.size > 1:
            for t in [*module.parameters(), *module.buffers()]:
                self._run("sharing rank 0's weights", dist.broadcast, t.data, 0)

    def check_same(self, what, tensor):
        """Refuse to train when ranks were given different ``what`` (shape and sum differ)."""
        if self.size == 1:
            return
        summary = torch.tensor([float(tensor.numel()), torch.nansum(tensor.double()).item()])
        low, high = summary.clone(), summary.clone()
        self._run(
            "comparing the ranks' data", dist.all_reduce, low, dist.ReduceOp.MIN, self.control
        )
        self._run(
            "comparing the ranks' data", dist.all_reduce, high, dist.ReduceOp.MAX, self.control
        )
        if not torch.equal(low, high):
            raise ValueError(
                f"strategy='ddp': the {self.size} ranks were given different {what} (rank "
                f"{self.rank} of {self.size}); every rank must fit on the same data"
            )

    def _run(self, what, collective, *args):
        try:
            collective(*args)
        except RuntimeError as exc:  # DistBackendError: a peer closed its connection, or timed out
            raise RankFailure(
                f"rank {self.rank} of {self.size}: {what} failed: another rank died or did not "
                f"answer within {timeout():g} s ({TIMEOUT_ENV}); the fit is abandoned "
                f"(resume it from its checkpoint_dir). Cause: {exc}"
            ) from exc


SINGLE = World()


def join(strategy, device):
    """``(world, device)`` of a fit: :data:`SINGLE` unless ``strategy="ddp"`` runs under torchrun
    with ``WORLD_SIZE`` > 1; then the process group is initialised (when the script has not done
    it) and a CUDA fit moves to GPU ``LOCAL_RANK``."""
    if strategy != "ddp" or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return SINGLE, device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    wait = datetime.timedelta(seconds=timeout())
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=wait)
    default = dist.group.WORLD
    if dist.get_backend() != "gloo" and default not in _CONTROL:
        _CONTROL[default] = dist.new_group(backend="gloo", timeout=wait)
    return World(dist.get_rank(), dist.get_world_size(), _CONTROL.get(default)), device


def leave():
    """End a script's DDP part on every rank: wait for all ranks (e.g. after rank 0 saved), then
    tear the process group down. A rank that exits while gloo's threads still run can abort
    ("terminate called without an active exception", SIGABRT), and torchrun then fails the
    whole job. Nothing to do outside torchrun."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        _CONTROL.clear()
        dist.destroy_process_group()
