"""The training half of ``RNNForecaster.fit``: from a resolved
:class:`~forecast.fitted.state.FittedState`
and its panel to a trained network, the state completed (scalers, plan, history, tail, conformal
scores). In order: hold back the validation and calibration tails, scale, gather windows, plan
the training size, initialise the network, train (windowed or truncated BPTT), calibrate.
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from forecast.checks import seconds
from forecast.choices import unfold
from forecast.data.panel import left_pad, short_series
from forecast.data.seasonality import seasonal_strength_prior
from forecast.data.windows import Gatherer, split_index
from forecast.fitted import inference
from forecast.fitted.state import Tail
from forecast.networks.model import copy_weights
from forecast.probabilistic import conformal
from forecast.training.callbacks import EarlyStopping, TeacherForcing
from forecast.training.checkpoint import for_fit
from forecast.training.distributed import SINGLE, join
from forecast.training.loop import TrainConfig, plan, progress_enabled, train
from forecast.training.losses import fit_loss
from forecast.training.tbptt import train_tbptt

INIT_LOCK = threading.Lock()  # torch's global generator is shared by threads


def val_size(params):
    """Validation points per series: ``val_size``; None: a horizon with early stopping, else 0."""
    if params["val_size"] is None:
        return params["horizon"] if params["early_stopping"] else 0
    return int(params["val_size"])


def train_state(
    state, panel, params, *, network, previous=None, callbacks=(), checkpoint_dir=None, started=None
):
    """Train a network for ``state`` on ``panel`` with the estimator's ``params``; complete
    ``state``.

    ``network(state)``: the untrained network (the estimator's hook); ``previous``: a fitted
    network whose weights the new one starts from (warm start). Returns the network, in eval mode.
    Under torchrun with ``strategy="ddp"`` every rank trains its part of each batch
    (``forecast.training.distributed``) and ends with the same network and state.
    """
    world, state.device = join(params["strategy"], state.device)
    blocks = unfold(params)
    val, cal = (
        val_size(params),
        conformal.calibration_size(
            blocks["interval"], blocks["calibration_size"], params["horizon"], panel.n_series
        ),
    )
    held = val + cal  # the calibration tail is never trained on, validated on or scaled by
    keep, pads = short_series(
        panel,
        state.lookback,
        state.horizon,
        held,
        params["short_series"],
        "val_size + calibration_size" if cal else "val_size",
    )
    state.fit_scalers(panel, held, blocks["scaler"])
    if state.family is not None:
        state.family.check_target(panel)
    scaled = state.scale(panel.data, panel.series_of_rows())
    rows, offsets, observed = left_pad(panel.offsets, pads)  # padded rows, masked in the loss
    gatherer = Gatherer(
        scaled[rows],
        state.scaled_static(),
        state.lookback,
        state.horizon,
        state.layout.future_slice,
        state.device,
        observed,
    )
    train_idx, val_idx = split_index(
        np.where(keep, np.diff(offsets) - cal, 0),
        offsets,
        state.lookback,
        state.horizon,
        val,
        1,
        state.device,
    )
    if train_idx.n_windows == 0:
        raise ValueError(
            f"no training windows: every series is shorter than lookback + horizon + val_size "
            f"= {state.lookback} + {state.horizon} + {val}; lower val_size or lookback, or "
            f"use short_series='pad'"
        )
    tbptt = blocks["tbptt_steps"]
    state.batch_size, state.windows_per_epoch, state.max_epochs = plan(
        train_idx.n_windows if not tbptt else panel.n_series,
        params["batch_size"],
        params["windows_per_epoch"],
        params["max_epochs"],
    )
    if min(state.batch_size, train_idx.n_windows) < world.size:
        raise ValueError(
            f"strategy='ddp' on {world.size} ranks needs at least {world.size} windows per batch, "
            f"got batch_size={state.batch_size} and {train_idx.n_windows} training windows"
        )
    module = init_network(state, params["seed"], network, previous)
    if previous is None and state.window_norm == "es":  # each series' seasonal strength
        prior = seasonal_strength_prior(
            panel.data[:, 0], panel.offsets, panel.lengths - held, state.season_length
        )
        for member in getattr(module, "members", [module]):
            member.norm.set_strength(prior)
    generator = torch.Generator().manual_seed(params["seed"])
    loss_fn = fit_loss(
        blocks["member_losses"] or params["loss"],
        state,
        scaled[:, 0],
        panel.offsets,
        panel.lengths - held,
    )
    run = dict(
        callbacks=fit_callbacks(callbacks, params["early_stopping"], state.max_epochs),
        generator=generator,
        loss_fn=loss_fn,
        checkpoint=for_fit(checkpoint_dir, params, [scaled], [generator]),
    )
    config = train_config(blocks, params, state, started, world)
    if tbptt:
        lengths = np.where(keep, panel.lengths - held, 0)
        observed_offsets = offsets + np.append(pads, 0)  # observed rows only
        state.history = train_tbptt(
            module, gatherer, observed_offsets, lengths, val_idx, config, k=tbptt, **run
        )
    else:
        state.history = train(module, gatherer, train_idx, val_idx, config, **run)
    state.tail = Tail.from_panel(panel, state.lookback)
    state.n_train_windows = train_idx.n_windows
    if cal:
        state.conformal = conformal.calibrate(
            state,
            module,
            gatherer,
            offsets,
            cal,
            blocks["interval"],
            params["level"],
            inference.run_windows,
        )
    return module.eval()


def init_network(state, seed, network, previous=None):
    """A freshly initialised network (seeded), or one carrying ``previous``'s weights (warm start).

    Initialisation draws from a forked copy of torch's global generator under a lock, so
    candidates fitted concurrently in threads get the same weights as when fitted alone.
    """
    with INIT_LOCK:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = network(state)
        # Dropout draws use the global generator: reproducible per seed when fits do not run
        # concurrently in threads (batch order and teacher forcing use the fit's own generators).
        # Reseeded under the lock: a reseed amid another thread's initialisation would change it.
        torch.manual_seed(seed)
    module = module.to(state.device)
    if previous is not None:
        copy_weights(module, previous)
    return module


def fit_callbacks(callbacks, early_stopping, max_epochs):
    """The fit's callbacks: early stopping first when set; a ``TeacherForcing`` given without
    its epoch count learns the fit's."""
    cbs = list(callbacks or [])
    for cb in cbs:
        if isinstance(cb, TeacherForcing) and cb.max_epochs is None:
            cb.max_epochs = int(max_epochs)
    if early_stopping:
        cbs.insert(0, EarlyStopping(early_stopping))
    return cbs


def train_config(blocks, params, state, started=None, world=SINGLE):
    """The training loop's :class:`~forecast.training.loop.TrainConfig` of a fit (``world``: its
    ranks, ``forecast.training.distributed.join``)."""
    return TrainConfig(
        loss=params["loss"],
        optimizer=blocks["optimizer"],
        learning_rate=blocks["learning_rate"],
        weight_decay=blocks["weight_decay"],
        batch_size=state.batch_size,
        max_epochs=state.max_epochs,
        max_steps=params["max_steps"],
        windows_per_epoch=state.windows_per_epoch,
        clip=blocks["clip"],
        clip_value=blocks["clip_value"],
        lr_scheduler=blocks["lr_scheduler"],
        progress=progress_enabled(params["verbose"]),
        max_time=seconds(params["max_time"]),
        started=started,
        world=world,
    )
