"""``forecast train --nproc N``: the final fit across N local DDP processes (``pipelines.ddp_fit``).

The flow with ``nproc=2`` on a tiny CSV registers a champion trained by two gloo ranks (its epochs
logged once, by rank 0) whose forecasts are finite; the flag is refused by name below 1 and with
CUDA when there are fewer GPUs than processes; a rank's failure fails the fit with its last lines.
"""

from __future__ import annotations

import contextlib
import io
import signal

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from forecast import RNNForecaster
from forecast.datasets.synthetic import make_panel
from pipelines import ddp_fit
from pipelines.cli import main


def test_nproc_below_one_is_refused_by_name():
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_:
        main(["train", "--nproc", "0"])
    assert exit_.value.code == 2 and "--nproc" in err.getvalue()
    with pytest.raises(ValueError, match=r"nproc \(--nproc\) must be a positive integer, got 0"):
        ddp_fit.check(0, "cpu")


def test_nproc_with_cuda_needs_as_many_gpus():
    import torch

    n = max(2, (torch.cuda.device_count() if torch.cuda.is_available() else 0) + 1)
    with pytest.raises(
        ValueError, match=rf"nproc \(--nproc\) {n} with device 'cuda' needs {n} GPU"
    ):
        ddp_fit.check(n, "cuda")
    ddp_fit.check(n, "cpu")  # processes on CPU: as many as asked


def test_a_failed_rank_fails_the_fit_with_its_last_lines():
    df = make_panel(n_series=2, length=60, freq="h", seed=1)[["unique_id", "ds", "y"]]
    est = RNNForecaster(horizon=4, lookback=8, hidden_size=4, max_epochs=1, device="cpu")
    est.set_params(cell="no-such-cell")  # refused by every rank's fit
    with pytest.raises(
        RuntimeError, match=r"(?s)exited with code \d+; the last lines of rank\d:.*no-such-cell"
    ):
        ddp_fit.fit_across(est, df, 2)


@pytest.mark.slow
def test_the_final_fit_on_two_processes_is_registered(prefect_harness, tmp_path, mlflow_uri):
    from pipelines import flows

    from .conftest import TINY

    df = make_panel(n_series=3, length=120, freq="h", seed=5)[["unique_id", "ds", "y"]]
    df.to_csv(tmp_path / "shop.csv", index=False)
    settings = TINY | dict(window_norms=["last"], season_length=24, level=[])
    state = flows.train(
        **settings,
        source={"data": str(tmp_path / "shop.csv")},
        nproc=2,
        tracking_uri=mlflow_uri,
        output_dir=str(tmp_path / "out"),
        return_state=True,
    )
    assert state.is_completed(), state.message
    result = state.result()
    client = MlflowClient(mlflow_uri)
    champion = client.get_model_version_by_alias("forecaster-shop", "champion")
    assert champion.run_id == result["run_id"]
    run = client.get_run(result["run_id"])
    assert run.data.params["strategy"] == "ddp" and run.data.params["flow.nproc"] == "2"
    losses = client.get_metric_history(result["run_id"], "train_loss")
    assert sorted(m.step for m in losses) == [1, 2]  # rank 0 alone streamed the epochs
    fc = pd.read_parquet(result["forecast_path"])
    assert len(fc) == 3 * 12 and np.isfinite(fc["y_pred"]).all()


def test_a_stop_ends_the_ranks(monkeypatch, tmp_path):
    from forecast.training.stopping import STOP, Interrupted

    df = make_panel(n_series=2, length=60, freq="h", seed=1)[["unique_id", "ds", "y"]]
    est = RNNForecaster(horizon=4, lookback=8, hidden_size=4, max_epochs=100000, device="cpu")
    real = ddp_fit._launch

    def stop_soon(argv, folder):
        import threading

        threading.Timer(8.0, STOP.request, args=(signal.SIGTERM,)).start()
        real(argv, folder)

    monkeypatch.setattr(ddp_fit, "_launch", stop_soon)
    try:
        with pytest.raises(Interrupted):
            ddp_fit.fit_across(est, df, 2)
    finally:
        STOP.clear()
