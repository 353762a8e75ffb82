"""Training throughput of RNNForecaster next to Darts, NeuralForecast and PyTorch Forecasting.

The configuration of ``bench_training.py`` (lookback 168, horizon 24, hidden 64, 2 layers,
batch 256 windows, Adam lr 1e-3, gradient-norm clip 1.0, 100 series x 2,000 hourly points) in:

* Darts ``BlockRNNModel`` (model="RNN" | "LSTM" | "GRU");
* NeuralForecast ``RNN`` | ``LSTM`` | ``GRU`` (v3: ``batch_size`` = series per batch, set to all
  100; ``windows_batch_size`` = 256 windows per step);
* PyTorch Forecasting ``RecurrentNetwork`` (cell_type "LSTM" | "GRU"; it has no Elman RNN).

Each peer is counted in gradient steps of 256 windows: steps/s over the training loop, from the
start of the first batch to the end of the last (a Lightning callback), beside the library's
loop (``history_.records[0].seconds``), interleaved in one process, median of the repeats.
Differences in configuration that cannot be removed are listed in ``DIFFERENCES`` and printed.

A peer that is not installed is skipped. Install the peers into a separate environment, never
the project's::

    python3 -m venv /tmp/benchvenv
    /tmp/benchvenv/bin/pip install torch==2.13.0      # the CPU wheel first, so no CUDA build is pulled
    /tmp/benchvenv/bin/pip install torch==2.13.0 darts neuralforecast pytorch-forecasting psutil

Usage (the children run under ``--python``, default /tmp/benchvenv/bin/python when it exists)::

    python benchmarks/bench_peers.py               # lstm, gru; 15 steps x 2 repeats
    python benchmarks/bench_peers.py --quick       # lstm only, 6 steps x 1 repeat
    python benchmarks/bench_peers.py --cells rnn,lstm,gru --peers darts,neuralforecast
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))  # the library from source, also under the peers' interpreter
import common  # noqa: E402

CONFIG = dict(
    lookback=168, horizon=24, hidden_size=64, num_layers=2, batch_size=256, lr=1e-3, clip=1.0
)
PANEL = dict(n_series=100, length=2000)
PACKAGES = {
    "darts": "darts",
    "neuralforecast": "neuralforecast",
    "pytorch_forecasting": "pytorch-forecasting",
}
CELLS = {
    "darts": ("rnn", "lstm", "gru"),
    "neuralforecast": ("rnn", "lstm", "gru"),
    "pytorch_forecasting": ("lstm", "gru"),
}

DIFFERENCES = {
    "all peers": "No bidirectional encoder in any of these models: unidirectional cells only. Each runs "
    "through a Lightning Trainer (logger, checkpointing, progress bar off) and a DataLoader "
    "with num_workers=0; the library gathers batches by tensor indexing.",
    "darts": "Series cast to float32 (Darts trains in the series' dtype; float64 would be ~2x slower). "
    "Head: Linear(hidden -> 24) (hidden_fc_sizes=None), ours: MLP + linear skip. No scaling "
    "(ours scales per series; cost outside the loop). Windows from a per-sample Dataset + collate.",
    "neuralforecast": "batch_size=100 series, windows_batch_size=256 windows per step; scaler_type='standard' "
    "(per window, inside the step); recurrent=False (direct MLP decoder, "
    "decoder_hidden_size=64, 2 layers); loss MSE.",
    "pytorch_forecasting": "RecurrentNetwork runs its RNN over the 24 decoder steps too (autoregressive "
    "target lag as input), so each step does 192 recurrent steps vs 168; loss RMSE "
    "(it has no MSE); optimizer 'adam'; GroupNormalizer per series; no Elman RNN.",
}


# ------------------------------------------------------------------ peers
class _Times:
    """Where the timing callback writes: a module-level record, because NeuralForecast deep-copies
    its models (and so their callbacks) before training."""

    start = end = None
    steps = 0


def _timing_callback(base):
    _Times.start, _Times.end, _Times.steps = None, None, 0

    class Timing(base):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if _Times.start is None:
                _Times.start = time.perf_counter()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            _Times.end = time.perf_counter()
            _Times.steps += 1

    return Timing()


def run_darts(df, cell, steps, seed):
    import numpy as np
    import pytorch_lightning as pl
    from darts import TimeSeries
    from darts.models import BlockRNNModel

    series = TimeSeries.from_group_dataframe(
        df, group_cols="unique_id", time_col="ds", value_cols="y"
    )
    series = [s.with_static_covariates(None).astype(np.float32) for s in series]
    cb = _timing_callback(pl.Callback)
    model = BlockRNNModel(
        input_chunk_length=CONFIG["lookback"],
        output_chunk_length=CONFIG["horizon"],
        model=cell.upper(),
        hidden_dim=CONFIG["hidden_size"],
        n_rnn_layers=CONFIG["num_layers"],
        batch_size=CONFIG["batch_size"],
        n_epochs=10_000,
        optimizer_kwargs={"lr": CONFIG["lr"]},
        random_state=seed,
        save_checkpoints=False,
        pl_trainer_kwargs={
            "accelerator": "cpu",
            "max_steps": steps,
            "callbacks": [cb],
            "logger": False,
            "enable_progress_bar": False,
            "enable_checkpointing": False,
            "gradient_clip_val": CONFIG["clip"],
            "enable_model_summary": False,
        },
    )
    model.fit(series, verbose=False)
    return cb


def run_neuralforecast(df, cell, steps, seed):
    import pytorch_lightning as pl
    from neuralforecast import NeuralForecast
    from neuralforecast import models as nfm
    from neuralforecast.losses.pytorch import MSE

    cls = {"rnn": nfm.RNN, "lstm": nfm.LSTM, "gru": nfm.GRU}[cell]
    cb = _timing_callback(pl.Callback)
    model = cls(
        h=CONFIG["horizon"],
        input_size=CONFIG["lookback"],
        encoder_hidden_size=CONFIG["hidden_size"],
        encoder_n_layers=CONFIG["num_layers"],
        decoder_hidden_size=CONFIG["hidden_size"],
        loss=MSE(),
        max_steps=steps,
        learning_rate=CONFIG["lr"],
        batch_size=PANEL["n_series"],
        windows_batch_size=CONFIG["batch_size"],
        scaler_type="standard",
        random_seed=seed,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        gradient_clip_val=CONFIG["clip"],
        callbacks=[cb],
    )
    NeuralForecast(models=[model], freq="h").fit(df[["unique_id", "ds", "y"]])
    return cb


def run_pytorch_forecasting(df, cell, steps, seed):
    import lightning.pytorch as lp
    from pytorch_forecasting import RecurrentNetwork, TimeSeriesDataSet
    from pytorch_forecasting.data import GroupNormalizer
    from pytorch_forecasting.metrics import RMSE

    lp.seed_everything(seed, verbose=False)
    data = df[["unique_id", "ds", "y"]].copy()
    data["unique_id"] = data["unique_id"].astype(str)
    data["time_idx"] = data.groupby("unique_id").cumcount()
    L, H = CONFIG["lookback"], CONFIG["horizon"]
    ds = TimeSeriesDataSet(
        data,
        time_idx="time_idx",
        target="y",
        group_ids=["unique_id"],
        max_encoder_length=L,
        min_encoder_length=L,
        max_prediction_length=H,
        min_prediction_length=H,
        time_varying_unknown_reals=["y"],
        target_normalizer=GroupNormalizer(groups=["unique_id"]),
    )
    loader = ds.to_dataloader(train=True, batch_size=CONFIG["batch_size"], num_workers=0)
    net = RecurrentNetwork.from_dataset(
        ds,
        cell_type=cell.upper(),
        hidden_size=CONFIG["hidden_size"],
        rnn_layers=CONFIG["num_layers"],
        learning_rate=CONFIG["lr"],
        optimizer="adam",
        loss=RMSE(),
    )
    cb = _timing_callback(lp.Callback)
    trainer = lp.Trainer(
        max_steps=steps,
        accelerator="cpu",
        gradient_clip_val=CONFIG["clip"],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[cb],
        limit_val_batches=0,
    )
    trainer.fit(net, train_dataloaders=loader)
    return cb


RUNNERS = {
    "darts": run_darts,
    "neuralforecast": run_neuralforecast,
    "pytorch_forecasting": run_pytorch_forecasting,
}


def run_library(df, cell, steps, seed):
    from forecast import RNNForecaster

    est = RNNForecaster(
        cell=cell,
        hidden_size=CONFIG["hidden_size"],
        num_layers=CONFIG["num_layers"],
        lookback=CONFIG["lookback"],
        horizon=CONFIG["horizon"],
        batch_size=CONFIG["batch_size"],
        learning_rate=CONFIG["lr"],
        clip=CONFIG["clip"],  # global-norm bound
        max_steps=steps,
        max_epochs=10_000,
        device="cpu",
        seed=seed,
        verbose=False,
    ).fit(df)
    rec = est.history_.records
    return sum(r.steps for r in rec) / sum(r.seconds for r in rec)


# ------------------------------------------------------------------ child / parent
def child(a):
    import logging
    import warnings

    import torch

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    if a.get("threads"):
        torch.set_num_threads(a["threads"])
    df = common.make_data(**PANEL)
    out = {"peer": [], "lib": [], "peer_wall": [], "peer_steps": []}
    for rep in range(a["repeats"]):
        for who in ("peer", "lib") if rep % 2 == 0 else ("lib", "peer"):
            if who == "lib":
                out["lib"].append(run_library(df, a["cell"], a["steps"], rep))
                continue
            t0 = time.perf_counter()
            RUNNERS[a["peer"]](df, a["cell"], a["steps"], rep)
            out["peer_wall"].append(time.perf_counter() - t0)
            out["peer_steps"].append(_Times.steps)
            # steps/s after the first batch started: excludes dataset building, includes data loading
            out["peer"].append(_Times.steps / (_Times.end - _Times.start))
    out["versions"] = {
        p: importlib.metadata.version(d) for p, d in PACKAGES.items() if _installed(d)
    }
    out["torch"] = torch.__version__
    out["threads"] = torch.get_num_threads()
    return out


def _installed(dist):
    try:
        importlib.metadata.version(dist)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def _probe(python, dist):
    import subprocess

    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    r = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def main(argv=None):
    default_py = (
        "/tmp/benchvenv/bin/python"
        if os.path.exists("/tmp/benchvenv/bin/python")
        else sys.executable
    )
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--python", default=default_py, help="interpreter that has the peers installed")
    p.add_argument("--peers", default="darts,neuralforecast,pytorch_forecasting")
    p.add_argument("--cells", default="lstm,gru")
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.cells, args.steps, args.repeats = "lstm", 6, 1
    for k, v in DIFFERENCES.items():
        print(f"- {k}: {v}")
    print()
    rows, raw = (
        [],
        {"machine": common.machine_info(), "args": vars(args), "differences": DIFFERENCES},
    )
    for peer in args.peers.split(","):
        version = _probe(args.python, PACKAGES[peer])
        if version is None:
            print(f"{peer}: not installed under {args.python}; skipped")
            raw[peer] = "not installed"
            continue
        for cell in args.cells.split(","):
            if cell not in CELLS[peer]:
                continue
            a = {
                "peer": peer,
                "cell": cell,
                "steps": args.steps,
                "repeats": args.repeats,
                "threads": args.threads,
            }
            r = _run(args.python, a)
            raw[f"{peer}-{cell}"] = r
            if "error" in r:
                print(f"{peer} {cell}: failed: {r['error'][-400:]}")
                continue
            peer_s, lib_s = common.median(r["peer"]), common.median(r["lib"])
            row = [
                f"{peer} {version}",
                cell,
                peer_s,
                lib_s,
                lib_s / peer_s,
                common.median(r["peer_wall"]),
            ]
            rows.append(row)
            print(common.table(HEADERS, [row]).splitlines()[-1], flush=True)
    print()
    print(common.table(HEADERS, rows))
    common.save_json("peers" + ("_quick" if args.quick else ""), raw)


def _run(python, a):
    return common.run_child(Path(__file__).resolve(), a, timeout=900, python=python, tail=1500)


HEADERS = ["peer", "cell", "peer steps/s", "library steps/s", "library / peer", "peer fit wall s"]

if __name__ == "__main__":
    common.main_or_child(main, child)
