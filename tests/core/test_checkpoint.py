"""Checkpoint and resume (``fit(checkpoint_dir=...)``) and stopping a fit by signal.

The kill-and-resume test runs fits in child processes (``resume_child.py``), kills them with
SIGKILL inside optimizer steps and inside a checkpoint save, restarts them on the same folder
and checks the final weights equal an uninterrupted fit's bit for bit (CPU, same seed).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from forecast import RNNForecaster
from forecast.datasets.synthetic import make_panel
from forecast.training.checkpoint import CheckpointError
from forecast.training.loop import Callback
from forecast.training.stopping import STOP, Interrupted

CHILD = Path(__file__).with_name("resume_child.py")
REPO = Path(__file__).resolve().parents[2]
SMALL = dict(
    cell="gru",
    hidden_size=8,
    lookback=24,
    season_length=12,
    horizon=6,
    batch_size=16,
    windows_per_epoch=96,
    max_epochs=5,
    early_stopping=2,
    learning_rate=(3e-3, "plateau"),
    device="cpu",
    seed=0,
    verbose=False,
)


def panel():
    return make_panel(n_series=2, length=100, freq="h", seed=2)


def weights(model):
    return {k: v.clone() for k, v in model.module_.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class StopAt(Callback):
    """Ask the fit to stop (as SIGINT's handler does) at the end of epoch ``epoch``."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, state, record):
        if state.epoch == self.epoch:
            STOP.request(signal.SIGINT)


def test_a_stopped_fit_resumes_to_the_same_weights_as_an_uninterrupted_one(tmp_path):
    reference = RNNForecaster(**SMALL).fit(panel())
    folder = tmp_path / "ckpt"
    with pytest.raises(Interrupted, match="SIGINT"):
        RNNForecaster(**SMALL).fit(panel(), checkpoint_dir=folder, callbacks=[StopAt(2)])
    STOP.clear()
    assert [p.name for p in folder.iterdir()] == ["epoch-000002"]
    resumed = RNNForecaster(**SMALL).fit(panel(), checkpoint_dir=folder, callbacks=[Callback()])
    assert same(weights(resumed), weights(reference))
    assert [r.epoch for r in resumed.history_.records] == [
        r.epoch for r in reference.history_.records
    ]
    assert resumed.history_.best_epoch == reference.history_.best_epoch
    again = RNNForecaster(**SMALL).fit(
        panel(), checkpoint_dir=folder, callbacks=[Callback()]
    )  # finished: no training
    assert same(weights(again), weights(reference))


def _checkpointed(tmp_path):
    folder = tmp_path / "ckpt"
    with pytest.raises(Interrupted):
        RNNForecaster(**SMALL).fit(panel(), checkpoint_dir=folder, callbacks=[StopAt(1)])
    STOP.clear()
    return folder, folder / "epoch-000001"


@pytest.mark.parametrize(
    "damage,says",
    [
        (
            lambda p: (p / "state.pt").write_bytes((p / "state.pt").read_bytes()[:-100]),
            "is corrupt",
        ),
        (
            lambda p: (p / "state.pt").write_bytes(b"x" + (p / "state.pt").read_bytes()[1:]),
            "is corrupt",
        ),
        (lambda p: (p / "manifest.json").unlink(), "is partial"),
        (lambda p: (p / "manifest.json").write_text("{"), "unreadable manifest.json"),
        (
            lambda p: (p / "manifest.json").write_text(
                json.dumps(json.loads((p / "manifest.json").read_text()) | {"format": 99})
            ),
            "format 99",
        ),
    ],
)
def test_a_damaged_checkpoint_is_refused_naming_the_folder(tmp_path, damage, says):
    folder, path = _checkpointed(tmp_path)
    damage(path)
    with pytest.raises(CheckpointError, match=says) as err:
        RNNForecaster(**SMALL).fit(panel(), checkpoint_dir=folder, callbacks=[Callback()])
    assert str(path) in str(err.value)


def test_a_checkpoint_of_another_fit_is_refused(tmp_path):
    folder, _ = _checkpointed(tmp_path)
    with pytest.raises(CheckpointError, match="belongs to another fit"):
        RNNForecaster(**(SMALL | {"learning_rate": 0.01})).fit(
            panel(), checkpoint_dir=folder, callbacks=[Callback()]
        )
    other = make_panel(
        n_series=2, length=100, freq="h", seed=3
    )  # (a constant shift would scale the same)
    with pytest.raises(CheckpointError, match="belongs to another fit"):
        RNNForecaster(**SMALL).fit(other, checkpoint_dir=folder, callbacks=[Callback()])


def test_a_leftover_temporary_folder_is_ignored_and_cleaned(tmp_path):
    folder, _ = _checkpointed(tmp_path)
    (folder / ".tmp-epoch-000002-1").mkdir()
    (folder / ".tmp-epoch-000002-1" / "state.pt").write_bytes(b"half")
    RNNForecaster(**SMALL).fit(panel(), checkpoint_dir=folder, callbacks=[Callback()])
    assert all(p.name.startswith("epoch-") for p in folder.iterdir())


def _child(folder, out, *kill, timeout=120):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, str(CHILD), str(folder), str(out), *kill],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_sigkilled_fits_resume_to_bit_identical_weights(tmp_path):
    """One fit of 6 epochs x 10 steps, SIGKILLed four times: inside step 5 (epoch 1, before any
    checkpoint), inside step 23 of the restarted process (epoch 3), inside the second checkpoint
    save of the next one (epoch 4's: files written, not yet renamed) and inside step 25 of the
    next (epoch 6); a fifth process finishes. Its weights equal an uninterrupted fit's bit for bit."""
    child = _load_child()
    reference = child.RNNForecaster(**child.PARAMS).fit(child.data())
    out, folder = tmp_path / "out.pt", tmp_path / "ckpt"
    reached = []
    for kill in ("step=5", "step=23", "save=2", "step=25"):
        done = _child(folder, out, kill)
        assert done.returncode == -signal.SIGKILL, (kill, done.stderr[-2000:])
        reached.append([p.name for p in sorted(folder.glob("epoch-*"))] if folder.is_dir() else [])
    assert reached == [[], ["epoch-000002"], ["epoch-000003"], ["epoch-000005"]]
    last = _child(folder, out)
    assert last.returncode == 0, last.stderr[-3000:]
    assert same(torch.load(out, weights_only=True), reference.module_.state_dict())


def _load_child():
    import importlib.util

    spec = importlib.util.spec_from_file_location("resume_child", CHILD)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sigterm_stops_a_library_fit_in_a_worker_thread_promptly(tmp_path):
    """A script fitting in a thread pool (as model selection does): SIGTERM ends it with exit code
    143 within seconds, the thread stopping at its next step; SIGINT with 130."""
    script = tmp_path / "fit.py"
    script.write_text(
        "import sys, time\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from forecast import RNNForecaster\nfrom forecast.training.stopping import on_signals\n"
        "from forecast.datasets.synthetic import make_panel\n"
        "df = make_panel(n_series=4, length=400, freq='h')\n"
        "m = RNNForecaster(hidden_size=32, lookback=48, horizon=12, max_epochs=100000, device='cpu', verbose=False)\n"
        "class Tell:\n"
        "    def on_train_begin(self, state): print('training', flush=True)\n"
        "    def on_epoch_end(self, state, record): pass\n"
        "    def on_train_end(self, state, history): pass\n"
        "with on_signals():\n"
        "    with ThreadPoolExecutor(1) as pool:\n"
        "        pool.submit(m.fit, df, callbacks=[Tell()]).result()\n"
    )
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        proc = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO)),
        )
        assert proc.stdout.readline().strip() == "training"
        time.sleep(1.0)
        t0 = time.monotonic()
        proc.send_signal(sig)
        proc.wait(timeout=30)
        assert time.monotonic() - t0 < 10
        assert proc.returncode in (code, -sig if sig == signal.SIGINT else code), (
            proc.stderr.read()[-2000:]
        )


def test_nan_injected_into_a_batch_mid_training_rolls_back_and_forecasts_stay_finite(monkeypatch):
    """A batch whose targets turn NaN in epoch 3 (a corrupt shard, a bad sensor): the weights roll
    back to epoch 2, the history says why, and every forecast is finite; in epoch 1 (no finite
    epoch yet) the fit refuses with a clear FloatingPointError instead of returning a NaN model."""
    from forecast.data import windows

    batches = windows.Gatherer.batches
    for bad_epoch, value in ((3, np.nan), (3, np.inf), (1, np.nan)):
        seen = {"n": 0}

        def poisoned(self, *args, seen=seen, bad_epoch=bad_epoch, value=value, **kwargs):
            seen["n"] += 1
            for i, batch in enumerate(batches(self, *args, **kwargs)):
                if kwargs.get("shuffle", True) and seen["n"] == bad_epoch and i == 1:
                    batch.y[0, 0] = value
                yield batch

        monkeypatch.setattr(windows.Gatherer, "batches", poisoned)
        model = RNNForecaster(**(SMALL | {"early_stopping": None}))
        if bad_epoch == 1:
            with pytest.raises(FloatingPointError, match="non-finite in epoch 1"):
                model.fit(panel())
            continue
        with pytest.warns(RuntimeWarning, match="rolled back to epoch 2"):
            model.fit(panel())
        assert model.history_.rolled_back.startswith("non-finite loss in epoch 3")
        assert np.isfinite(model.predict()["y_pred"]).all()


def test_a_second_signal_ends_a_process_that_does_not_stop(tmp_path):
    """Code that swallows the first stop request (here: a loop that catches it) still ends at once
    on the second signal, killed by it (-15: the shell's 143)."""
    script = tmp_path / "stubborn.py"
    script.write_text(
        "import time\nfrom forecast.training.stopping import Interrupted, on_signals\n"
        "with on_signals():\n    while True:\n        try:\n            print('ready', flush=True)\n"
        "            time.sleep(60)\n"
        "        except Interrupted:\n            print('ignored', flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert (
        proc.stdout.readline().strip() == "ready"
    )  # inside the try: the signal cannot land outside it
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout.readline().strip() == "ignored"
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == -signal.SIGTERM
