"""Checkpoint and resume a fit: ``RNNForecaster.fit(df, checkpoint_dir=PATH)``.

At every epoch end the training loop writes the whole run — weights, optimizer and scheduler
state, the torch generator states (the fit's batch-order generator, the global one that dropout
draws from, the callbacks' own), epoch and step counters, the history and the callbacks' state
(early stopping's best weights and patience) — to ``PATH/epoch-NNNNNN/`` and removes the older
epoch. A checkpoint is written in a hidden temporary folder and renamed into place, so a process
killed at any moment leaves the previous checkpoint whole; leftovers are removed by the next save.

The same call on a folder that holds a checkpoint resumes after its epoch, and on CPU with the
same seed ends with the same weights, bit for bit, as a fit that was never stopped (``max_time``
counts from the resumed call). A checkpoint of a finished fit gives the fitted model at once.
Each checkpoint carries the SHA-256 of its state file and a fingerprint of the fit (parameters
and training data): a truncated or altered file, a folder without its manifest, a checkpoint of
another fit or of a newer format is refused with :class:`CheckpointError` naming the folder.
States are read with ``torch.load(weights_only=True)``: no pickle.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from forecast.training.loop import History

FORMAT = 1
STATE, MANIFEST = "state.pt", "manifest.json"
_UNFINGERPRINTED = ("verbose", "max_time")  # parameters that do not change what a fit computes


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from: corrupt, partial, of another fit or format."""


def for_fit(folder, params, arrays, generators=()):
    """The :class:`Checkpoint` of a fit (None when ``folder`` is None).

    ``params``: the estimator's ``get_params()``; ``arrays``: the training data as numpy arrays.
    """
    if folder is None:
        return None
    digest = hashlib.sha256(
        json.dumps(
            {k: v for k, v in params.items() if k not in _UNFINGERPRINTED},
            sort_keys=True,
            default=str,
        ).encode()
    )
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype}{a.shape}".encode())
        digest.update(a.tobytes())
    return Checkpoint(folder, digest.hexdigest(), generators)


class Checkpoint:
    """Atomic per-epoch checkpoints of one fit in ``folder``; see the module's docstring."""

    def __init__(self, folder, fingerprint, generators=()):
        self.folder, self.fingerprint, self.generators = Path(folder), fingerprint, list(generators)
        self.callback_states = None

    def latest(self):
        """The newest complete checkpoint folder, or None."""
        found = sorted(self.folder.glob("epoch-*")) if self.folder.is_dir() else []
        return found[-1] if found else None

    # ------------------------------------------------------------------ write
    def save(self, run, callbacks, done):
        """Write the run after its epoch ``run.state.epoch``; ``done``: training ended there."""
        payload = {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "epoch": run.state.epoch,
            "step": run.state.step,
            "done": bool(done),
            "module": run.module.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "scheduler": None if run.scheduler is None else run.scheduler.state_dict(),
            "history": json.dumps(run.history.to_dict()),
            "rng": _rng_states(run.device, self.generators),
            "callbacks": [
                cb.state_dict() if hasattr(cb, "state_dict") else None for cb in callbacks
            ],
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        data = buffer.getvalue()
        manifest = {
            "format": FORMAT,
            "epoch": run.state.epoch,
            "fingerprint": self.fingerprint,
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"epoch-{run.state.epoch:06d}"
        tmp = self.folder / f".tmp-{final.name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        _write(tmp / STATE, data)
        _write(tmp / MANIFEST, json.dumps(manifest, indent=1).encode())
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        _fsync_dir(self.folder)
        for old in [*self.folder.glob("epoch-*"), *self.folder.glob(".tmp-*")]:
            if old != final:
                shutil.rmtree(old, ignore_errors=True)

    # ------------------------------------------------------------------ read
    def read(self, path=None):
        """The checked payload of ``path`` (default: the latest checkpoint)."""
        path = Path(path or self.latest())
        manifest = path / MANIFEST
        if not manifest.is_file() or not (path / STATE).is_file():
            raise CheckpointError(
                f"checkpoint {path} is partial ({MANIFEST} or {STATE} missing): remove the folder "
                f"{self.folder} to train from the start"
            )
        try:
            meta = json.loads(manifest.read_text())
            meta["sha256"], meta["format"]
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(
                f"checkpoint {path}: unreadable {MANIFEST} ({exc}); remove the folder "
                f"{self.folder} to train from the start"
            ) from None
        if meta["format"] != FORMAT:
            raise CheckpointError(
                f"checkpoint {path} has format {meta['format']!r}; this library reads {FORMAT}"
            )
        data = (path / STATE).read_bytes()
        if hashlib.sha256(data).hexdigest() != meta["sha256"]:
            raise CheckpointError(
                f"checkpoint {path} is corrupt: {STATE} ({len(data)} bytes) does not match the "
                f"SHA-256 of its manifest; remove the folder {self.folder} to train from the start"
            )
        if meta.get("fingerprint") != self.fingerprint:
            raise CheckpointError(
                f"checkpoint {path} belongs to another fit (other parameters or data): "
                f"use another checkpoint_dir, or remove {self.folder}"
            )
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)

    def restore(self, run):
        """Load the latest checkpoint into ``run`` (before the callbacks begin); True when the fit
        had already finished. Callback states are kept for :meth:`restore_callbacks`."""
        if self.latest() is None:
            return False
        payload = self.read()
        run.module.load_state_dict(payload["module"])
        run.optimizer.load_state_dict(payload["optimizer"])
        if run.scheduler is not None and payload["scheduler"] is not None:
            run.scheduler.load_state_dict(payload["scheduler"])
        run.history = History.from_dict(json.loads(payload["history"]))
        run.state.epoch, run.state.step = payload["epoch"], payload["step"]
        run.last_good = copy.deepcopy(run.module.state_dict())
        _set_rng_states(payload["rng"], run.device, self.generators)
        self.callback_states = payload["callbacks"]
        return payload["done"]

    def restore_callbacks(self, callbacks):
        """Give each callback its saved state (after ``on_train_begin``)."""
        if self.callback_states is None:
            return
        if len(self.callback_states) != len(callbacks):
            raise CheckpointError(
                f"checkpoint in {self.folder} was written with {len(self.callback_states)} "
                f"callbacks, this fit has {len(callbacks)}"
            )
        for cb, state in zip(callbacks, self.callback_states):
            if state is not None:
                cb.load_state_dict(state)


def _rng_states(device, generators):
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return {
        "torch": torch.get_rng_state(),
        "cuda": cuda,
        "generators": [g.get_state() for g in generators],
    }


def _set_rng_states(states, device, generators):
    torch.set_rng_state(states["torch"])
    if states["cuda"] is not None and device.type == "cuda":
        torch.cuda.set_rng_state(states["cuda"], device)
    for g, state in zip(generators, states["generators"]):
        g.set_state(state)


def _write(path, data):
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(folder):
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
