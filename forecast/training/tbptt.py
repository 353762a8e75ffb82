"""Truncated backpropagation through time for the recursive (one-step-ahead) network.

Each series is walked from its start to its end in chunks of ``k`` steps. The hidden state is
carried from chunk to chunk but detached at every border, so a gradient reaches at most ``k``
steps back while the *forward* pass still sees the whole history: a model can learn from a
10,000-step series without unrolling it at once. The trade-off: a dependency longer than ``k``
steps is not taught by gradient; it is learned only insofar as what the network learned to
keep over ``k`` steps happens to keep it longer (weights are shared across steps).
``carry_state=False`` resets the state at every chunk instead (an ablation: then nothing
further back than the chunk can be used at all).

Ragged lengths: series are batched side by side and *right-aligned* on their last point, so
every walk ends in the same final chunk. A series of ``n`` points gives ``n - 1`` one-step
targets, cut into its last ``(n - 1) // k`` full chunks (the oldest ``(n - 1) % k`` steps are
dropped); before its first chunk a series' rows are padding, masked out of the loss, and its
state is reset to zero when its first real chunk begins.

Known limit: TBPTT trains on the observed past covariates at every step, while a recursive
forecast feeds zeros for past covariates beyond the origin (they are unknown there); with past
covariates, prefer the windowed recursive training (``tbptt_steps=None``), which sees that case.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from forecast.training.loop import evaluate, run_epochs
from forecast.training.losses import ForecastLoss


def series_chunks(module, gatherer, offsets, lengths, k):
    """Right-aligned chunks: inputs (S, C, k, D), targets (S, C, k), real-chunk mask (S, C)."""
    n_chunks = np.maximum(np.asarray(lengths) - 1, 0) // k  # (S,)
    C = int(n_chunks.max(initial=0))
    xs, ts = [], []
    for s, (off, n, c) in enumerate(zip(offsets[:-1], lengths, n_chunks)):
        rows = gatherer.data[off : off + n][None]  # (1, n, F)
        y, past, known = module.split(rows)
        inputs = module.step_inputs(
            y[:, :-1], past[:, :-1], known[:, 1:], gatherer.static[s : s + 1]
        )[0]
        targets = y[0, 1:]  # (n-1,)
        used = int(c) * k
        pad = (C - int(c)) * k
        xs.append(nn.functional.pad(inputs[len(targets) - used :], (0, 0, pad, 0)))  # (C*k, D)
        ts.append(nn.functional.pad(targets[len(targets) - used :], (pad, 0)))  # (C*k,)
    X = torch.stack(xs).view(len(xs), C, k, -1)
    T = torch.stack(ts).view(len(ts), C, k)
    mask = torch.as_tensor(np.arange(C)[None] >= C - n_chunks[:, None], device=X.device)  # (S, C)
    return X, T, mask


def train_tbptt(
    module,
    gatherer,
    offsets,
    lengths,
    val_index,
    config,
    *,
    k,
    carry_state=True,
    callbacks=(),
    generator=None,
    loss_fn=None,
    checkpoint=None,
):
    """Fit a :class:`~forecast.networks.model.RecursiveNetwork` by ``k``-step truncated BPTT.

    Parameters
    ----------
    gatherer : the scaled panel (its ``data`` (N, F) and ``static``), as for
    :func:`forecast.training.loop.train`.
    offsets, lengths : (S+1,) row offsets and (S,) training lengths (validation points excluded).
    val_index : validation windows, scored by the free-running forecast after each epoch.
    config : :class:`~forecast.training.loop.TrainConfig`; ``batch_size`` counts *series* walked
    side by side.
    k : chunk length in steps. carry_state : carry the (detached) state across chunks, or reset it.
    checkpoint : resume from it and write it every epoch (:mod:`forecast.training.checkpoint`).

    Returns
    -------
    History with one record per epoch (one walk over every series); a step is one chunk.
    """
    device = gatherer.data.device
    X, T, mask = series_chunks(module, gatherer, offsets, lengths, k)
    if X.shape[1] == 0:
        raise ValueError(f"tbptt_steps={k}: no series has more than {k} training points")
    loss_fn = (loss_fn or ForecastLoss(config.loss)).to(device)
    n_series, C = mask.shape
    first = (C - mask.sum(1)).cpu()  # (S,) first real chunk of each series

    def epoch(step):
        order = torch.randperm(n_series, generator=generator)
        for i in range(0, n_series, config.batch_size):
            group = order[i : i + config.batch_size]
            h = None
            for c in range(int(first[group].min()), C):
                m = mask[group.to(device), c]  # (b,)
                pred, h = module.unroll(X[group, c], h if carry_state else None)  # (b, k)
                terms = loss_fn.pointwise(pred.float(), T[group, c], group.to(device))  # (b, k)
                done = step((terms.mean(1) * m).sum() / m.sum())
                h = _detach(h, m)  # the truncation: no gradient crosses this border
                if done:
                    break
            if step.spent():
                return

    return run_epochs(
        module,
        config,
        epoch,
        steps_per_epoch=math.ceil(n_series / config.batch_size) * C,
        callbacks=callbacks,
        validate=lambda: evaluate(module, gatherer, val_index, loss_fn, config.batch_size * 4),
        checkpoint=checkpoint,
    )


def _detach(h, active):  # zero the state of rows still padding: a series starts from a zero state
    keep = active.to(torch.float32)[None, :, None]  # (1, b, 1)
    if isinstance(h, tuple):
        return tuple(s.detach() * keep.to(s.dtype) for s in h)
    return h.detach() * keep.to(h.dtype)
