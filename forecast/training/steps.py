"""What one training step and one evaluation pass do, beside the loop that sequences them: the
loss of a batch, gradient clipping with the pre-clip norm recorded, the per-step statistics kept
on the device, and the mean validation loss."""

from __future__ import annotations

import torch
from torch import nn

from forecast.training.distributed import SINGLE
from forecast.training.losses import horizon_mask


def clip_gradients(module, config, max_norm):
    """Clip in place; return the pre-clip global L2 norm and whether this step was clipped.

    ``max_norm`` is ``config.clip_value`` for clip="norm", else infinite: the norm is then only
    measured.
    An ensemble (``module.members``) trains on the mean of its members' losses, so each member
    holds 1/k of its own gradient: it is clipped at 1/k of the bound (as if it trained alone),
    and the norm reported is the largest member's own.
    """
    members = list(getattr(module, "members", [module]))
    k = len(members)
    norms, clipped = [], []
    for member in members:
        params = [p for p in member.parameters() if p.grad is not None]
        norm = nn.utils.clip_grad_norm_(params, max_norm / k)
        norm = norm * k if k > 1 else norm  # one network: no extra work on the step
        if config.clip == "value":
            top = torch.stack([p.grad.abs().max() for p in params]).max()
            clipped.append((top * k if k > 1 else top) > config.clip_value)
            nn.utils.clip_grad_value_(params, config.clip_value / k)
        else:
            clipped.append(norm > max_norm)
        norms.append(norm)
    if k == 1:
        return norms[0], clipped[0]
    return torch.stack(norms).max(), torch.stack(clipped).any()


def batch_loss(module, batch, loss_fn):
    """``module.training_loss(batch, loss_fn)`` when the network defines one (teacher forcing,
    many-to-many targets), else the loss of its (B, H) forecast against ``batch.y``."""
    hook = getattr(module, "training_loss", None)
    if hook is not None:
        return hook(batch, loss_fn)
    return loss_fn(
        module(batch.x, batch.x_future, batch.static, series=batch.series).float(),
        batch.y,
        batch.series,
        horizon_mask(batch),
    )


class EpochStats:
    """Per-step statistics summed on the device (no host sync per step); read once per epoch."""

    def __init__(self, device):
        self.sums = torch.zeros(4, device=device)  # loss, pre-clip norm, clipped steps, steps
        self.norm_max = torch.zeros((), device=device)
        self._one = torch.ones((), device=device)  # the step count's increment, allocated once
        self.members = None  # an ensemble's per-member loss sums

    def add(self, loss, norm, clipped, members=None):
        self.sums += torch.stack([loss.detach().float(), norm.detach(), clipped.float(), self._one])
        self.norm_max = torch.maximum(self.norm_max, norm.detach())
        if members is not None:
            self.members = (
                members.float() if self.members is None else self.members + members.float()
            )


@torch.no_grad()
def evaluate(module, gatherer, index, loss_fn, batch_size, world=SINGLE):
    """Mean loss over every window of ``index`` (None when it has none); under
    ``strategy="ddp"`` each rank scores its block of the windows and the mean is the global one."""
    if index is None or index.n_windows == 0:
        return None
    module.eval()
    total, count = torch.zeros((), device=gatherer.data.device), 0
    for _, batch in world.batches(gatherer, index, batch_size, shuffle=False):
        with torch.autocast(
            gatherer.data.device.type,
            dtype=torch.bfloat16,
            enabled=gatherer.data.device.type == "cuda",
        ):
            pred = module(batch.x, batch.x_future, batch.static, series=batch.series)
        mask = horizon_mask(batch)
        n = len(batch.y) if mask is None else mask.sum()
        total += loss_fn(pred.float(), batch.y, batch.series, mask) * n
        count += n
    module.train()
    if world.size > 1:
        total, count = world.sum_(torch.stack([total, torch.as_tensor(count).to(total)]))[0]
    return (total / count).item() if count else None
