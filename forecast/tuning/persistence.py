"""Save and load an :class:`~forecast.tuning.auto.AutoRNNForecaster` without pickle.

The folder holds ``auto.json`` (parameters, ``best_params_``, scores, ``trials_`` as records)
and one ``member<i>`` folder per member, each written by ``RNNForecaster.save``; a seasonal-naive
fallback keeps its training frame (``seasonal_naive.csv``) and refits on load. It is written to a
temporary sibling folder and renamed into place, as ``forecast.fitted.persistence`` does.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from forecast.data.frames import TIME
from forecast.estimator import RNNForecaster
from forecast.evaluation.baselines import SeasonalNaive
from forecast.fitted.persistence import replace_dir

FORMAT = 1
CONFIG = "auto.json"
NAIVE = "seasonal_naive.csv"


def save(model, path):
    """Write the fitted ``model`` to the folder ``path`` (replacing an earlier save there)."""
    path = Path(path)
    if path.exists() and not (path / CONFIG).is_file() and (path.is_file() or any(path.iterdir())):
        raise FileExistsError(f"{path} exists and is not a saved AutoRNNForecaster")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        naive = isinstance(model.members_[0], SeasonalNaive)
        if naive:
            model.fallback_data_.to_csv(tmp / NAIVE, index=False)
        else:
            for i, member in enumerate(model.members_):
                member.save(tmp / f"member{i}")
        (tmp / CONFIG).write_text(json.dumps(_config(model, naive), indent=1, default=str))
        replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load(cls, path):
    """The model saved in ``path``, ready to ``predict``."""
    path = Path(path)
    config = json.loads((path / CONFIG).read_text())
    if config.get("format") != FORMAT:
        raise ValueError(f"{path / CONFIG}: unknown format {config.get('format')!r}")
    model = cls(**config["params"])
    m = config["season_length"]
    if config["members"] == "seasonal_naive":
        train = pd.read_csv(path / NAIVE)
        if not pd.api.types.is_integer_dtype(train[TIME]):
            train[TIME] = pd.to_datetime(train[TIME])
        model.fallback_data_ = train
        model.members_ = [SeasonalNaive(model.horizon, m).fit(train)]
    else:
        model.members_ = [RNNForecaster.load(path / name) for name in config["members"]]
    model.season_length_ = m
    model.best_params_ = config["best_params"]
    model.best_score_, model.naive_score_ = config["best_score"], config["naive_score"]
    model.metric_ = config.get("metric", "mase")  # saves before these keys: their defaults
    model.naive_season_length_ = config.get("naive_season_length", m)
    model.val_windows_ = config.get("val_windows", 1)
    model.trials_ = pd.DataFrame.from_records(config["trials"])
    return model


def _config(model, naive):
    params = model.get_params()
    if callable(params["space"]):  # a function is not data: the saved model forgets it
        params["space"] = None
    return {
        "format": FORMAT,
        "params": params,
        "season_length": int(model.season_length_),
        "best_params": model.best_params_,
        "best_score": model.best_score_,
        "naive_score": model.naive_score_,
        "metric": getattr(model, "metric_", "mase"),
        "naive_season_length": int(getattr(model, "naive_season_length_", model.season_length_)),
        "val_windows": int(getattr(model, "val_windows_", 1)),
        "trials": model.trials_.to_dict("records"),
        "members": "seasonal_naive"
        if naive
        else [f"member{i}" for i in range(len(model.members_))],
    }
