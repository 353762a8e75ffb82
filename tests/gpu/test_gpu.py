"""GPU paths (run on the lent GPU machine: `python -m pytest -m gpu tests/gpu`); skipped without CUDA."""

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import RNNForecaster

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def panel(n=8, length=400):
    t = np.arange(length)
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "unique_id": f"s{i}",
                    "ds": pd.date_range("2024", periods=length, freq="h"),
                    "y": np.sin(2 * np.pi * t / 24 + i) + 0.01 * t,
                }
            )
            for i in range(n)
        ],
        ignore_index=True,
    )


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_trains_on_cuda_with_bf16_and_forecasts_finite(cell):
    model = RNNForecaster(
        cell=cell, bidirectional=True, lookback=48, horizon=12, max_epochs=2, device="auto"
    ).fit(panel())
    assert model.device_.type == "cuda"
    assert next(model.module_.parameters()).is_cuda
    assert np.isfinite(model.predict().y_pred).all()


def test_model_trained_on_gpu_loads_on_cpu(tmp_path):
    model = RNNForecaster(lookback=48, horizon=12, max_epochs=2, device="cuda").fit(panel())
    model.save(tmp_path / "m")
    cpu = RNNForecaster.load(tmp_path / "m", device="cpu")
    assert cpu.device_.type == "cpu"
    # bf16 autocast on the GPU vs fp32 on the CPU: close, not bitwise equal.
    assert np.allclose(model.predict().y_pred, cpu.predict().y_pred, rtol=0.05, atol=0.05)


def test_windows_are_gathered_on_the_device():
    from forecast.data.windows import Gatherer, WindowIndex

    data = np.random.default_rng(0).normal(size=(1000, 3))
    g = Gatherer(data, np.zeros((2, 0)), 10, 5, slice(1, 3), device="cuda")
    index = WindowIndex(
        np.array([0, 500, 1000]), np.array([0, 0]), np.array([485, 485]), device="cuda"
    )
    batch = next(g.batches(index, 64))
    assert batch.x.is_cuda and batch.y.is_cuda and batch.x.shape == (64, 10, 3)
