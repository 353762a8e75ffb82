"""Save and load a fitted model (parameters, :class:`~forecast.fitted.state.FittedState`, network):
JSON config + a torch state dict, never a pickle.

The folder holds ``config.json`` (parameters, layout, series, frequencies, scalers, history),
``weights.pt`` (loaded with ``weights_only=True``), ``tail.npz`` (the last ``lookback`` rows
of each series, so ``predict()`` works after loading) and ``checksums.json`` (the SHA-256 of each,
checked at load: ``forecast.fitted.integrity``). It is written to a temporary sibling
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

from forecast.data.frames import FrameSpec
from forecast.data.panel import Layout
from forecast.data.scaling import ColumnScaler, SeriesScaler
from forecast.fitted import integrity
from forecast.fitted.migration import upgrade
from forecast.fitted.state import FittedState, Tail, network_config
from forecast.training.loop import History

FORMAT = 1
RESOLVED = (
    "lookback",
    "season_length",
    "batch_size",
    "windows_per_epoch",
    "max_epochs",
    "window_norm",
    "target_transform",
)  # values fixed at fit, saved under "resolved"


def save(path, params, state, module, class_name):
    """Write the model to the folder ``path``; ``params``: the estimator's ``get_params()``."""
    path = Path(path)
    if (
        path.exists()
        and not (path / "config.json").is_file()
        and (not path.is_dir() or any(path.iterdir()))
    ):
        raise FileExistsError(
            f"{path} exists and is not a saved model: refusing to replace it "
            "(choose a new path or an empty folder)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        (tmp / "config.json").write_text(
            json.dumps(_config(params, state, class_name), indent=1, default=_plain)
        )
        torch.save(
            {k: v.detach().cpu() for k, v in module.state_dict().items()}, tmp / "weights.pt"
        )
        np.savez(tmp / "tail.npz", data=state.tail.data, static=state.static)
        integrity.write_checksums(tmp)
        replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_dir(tmp, path):
    """Move the finished folder ``tmp`` to ``path`` (rename, so a reader never sees half a model);
    an existing ``path`` is renamed aside first and removed once the new one is in place."""
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


def _config(params, state, class_name):
    from forecast import __version__

    return {
        "format": FORMAT,
        "library_version": __version__,
        "torch_version": torch.__version__,
        "class": class_name,
        "params": params,
        "spec": vars(state.spec) | {"series_name": _name(state.spec.series_name)},
        "layout": vars(state.layout),
        "ids": [str(i) for i in state.ids],
        "freqs": state.freqs,
        "tail_last_ds": [_time(t) for t in state.tail.last_ds],
        "time_zone": _zone(state.tail.last_ds),
        "tail_freqs": list(state.tail.freqs),
        "tail_ids": [str(i) for i in state.tail.ids],
        "target_scaler": state.target_scaler.to_dict(),
        "cov_scaler": state.cov_scaler.to_dict(),
        "static_scaler": state.static_scaler.to_dict(),
        "history": state.history.to_dict(),
        "n_train_windows": state.n_train_windows,
        "conformal": state.conformal,
        "resolved": {name: getattr(state, name) for name in RESOLVED},
        "trained_on": str(state.device),
    }


def _time(t):
    """A last timestamp for JSON: ISO text (in UTC when it has a zone: local times of 1850 carry
    offsets
    in seconds that ISO parsing refuses), or an int for integer time steps (read back as such)."""
    if isinstance(t, (int, np.integer)):
        return int(t)
    t = pd.Timestamp(t)
    return (t if t.tz is None else t.tz_convert("UTC")).isoformat()


def _zone(times):
    """The name of the time zone of the fitted timestamps (e.g. "Europe/Berlin"), kept so that
    forecasts
    after loading step across daylight-saving changes as before; None when naive or nameless."""
    tz = next((t.tz for t in times if isinstance(t, pd.Timestamp) and t.tz is not None), None)
    if tz is None:
        return None
    name = getattr(tz, "key", None) or getattr(tz, "zone", None) or str(tz)
    try:
        pd.Timestamp(0, tz=name)
    except (ValueError, TypeError, KeyError):
        return (
            None  # a zone without a name that reads back (e.g. dateutil's): the UTC offset is kept
        )
    return name


def _last_times(cfg):
    """The saved last timestamps, in the saved zone."""
    zone = cfg.get("time_zone")
    out = []
    for t in cfg["tail_last_ds"]:
        if isinstance(t, int):
            out.append(t)
            continue
        t = pd.Timestamp(t).as_unit("ns")
        out.append(t.tz_convert(zone) if zone and t.tz is not None else t)
    return out


def _resolved(cfg):
    """Values resolved at fit; models saved before they were recorded used their parameters as given
    (then lookback 48, no window normalisation beyond the parameter, no inferred season)."""
    if "resolved" in cfg:
        return cfg["resolved"]
    p = cfg["params"]
    return {
        "lookback": p.get("lookback", 48),
        "season_length": p.get("season_length") or 1,
        "batch_size": p.get("batch_size", 256),
        "windows_per_epoch": p.get("windows_per_epoch"),
        "max_epochs": p.get("max_epochs", 20),
        "window_norm": p.get("window_norm"),
        "target_transform": p.get("target_transform"),
    }


def _name(name):
    """A Series name for JSON: plain values and tuples of them as they are (a tuple reads back as a
    list: see :func:`_unlisted`), anything else as text."""
    if isinstance(name, tuple):
        return [_name(part) for part in name]
    return (
        name
        if name is None or isinstance(name, (str, int, float, np.integer, np.floating))
        else str(name)
    )


def _unlisted(value):
    return tuple(_unlisted(v) for v in value) if isinstance(value, list) else value


def load(path, device="cpu", defaults=None):
    """Read a model written by :func:`save` onto ``device``.

    Returns (params, state, module): ``params`` are the saved parameters, in today's names
    (``forecast.fitted.settings.upgrade``), over ``defaults`` (the class's defaults, for
    parameters a model saved by an older version lacks).
    """
    path = Path(path)
    cfg = integrity.read_config(
        path, FORMAT
    )  # a missing, extra or corrupt file: a refusal naming it
    params = upgrade({k: _unlisted(v) for k, v in cfg["params"].items()})
    state = _state(
        cfg, {**(defaults or {}), **params}, integrity.read_tail(path, len(cfg["ids"])), device
    )
    module = state.build_network()
    integrity.load_weights(module, path, device)
    return params, state, module.to(state.device).eval()


def _state(cfg, params, arrays, device):
    layout = Layout(**_tuples(cfg["layout"]))
    resolved = _resolved(cfg)
    tail = Tail(
        np.array(cfg["tail_ids"], dtype=object), arrays["data"], _last_times(cfg), cfg["tail_freqs"]
    )
    ids = np.array(cfg["ids"], dtype=object)
    network = network_config(
        params, layout, len(ids), resolved["window_norm"], resolved["season_length"]
    )
    return FittedState(
        spec=FrameSpec(
            **{**_tuples(cfg["spec"]), "series_name": _unlisted(cfg["spec"].get("series_name"))}
        ),
        layout=layout,
        ids=ids,
        freqs=cfg["freqs"],
        horizon=params["horizon"],
        fill=params["fill"],
        short_series=params["short_series"],
        device=torch.device(device),
        network=network,
        **{name: resolved[name] for name in RESOLVED},
        target_scaler=SeriesScaler.from_dict(cfg["target_scaler"]),
        cov_scaler=SeriesScaler.from_dict(cfg["cov_scaler"]),
        static_scaler=ColumnScaler.from_dict(cfg["static_scaler"]),
        static=arrays["static"],
        tail=tail,
        history=History.from_dict(cfg["history"]),
        n_train_windows=cfg["n_train_windows"],
        conformal=cfg.get("conformal"),
    )


def _tuples(d):
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
