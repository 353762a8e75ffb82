"""A saved model folder that was damaged, tampered with or written by a newer version is refused
with a message naming the folder and the file (never an error from inside json, numpy or torch),
and no load path unpickles anything."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from forecast import RNNForecaster
from forecast.datasets.synthetic import make_panel
from forecast.fitted.integrity import ModelFileError

TINY = dict(
    cell="gru",
    hidden_size=8,
    lookback=24,
    horizon=6,
    season_length=12,
    max_epochs=1,
    batch_size=32,
    device="cpu",
    verbose=False,
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "m"
    RNNForecaster(**TINY).fit(make_panel(n_series=2, length=80, freq="h")).save(path)
    return path


@pytest.fixture
def model_dir(saved, tmp_path):
    import shutil

    return shutil.copytree(saved, tmp_path / "copy")


def _flip(path, at=0.5):
    data = bytearray(path.read_bytes())
    i = int(len(data) * at)
    data[i : i + 64] = bytes(b ^ 0xFF for b in data[i : i + 64])
    path.write_bytes(bytes(data))


DAMAGE = {
    "weights missing": (
        lambda p: (p / "weights.pt").unlink(),
        r"incomplete: \['weights.pt'\] missing",
    ),
    "tail missing": (lambda p: (p / "tail.npz").unlink(), r"incomplete: \['tail.npz'\] missing"),
    "weights truncated": (
        lambda p: (p / "weights.pt").write_bytes((p / "weights.pt").read_bytes()[:200]),
        "weights.pt is corrupt",
    ),
    "weights overwritten": (
        lambda p: (p / "weights.pt").write_text("not a model"),
        "weights.pt is corrupt",
    ),
    "weights flipped": (lambda p: _flip(p / "weights.pt", 0.6), "weights.pt"),
    "tail truncated": (
        lambda p: (p / "tail.npz").write_bytes((p / "tail.npz").read_bytes()[:100]),
        "tail.npz is corrupt",
    ),
    "tail of other series": (
        lambda p: np.savez(
            p / "tail.npz", data=np.zeros((5, 24, 1), "float32"), static=np.zeros((5, 0), "float32")
        ),
        "tail.npz holds data of shape",
    ),
    "tail with objects": (
        lambda p: np.savez(p / "tail.npz", data=np.array([object()] * 2), static=np.zeros(2)),
        "tail.npz is corrupt",
    ),
    "config truncated": (
        lambda p: (p / "config.json").write_text((p / "config.json").read_text()[:300]),
        "config.json is corrupt",
    ),
    "extra pickle": (
        lambda p: (p / "model.pkl").write_bytes(pickle.dumps({"x": 1})),
        r"unexpected file\(s\) \['model.pkl'\]",
    ),
    "newer format": (
        lambda p: (p / "config.json").write_text(
            json.dumps(json.loads((p / "config.json").read_text()) | {"format": 2})
        ),
        "newer version of this library",
    ),
    "weights of another network": (
        lambda p: __import__("torch").save({"w": __import__("torch").zeros(3)}, p / "weights.pt"),
        "does not fit the network",
    ),
}


@pytest.mark.parametrize("what", list(DAMAGE))
def test_a_damaged_model_folder_is_refused_naming_the_file(model_dir, what):
    damage, says = DAMAGE[what]
    damage(model_dir)
    with pytest.raises(ModelFileError, match=says) as err:
        RNNForecaster.load(model_dir)
    assert str(model_dir) in str(err.value)


def test_hidden_files_are_ignored_and_the_model_loads(model_dir):
    (model_dir / ".DS_Store").write_bytes(b"\0")
    assert len(RNNForecaster.load(model_dir).predict()) == 12


def test_loading_never_unpickles(model_dir, monkeypatch):
    """With pickle's loaders disabled, a saved model still loads and forecasts."""

    def refuse(*args, **kwargs):
        raise AssertionError("pickle used in a load path")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    assert np.isfinite(RNNForecaster.load(model_dir).predict()["y_pred"]).all()
