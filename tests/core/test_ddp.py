"""Issue 23: one network trained by several processes (``strategy="ddp"``, torch.distributed, gloo).

The ranks run ``ddp_child.py``: two under torchrun (the equivalence with one process, every rank
holding the same model, rank 0's save), then pairs forked by a launcher with the variables
torchrun sets (a killed rank, resume, a hung rank), so that a failure is met by the library, not
by torchrun's agent (which would end the other ranks itself).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import RNNForecaster

CHILD = Path(__file__).with_name("ddp_child.py")
REPO = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-5  # relative, per tensor: max |ddp - single| / max |single|


def _child():
    spec = importlib.util.spec_from_file_location("ddp_child", CHILD)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHILD_MODULE = _child()


def _run(*args):
    done = subprocess.run(
        [sys.executable, *map(str, args)],
        env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO)),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def weights(path):
    return torch.load(path, weights_only=True)


def relative_gap(a, b):
    return max(((a[k] - b[k]).abs().max() / b[k].abs().max()).item() for k in b)


def single_process(case, **kw):
    child = CHILD_MODULE
    params = child.BASE | child.CASES[case] | {"strategy": None} | kw
    return RNNForecaster(**params).fit(child.data())


@pytest.fixture(scope="module")
def ranks_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    _run(*torchrun, CHILD, out, "equivalence")
    return out


@pytest.fixture(scope="module")
def failures(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp-failures")
    _run(CHILD, out, "failures")
    return out, json.loads((out / "failures.json").read_text())


@pytest.mark.parametrize("case", ["lstm", "bigru"])
def test_two_gloo_ranks_give_the_weights_of_one_process_with_the_same_global_batch(ranks_out, case):
    reference = single_process(case)
    ddp = weights(ranks_out / f"{case}-rank0.pt")
    assert relative_gap(ddp, reference.module_.state_dict()) <= TOLERANCE
    start = single_process(case, max_steps=1, learning_rate=1e-9).module_.state_dict()
    assert relative_gap(ddp, start) > 0.1  # the steps moved the weights: the check means something
    for rank in (0, 1):
        history = json.loads((ranks_out / f"{case}-rank{rank}.json").read_text())["records"]
        assert all(r["clipped_fraction"] == 1.0 for r in history)  # clipped at every step
        for r, ref in zip(history, reference.history_.records, strict=True):
            assert r["train_loss"] == pytest.approx(ref.train_loss, rel=TOLERANCE)
            assert r["steps"] == ref.steps
            if ref.val_loss is not None:  # the global validation loss, not rank 0's part
                assert r["val_loss"] == pytest.approx(ref.val_loss, rel=TOLERANCE)
    other = weights(ranks_out / f"{case}-rank1.pt")
    assert all(torch.equal(ddp[k], other[k]) for k in ddp)  # every rank holds the same model


def test_clipping_each_rank_before_the_sum_would_fail_the_equivalence(ranks_out):
    """The counter-test: the same run with each rank clipping its own share first (the global
    norm never clipped whole) misses the one-process weights by far more than the tolerance."""
    wrong = weights(ranks_out / "per_rank_clip-rank0.pt")
    assert relative_gap(wrong, single_process("lstm").module_.state_dict()) > 100 * TOLERANCE


def test_rank_0s_saved_model_loads_as_a_one_process_model(ranks_out):
    forecasts = [pd.read_csv(ranks_out / f"forecast-rank{r}.csv") for r in (0, 1)]
    pd.testing.assert_frame_equal(forecasts[0], forecasts[1])  # predict works on any rank
    loaded = RNNForecaster.load(ranks_out / "model")
    assert loaded.get_params()["strategy"] == "ddp"
    fc = loaded.predict()  # no process group here: an ordinary model
    assert np.allclose(fc.y_pred, forecasts[0].y_pred, rtol=1e-6)
    single = single_process("lstm").predict()
    assert np.allclose(fc.y_pred, single.y_pred, rtol=1e-4, atol=1e-4)


def test_a_killed_rank_fails_the_other_within_seconds_with_a_clear_error(failures):
    out, results = failures
    (code0, ended0), (code1, ended1) = (results["killed"]["ranks"][r] for r in "01")
    assert code1 == -signal.SIGKILL
    assert code0 == 1 and ended0 - ended1 < 60  # rank 0 did not hang in its all-reduce
    log = (out / "killed-rank0.log").read_text()
    assert "RankFailure: rank 0 of 2: the gradient all-reduce failed: another rank died" in log
    assert results["killed"]["checkpoints"] == ["epoch-000001"]  # rank 0 wrote epoch 1's


def test_the_killed_fit_resumes_to_the_uninterrupted_weights_bit_for_bit(ranks_out, failures):
    out, results = failures
    assert [results["resumed"]["ranks"][r][0] for r in "01"] == [0, 0]
    assert results["resumed"]["checkpoints"] == ["epoch-000003"]
    uninterrupted = weights(ranks_out / "lstm-rank0.pt")  # the same fit under torchrun
    for rank in (0, 1):
        resumed = weights(out / f"resumed-rank{rank}.pt")
        assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)


def test_a_hung_rank_fails_the_other_after_the_timeout(failures):
    out, results = failures
    code0, ended0 = results["hung"]["ranks"]["0"]
    assert code0 == 1 and ended0 < 60
    log = (out / "hung-rank0.log").read_text()
    assert "did not answer within 3 s (FORECAST_DDP_TIMEOUT)" in log
    assert "Timed out" in log


def test_ranks_given_different_data_refuse_to_train(failures):
    out, results = failures
    assert [results["mismatched"]["ranks"][r][0] for r in "01"] == [1, 1]
    for rank in (0, 1):
        log = (out / f"mismatched-rank{rank}.log").read_text()
        assert "the 2 ranks were given different training data" in log


def test_ddp_outside_torchrun_trains_as_one_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    one = single_process("bigru", max_epochs=1).module_.state_dict()
    child = CHILD_MODULE
    ddp = RNNForecaster(**child.BASE, **(child.CASES["bigru"] | {"max_epochs": 1})).fit(
        child.data()
    )
    assert ddp.strategy == "ddp"
    assert all(torch.equal(one[k], v) for k, v in ddp.module_.state_dict().items())


def test_the_ranks_split_the_one_process_epoch_of_a_large_index_between_them(monkeypatch):
    """An index large enough for ``epoch_order`` to draw the epoch's windows directly (its
    threshold lowered from 2^22 windows): the ranks' parts of each global batch, joined, are the
    one-process batch (the ranks' gathering needs no collective, so no process is spawned)."""
    from forecast.data import windows
    from forecast.training.distributed import World

    monkeypatch.setattr(windows, "SAMPLE_FROM", 1000)
    lengths = np.array([900, 700, 500])
    offsets = np.r_[0, np.cumsum(lengths)]
    index, _ = windows.split_index(lengths, offsets, lookback=4, horizon=2, val_size=0)
    rows = np.arange(offsets[-1], dtype=np.float32)[:, None]  # a window's values name its rows
    gatherer = windows.Gatherer(rows, np.zeros((3, 0)), 4, 2, slice(0, 0))
    limit = index.n_windows // windows.SAMPLE_SHARE  # a small share: drawn, not permuted

    def epoch(batches):
        return list(batches(torch.Generator().manual_seed(3)))

    one = epoch(lambda g: gatherer.batches(index, 5, g, limit=limit))
    ranks = [
        epoch(lambda g, r=r: World(r, 2).batches(gatherer, index, 5, g, limit=limit))
        for r in (0, 1)
    ]
    assert len(one) == len(ranks[0]) == len(ranks[1]) == -(-limit // 5)
    for k, batch in enumerate(one):
        parts = [part[k][1].x for part in ranks if part[k][1] is not None]
        assert [part[k][0] for part in ranks] == [len(p) / len(batch.x) for p in parts]
        assert torch.equal(torch.cat(parts), batch.x)
