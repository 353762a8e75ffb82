"""The CUDA / NCCL path of ``strategy="ddp"`` (issue 23), for the lent GPU machine:
``python -m pytest -m gpu tests/gpu/test_ddp_gpu.py``. Skipped without CUDA; the two-rank test
needs two GPUs (NCCL refuses two ranks on one device), the one-GPU test runs world size 1."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from forecast import RNNForecaster

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
REPO = Path(__file__).resolve().parents[2]
CHILD = REPO / "tests" / "core" / "ddp_child.py"


def _child():
    spec = importlib.util.spec_from_file_location("ddp_child", CHILD)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def single_gpu(child, case):
    params = child.BASE | child.CASES[case] | {"strategy": None, "device": "cuda"}
    return RNNForecaster(**params).fit(child.data())


def relative_gap(a, b):
    return max(((a[k].cpu() - b[k].cpu()).abs().max() / b[k].cpu().abs().max()).item() for k in b)


def test_ddp_on_one_gpu_outside_torchrun_trains_as_one_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    child = _child()
    params = child.BASE | child.CASES["lstm"] | {"device": "cuda"}
    ddp = RNNForecaster(**params).fit(child.data())
    one = single_gpu(child, "lstm")
    assert next(ddp.module_.parameters()).is_cuda
    assert np.allclose(ddp.predict().y_pred, one.predict().y_pred, rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_two_gpu_ranks_match_one_gpu_with_the_same_global_batch(tmp_path):
    env = dict(os.environ, DDP_CHILD_DEVICE="cuda", PYTHONPATH=str(REPO))
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    done = subprocess.run(
        [*torchrun, "--nproc-per-node", "2", str(CHILD), str(tmp_path), "equivalence"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    child = _child()

    def load(name):
        return torch.load(tmp_path / name, map_location="cpu", weights_only=True)

    for case in child.CASES:
        ranks = [load(f"{case}-rank{r}.pt") for r in (0, 1)]
        assert all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0])  # one model
        # bf16 autocast on both sides: close, not to float32's 1e-5
        gap = relative_gap(ranks[0], single_gpu(child, case).module_.state_dict())
        assert gap < 1e-2, (case, gap)
    wrong = relative_gap(load("per_rank_clip-rank0.pt"), load("lstm-rank0.pt"))
    assert wrong > 0.05  # clipping each rank first is far off; the global clip is not
