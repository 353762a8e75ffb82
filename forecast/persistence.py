"""Save and load a fitted RNNForecaster: JSON config + a torch state dict, never a pickle.

The folder holds ``config.json`` (parameters, layout, series, frequencies, scalers, history),
``weights.pt`` (loaded with ``weights_only=True``) and ``tail.npz`` (the last ``lookback`` rows
of each series, so ``predict()`` works after loading). It is written to a temporary sibling
folder and renamed into place, so an interrupted save never leaves a half-written model.
"""
from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .frames import FrameSpec
from .panel import Layout
from .scaling import ColumnScaler, SeriesScaler
from .training import History

FORMAT = 1


def save(est, path):
    path = Path(path)
    if path.exists() and not (path / "config.json").is_file() and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(f"{path} exists and is not a saved model: refusing to replace it "
                              "(choose a new path or an empty folder)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        (tmp / "config.json").write_text(json.dumps(_config(est), indent=1, default=_plain))
        state = {k: v.detach().cpu() for k, v in est.module_.state_dict().items()}
        torch.save(state, tmp / "weights.pt")
        np.savez(tmp / "tail.npz", data=est.tail_.data, static=est.static_)
        _replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace_dir(tmp, path):
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


def _plain(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):  # max_time: kept as seconds
        return value.total_seconds()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _config(est):
    from . import __version__

    return {
        "format": FORMAT,
        "library_version": __version__,
        "torch_version": torch.__version__,
        "class": type(est).__name__,
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in est.get_params().items()},
        "spec": vars(est.spec_) | {"series_name": _name(est.spec_.series_name)},
        "layout": vars(est.layout_),
        "ids": [str(i) for i in est.ids_],
        "freqs": est.freqs_,
        "tail_last_ds": [_time(t) for t in est.tail_.last_ds],
        "tail_freqs": list(est.tail_.freqs),
        "tail_ids": [str(i) for i in est.tail_.ids],
        "target_scaler": est.target_scaler_.to_dict(),
        "cov_scaler": est.cov_scaler_.to_dict(),
        "static_scaler": est.static_scaler_.to_dict(),
        "history": est.history_.to_dict(),
        "n_train_windows": est.n_train_windows_,
        "resolved": {"lookback": est.lookback_, "season_length": est.season_length_, "batch_size": est.batch_size_,
                     "windows_per_epoch": est.windows_per_epoch_, "max_epochs": est.max_epochs_,
                     "window_norm": est.window_norm_, "target_transform": est.target_transform_},
        "trained_on": str(est.device_),
    }


def _time(t):
    """A last timestamp for JSON: ISO text, or an int for integer time steps (read back as such)."""
    return int(t) if isinstance(t, (int, np.integer)) else pd.Timestamp(t).isoformat()


def _resolved(cfg):
    """Values resolved at fit; models saved before they were recorded used their parameters as given
    (then lookback 48, no window normalisation beyond the parameter, no inferred season)."""
    if "resolved" in cfg:
        return cfg["resolved"]
    p = cfg["params"]
    return {"lookback": p.get("lookback", 48), "season_length": p.get("season_length") or 1,
            "batch_size": p.get("batch_size", 256), "windows_per_epoch": p.get("windows_per_epoch"),
            "max_epochs": p.get("max_epochs", 20), "window_norm": p.get("window_norm"),
            "target_transform": p.get("target_transform")}


def _name(name):
    return name if name is None or isinstance(name, (str, int, float)) else str(name)


def load(cls, path, device="cpu"):
    from .inference import Tail

    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no saved model at {path} (config.json missing)")
    cfg = json.loads((path / "config.json").read_text())
    if cfg.get("format") != FORMAT:
        raise ValueError(f"{path}: unsupported model format {cfg.get('format')!r} (this library reads {FORMAT})")
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg["params"].items()}
    est = cls(**params)
    est.spec_ = FrameSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg["spec"].items()})
    est.layout_ = Layout(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg["layout"].items()})
    est.ids_ = np.array(cfg["ids"], dtype=object)
    est.freqs_ = cfg["freqs"]
    est.target_scaler_ = SeriesScaler.from_dict(cfg["target_scaler"])
    est.cov_scaler_ = SeriesScaler.from_dict(cfg["cov_scaler"])
    est.static_scaler_ = ColumnScaler.from_dict(cfg["static_scaler"])
    est.history_ = History.from_dict(cfg["history"])
    est.n_train_windows_ = cfg["n_train_windows"]
    for name, value in _resolved(cfg).items():
        setattr(est, f"{name}_", value)
    arrays = np.load(path / "tail.npz", allow_pickle=False)
    est.static_ = arrays["static"]
    est.tail_ = Tail(np.array(cfg["tail_ids"], dtype=object), arrays["data"],
                     [t if isinstance(t, int) else pd.Timestamp(t).as_unit("ns") for t in cfg["tail_last_ds"]],
                     cfg["tail_freqs"])
    est.device_ = torch.device(device)
    est.module_ = est._network()
    est.module_.load_state_dict(torch.load(path / "weights.pt", map_location=device, weights_only=True))
    est.module_.to(est.device_).eval()
    return est
