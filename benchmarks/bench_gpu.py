"""GPU training throughput, bf16 autocast, a profile of one step, and where the windows are cut.

Needs a CUDA device (exits 0 with a message when there is none). On the configuration of
``bench_training.py`` (lookback 168, horizon 24, hidden 64, 2 layers; 1,000 series x 2,000
hourly points) it measures, for lstm / gru / rnn and batch sizes 1,024-8,192:

* steps/s and windows/s of the library's loop (bf16 autocast is on for CUDA in ``training.py``)
  next to a bare-PyTorch loop on the same device (fp32 and bf16 autocast), ratio lib / ref;
* checks that window gathering happens on the device: the Gatherer's panel tensor, the index
  tensors and every batch tensor are CUDA tensors, and the step launches no host-to-device
  copy of batch data (torch.profiler: no ``Memcpy HtoD`` larger than a few KB per step);
* a torch.profiler table of one training step (CPU and CUDA time per op), written to
  ``benchmarks/results/gpu_profile.txt``, and peak CUDA memory per batch size.

Usage::

    python benchmarks/bench_gpu.py            # 3 cells x 4 batch sizes, 30 steps x 3 repeats
    python benchmarks/bench_gpu.py --quick    # lstm, batches 1024 and 8192, 10 steps x 2 repeats
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

CONFIG = dict(
    lookback=168, horizon=24, hidden_size=64, num_layers=2, window_norm=None, loss="mse"
)  # the plain network, as bare PyTorch


def library_run(df, cell, batch, steps, seed=0):
    import torch

    from forecast import RNNForecaster

    est = RNNForecaster(
        cell=cell,
        batch_size=batch,
        max_steps=steps,
        max_epochs=10_000,
        device="cuda",
        seed=seed,
        verbose=False,
        **CONFIG,
    )
    torch.cuda.reset_peak_memory_stats()
    est.fit(df)
    torch.cuda.synchronize()
    rec = est.history_.records
    return sum(r.steps for r in rec) / sum(
        r.seconds for r in rec
    ), torch.cuda.max_memory_allocated() / common.MB


def reference_run(df, cell, batch, steps, bf16, seed=0):
    """Bare loop on the device: unfold on one CUDA tensor, random batches by indexing on the device."""
    import torch
    from torch import nn

    dev = torch.device("cuda")
    L, H = CONFIG["lookback"], CONFIG["horizon"]
    data = torch.as_tensor(common.panel_array(df), device=dev)
    data = (data - data.mean(1, keepdim=True)) / data.std(1, keepdim=True)
    windows = data.unfold(1, L + H, 1)
    S, W = windows.shape[:2]
    torch.manual_seed(seed)
    rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](
        1, CONFIG["hidden_size"], CONFIG["num_layers"], batch_first=True
    ).to(dev)
    head = nn.Linear(CONFIG["hidden_size"], H).to(dev)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    gen = torch.Generator(device=dev).manual_seed(seed)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        k = torch.randint(S * W, (batch,), generator=gen, device=dev)
        win = windows[k // W, k % W]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            _, state = rnn(win[:, :L, None])
            h = state[0] if isinstance(state, tuple) else state
            pred = head(h[-1])
        loss = nn.functional.mse_loss(pred.float(), win[:, L:])
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def check_gather_on_device(df, batch):
    """Gatherer tensors live on CUDA; one step's profile shows no large host-to-device batch copy."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from forecast import RNNForecaster
    from forecast.data.windows import Gatherer, split_index

    est = RNNForecaster(
        cell="lstm", batch_size=batch, max_steps=2, device="cuda", verbose=False, **CONFIG
    ).fit(df)
    from forecast.data import frames
    from forecast.data.panel import build_panel

    long, freqs = frames.validate(df)
    panel = build_panel(long, freqs, est.layout_)
    g = Gatherer(
        est.state_.scale(panel.data, panel.series_of_rows()),
        est.static_scaler_.transform(panel.static),
        est.lookback,
        est.horizon,
        est.layout_.future_slice,
        est.device_,
    )
    idx, _ = split_index(panel.lengths, panel.offsets, est.lookback, est.horizon, 0, 1, est.device_)
    gen = torch.Generator().manual_seed(0)
    it = g.batches(idx, batch, gen)
    first = next(it)
    on_device = {
        "panel": g.data.is_cuda,
        "index": idx._cum.is_cuda,
        "x": first.x.is_cuda,
        "y": first.y.is_cuda,
        "static": first.static.is_cuda,
    }
    module = est.module_.train()
    opt = torch.optim.Adam(module.parameters())
    with profile(
        activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True
    ) as prof:
        b = next(it)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            pred = module(b.x, b.x_future, b.static)
        loss = torch.nn.functional.mse_loss(pred.float(), b.y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        opt.step()
        torch.cuda.synchronize()
    table = prof.key_averages().table(sort_by="cuda_time_total", row_limit=30)
    htod = [e for e in prof.events() if "HtoD" in e.name]
    return on_device, table, htod


def main(argv=None):
    import torch

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--cells", default="lstm,gru,rnn")
    p.add_argument("--batches", default="1024,2048,4096,8192")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--series", type=int, default=1000)
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print(
            "bench_gpu: no CUDA device on this machine; nothing measured (run it on a GPU machine)"
        )
        return 0
    if args.quick:
        args.cells, args.batches, args.steps, args.repeats = "lstm", "1024,8192", 10, 2
    df = common.make_data(args.series, 2000)
    info = common.machine_info()
    print(info)
    on_device, table, htod = check_gather_on_device(df, 1024)
    out = common.HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "gpu_profile.txt").write_text(table)
    print("gather on device:", on_device)
    print(
        "host-to-device copies in one step:",
        [(e.name, getattr(e, "cuda_time_total", 0)) for e in htod][:10],
    )
    rows, raw = [], {"machine": info, "on_device": on_device, "htod_events": len(htod), "cells": {}}
    for cell in args.cells.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            lib, ref32, ref16, mem = [], [], [], 0.0
            for rep in range(args.repeats):
                s, mem = library_run(df, cell, batch, args.steps, rep)
                lib.append(s)
                ref32.append(reference_run(df, cell, batch, args.steps, bf16=False, seed=rep))
                ref16.append(reference_run(df, cell, batch, args.steps, bf16=True, seed=rep))
            m = common.median
            row = [cell, batch, m(lib), m(lib) * batch, m(ref16), m(ref32), m(lib) / m(ref16), mem]
            raw["cells"][f"{cell}-{batch}"] = {
                "lib": lib,
                "ref_bf16": ref16,
                "ref_fp32": ref32,
                "peak_mb": mem,
            }
            rows.append(row)
            print(common.table(HEADERS, [row]).splitlines()[-1], flush=True)
    print(common.table(HEADERS, rows))
    common.save_json("gpu" + ("_quick" if args.quick else ""), raw)
    return 0


HEADERS = [
    "cell",
    "batch",
    "lib steps/s",
    "lib windows/s",
    "ref bf16 steps/s",
    "ref fp32 steps/s",
    "lib / ref bf16",
    "lib peak CUDA MB",
]

if __name__ == "__main__":
    sys.exit(main())
