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
from forecast.fitted.integrity import FILES, ModelFileError

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
def test_a_damaged_model_folder_without_checksums_is_refused_naming_the_file(model_dir, what):
    """A folder saved before checksums were written: the file checks alone refuse the damage."""
    (model_dir / "checksums.json").unlink()
    damage, says = DAMAGE[what]
    damage(model_dir)
    with pytest.raises(ModelFileError, match=says) as err:
        RNNForecaster.load(model_dir)
    assert str(model_dir) in str(err.value)


# damage a file keeps parsing through: only its checksum tells
SILENT = {
    "a weight changed": lambda p: _edit_weights(p, lambda w: w.mul_(1.01)),
    "a tail value changed": lambda p: _edit_tail(p, 1e-3),
    "a scaler changed in config.json": lambda p: (p / "config.json").write_text(
        (p / "config.json").read_text().replace('"mean": [', '"mean": [1', 1)
    ),
    "weights of another network": DAMAGE["weights of another network"][0],
    "weights flipped": DAMAGE["weights flipped"][0],
    "tail of other series": DAMAGE["tail of other series"][0],
}


def _edit_weights(path, change):
    import torch

    weights = torch.load(path / "weights.pt", weights_only=True)
    change(next(iter(weights.values())))
    torch.save(weights, path / "weights.pt")


def _edit_tail(path, delta):
    with np.load(path / "tail.npz") as arrays:
        data, static = arrays["data"] + delta, arrays["static"]
    np.savez(path / "tail.npz", data=data, static=static)


@pytest.mark.parametrize("what", list(SILENT))
def test_a_file_that_differs_from_its_saved_checksum_is_refused_by_name(model_dir, what):
    before = {name: (model_dir / name).read_bytes() for name in FILES}
    SILENT[what](model_dir)
    changed = [name for name in FILES if (model_dir / name).read_bytes() != before[name]]
    assert len(changed) == 1
    with pytest.raises(ModelFileError, match="does not match its checksum") as err:
        RNNForecaster.load(model_dir)
    record = json.loads((model_dir / "checksums.json").read_text())["files"][changed[0]]
    message = str(err.value)
    assert str(model_dir) in message and f"{changed[0]} does not match" in message
    assert record["sha256"] in message and f"{record['bytes']} bytes" in message


def test_save_writes_the_sha256_of_every_file_and_load_checks_it(model_dir):
    import hashlib

    record = json.loads((model_dir / "checksums.json").read_text())
    assert record["format"] == 1 and sorted(record["files"]) == sorted(FILES)
    for name, saved in record["files"].items():
        data = (model_dir / name).read_bytes()
        assert saved == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    assert len(RNNForecaster.load(model_dir).predict()) == 12


@pytest.mark.parametrize(
    "write, says",
    [
        (lambda p: (p / "checksums.json").write_text("{"), "checksums.json is corrupt"),
        (lambda p: (p / "checksums.json").write_text('{"format": 1, "files": {}}'), "corrupt"),
        (
            lambda p: (p / "checksums.json").write_text(json.dumps({"format": 9, "sha512": {}})),
            "checksums.json has format 9",
        ),
    ],
)
def test_a_damaged_checksum_record_is_refused_not_skipped(model_dir, write, says):
    write(model_dir)
    with pytest.raises(ModelFileError, match=says):
        RNNForecaster.load(model_dir)


def test_an_old_folder_without_checksums_still_loads_and_a_resave_adds_them(model_dir, tmp_path):
    (model_dir / "checksums.json").unlink()
    model = RNNForecaster.load(model_dir)
    again = model.save(tmp_path / "again")
    assert (again / "checksums.json").is_file()
    assert RNNForecaster.load(again).predict().equals(model.predict())


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
