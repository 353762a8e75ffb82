"""Load-time checks of a saved model folder (``forecast.fitted.persistence``): refuse, naming the
file.

A saved model is exactly ``config.json``, ``weights.pt`` and ``tail.npz``, plus
``checksums.json``: the SHA-256 and size of each of the three (written by :func:`write_checksums`,
the same record a training checkpoint's manifest keeps of its state file). A missing file, a file
that does not parse (truncated, overwritten, not what its name says), a file whose checksum
differs from the one saved with it, a weight or tail array that does not fit the network and
series that ``config.json`` describes, an unknown extra file, or a format newer than this
library's are refused with :class:`ModelFileError` naming the folder and the file at fault, never
with an error from inside json, numpy or torch. Folders saved before checksums were written have
no ``checksums.json`` and load as before; a present one is always checked. Nothing is unpickled:
arrays are read with ``allow_pickle=False`` and weights with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

CONFIG, WEIGHTS, TAIL = "config.json", "weights.pt", "tail.npz"
FILES = (CONFIG, WEIGHTS, TAIL)
CHECKSUMS = "checksums.json"  # optional: models saved before it existed have none
CHECKSUM_FORMAT = 1


class ModelFileError(ValueError):
    """A saved model folder that cannot be loaded as it is; the message names the file at fault."""


def read_config(path, supported):
    """The parsed ``config.json`` of the model folder ``path`` after the folder's checks."""
    path = Path(path)
    if not (path / CONFIG).is_file():
        raise FileNotFoundError(f"no saved model at {path} ({CONFIG} missing)")
    names = {p.name for p in path.iterdir() if not p.name.startswith(".")}
    missing, extra = [f for f in FILES if f not in names], sorted(names - {*FILES, CHECKSUMS})
    if missing:
        raise ModelFileError(
            f"saved model {path} is incomplete: {missing} missing (a model folder holds "
            f"{list(FILES)}); save the model again"
        )
    if extra:
        raise ModelFileError(
            f"saved model {path} holds unexpected file(s) {extra}: refusing to load a folder "
            f"that is not exactly what RNNForecaster.save wrote ({list(FILES)})"
        )
    try:
        cfg = json.loads((path / CONFIG).read_text())
        cfg["params"], cfg["format"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ModelFileError(
            f"saved model {path}: {CONFIG} is corrupt ({type(exc).__name__}: {exc})"
        ) from None
    found = cfg["format"]
    if isinstance(found, int) and found > supported:
        raise ModelFileError(
            f"saved model {path} has format {found}, written by a newer version of this "
            f"library (this one reads format {supported}): upgrade recurrent-forecast to load it"
        )
    if found != supported:
        raise ModelFileError(
            f"saved model {path}: unsupported model format {found!r} "
            f"(this library reads {supported})"
        )
    check_checksums(path)
    return cfg


def _digest(file):
    """{"sha256", "bytes"} of a file (the fields a checkpoint's manifest keeps of its state)."""
    data = Path(file).read_bytes()
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def write_checksums(folder):
    """Write ``checksums.json`` into the model folder being saved: each file's SHA-256 and size."""
    folder = Path(folder)
    record = {"format": CHECKSUM_FORMAT, "files": {f: _digest(folder / f) for f in FILES}}
    (folder / CHECKSUMS).write_text(json.dumps(record, indent=1))


def check_checksums(path):
    """Refuse a file of the model folder ``path`` whose SHA-256 or size is not the one saved in
    ``checksums.json``, naming it; a folder without ``checksums.json`` (saved before checksums
    were written) passes."""
    path = Path(path)
    if not (path / CHECKSUMS).is_file():
        return
    try:
        record = json.loads((path / CHECKSUMS).read_text())
        if record["format"] != CHECKSUM_FORMAT:
            raise ModelFileError(
                f"saved model {path}: {CHECKSUMS} has format {record['format']!r}, this library "
                f"reads {CHECKSUM_FORMAT}"
            )
        saved = {f: (record["files"][f]["sha256"], int(record["files"][f]["bytes"])) for f in FILES}
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(
            f"saved model {path}: {CHECKSUMS} is corrupt ({type(exc).__name__}: {exc}); the "
            f"files' checksums cannot be checked: save the model again"
        ) from None
    for name, (sha, size) in saved.items():
        got = _digest(path / name)
        if (got["sha256"], got["bytes"]) != (sha, size):
            raise ModelFileError(
                f"saved model {path}: {name} does not match its checksum in {CHECKSUMS} "
                f"(expected SHA-256 {sha}, {size} bytes; found {got['sha256']}, {got['bytes']} "
                f"bytes): the file was damaged or changed after saving; refusing to load it"
            )


def read_tail(path, n_series):
    """The arrays of ``tail.npz`` ({data, static}), checked against the number of series."""
    try:
        with np.load(Path(path) / TAIL, allow_pickle=False) as arrays:
            out = {"data": arrays["data"], "static": arrays["static"]}
    # noqa: BLE001 - zipfile.BadZipFile, ValueError, KeyError...: one clear refusal
    except Exception as exc:
        raise ModelFileError(
            f"saved model {path}: {TAIL} is corrupt or not the model's tail "
            f"({type(exc).__name__}: {exc})"
        ) from None
    if out["data"].ndim != 3 or len(out["data"]) != n_series:
        raise ModelFileError(
            f"saved model {path}: {TAIL} holds data of shape {out['data'].shape}, expected "
            f"(series={n_series}, lookback, features) from {CONFIG}"
        )
    return out


def load_weights(module, path, device):
    """Load ``weights.pt`` into ``module``; refuse a file that is not a matching state dict."""
    try:
        weights = torch.load(Path(path) / WEIGHTS, map_location=device, weights_only=True)
    # noqa: BLE001 - torch raises RuntimeError, UnpicklingError, EOFError...
    except Exception as exc:
        raise ModelFileError(
            f"saved model {path}: {WEIGHTS} is corrupt or not a weights file "
            f"({type(exc).__name__}: {' '.join(str(exc).split())[:300]})"
        ) from None
    if not isinstance(weights, dict) or not all(
        isinstance(v, torch.Tensor) for v in weights.values()
    ):
        raise ModelFileError(f"saved model {path}: {WEIGHTS} does not hold a state dict of tensors")
    expected = module.state_dict()
    missing, unexpected = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    shapes = [k for k in expected if k in weights and weights[k].shape != expected[k].shape]
    if missing or unexpected or shapes:
        raise ModelFileError(
            f"saved model {path}: {WEIGHTS} does not fit the network {CONFIG} describes "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]}, other shapes {shapes[:3]})"
        )
    bad = [k for k, v in weights.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ModelFileError(f"saved model {path}: {WEIGHTS} holds non-finite values in {bad[:3]}")
    module.load_state_dict(weights)
