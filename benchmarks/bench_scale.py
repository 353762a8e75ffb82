"""How fit's time and peak memory grow with the number of series and their length.

Each size runs in a fresh process: a tiny warm-up fit first (imports and one-off allocations
out of the way), then the panel is generated, the RSS taken, and ``fit`` run for a fixed number
of gradient steps (LSTM, hidden 64, 2 layers, lookback 168, horizon 24, batch 256). Recorded:

* fit wall time, and its split into preparation (validation, panel, scaling, window index) and
  the training loop (which also draws one permutation of all windows per epoch, O(windows));
* peak RSS during fit minus the RSS just before it (Linux VmHWM reset; see ``common.PeakRSS``),
  next to the raw float32 size of the data (points x 4 bytes) and the pandas frame's own size
  (which the caller holds before fit, so it is in the baseline, not the delta);
* the training footprint of the model itself (weights, gradients, Adam state, one batch's
  activations) = peak delta of the smallest panel, where the data is negligible.

Target: peak delta for 10,000 series x 2,000 points <= 3 x raw float32 + the model's footprint.
The largest panel that fits in this machine's memory is extrapolated from the per-point slope
(the caller's frame + fit's peak), never tried.

Usage::

    python benchmarks/bench_scale.py               # series 10..10,000 x 2,000; length 500..32,000 x 100
    python benchmarks/bench_scale.py --quick       # series 10..1,000; length 500..8,000
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

CONFIG = dict(
    cell="lstm",
    hidden_size=64,
    num_layers=2,
    lookback=168,
    horizon=24,
    batch_size=256,
    window_norm=None,
    loss="mse",
)  # the plain network, as bare PyTorch


def child(a):
    import numpy as np
    import torch

    from forecast import RNNForecaster

    if a.get("threads"):
        torch.set_num_threads(a["threads"])
    RNNForecaster(lookback=8, horizon=2, max_steps=1, device="cpu", verbose=False).fit(
        common.make_data(3, 50)
    )
    df = common.make_data(a["series"], a["length"])
    frame_mb = df.memory_usage(deep=True).sum() / common.MB
    gc.collect()
    est = RNNForecaster(
        max_steps=a["steps"], max_epochs=10_000, device="cpu", verbose=False, **CONFIG
    )
    with common.PeakRSS() as mem:
        t0 = time.perf_counter()
        est.fit(df)
        wall = time.perf_counter() - t0
    loop = sum(r.seconds for r in est.history_.records)
    n_params = sum(p.numel() for p in est.module_.parameters())
    return {
        "series": a["series"],
        "length": a["length"],
        "points": len(df),
        "raw_f32_mb": len(df) * 4 / common.MB,
        "frame_mb": frame_mb,
        "baseline_mb": mem.baseline / common.MB,
        "peak_delta_mb": mem.delta / common.MB,
        "fit_s": wall,
        "loop_s": loop,
        "prep_s": wall - loop,
        "steps": sum(r.steps for r in est.history_.records),
        "windows": est.n_train_windows_,
        "params": n_params,
        "params_mb": n_params * 4 / common.MB,
        "dtype": str(np.float32),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument(
        "--memory-gb", type=float, default=None, help="machine memory for the extrapolation"
    )
    args = p.parse_args(argv)
    if args.quick:
        series, lengths, args.steps = [10, 100, 1000], [500, 2000, 8000], 3
    else:
        series, lengths = [10, 100, 1000, 10_000], [500, 2000, 8000, 32_000]
    sizes = [(s, 2000) for s in series] + [(100, n) for n in lengths if n != 2000]
    me = Path(__file__).resolve()
    rows = []
    for s, n in sizes:
        r = common.run_child(
            me,
            {"series": s, "length": n, "steps": args.steps, "threads": args.threads},
            timeout=900,
        )
        if "error" in r:
            print(f"{s} x {n}: {r['error']}", file=sys.stderr)
            continue
        rows.append(r)
        print(
            f"{s:>6} x {n:>6}: fit {r['fit_s']:.1f}s (prep {r['prep_s']:.1f}s, loop {r['loop_s']:.1f}s), "
            f"peak +{r['peak_delta_mb']:.0f} MB, raw {r['raw_f32_mb']:.1f} MB, frame {r['frame_mb']:.0f} MB",
            flush=True,
        )
    info = common.machine_info()
    summary = summarize(rows, args.memory_gb or info.get("memory_gb", 24))
    print()
    print(
        common.table(
            [
                "series",
                "length",
                "points",
                "raw f32 MB",
                "frame MB",
                "fit s",
                "prep s",
                "loop s",
                "steps/s",
                "peak Δ MB",
                "peak Δ / raw",
            ],
            [
                [
                    r["series"],
                    r["length"],
                    r["points"],
                    r["raw_f32_mb"],
                    r["frame_mb"],
                    r["fit_s"],
                    r["prep_s"],
                    r["loop_s"],
                    r["steps"] / r["loop_s"],
                    r["peak_delta_mb"],
                    r["peak_delta_mb"] / r["raw_f32_mb"],
                ]
                for r in rows
            ],
        )
    )
    print()
    for k, v in summary.items():
        print(f"{k}: {common.fmt(v) if not isinstance(v, str) else v}")
    common.save_json(
        "scale" + ("_quick" if args.quick else ""),
        {"machine": info, "args": vars(args), "rows": rows, "summary": summary},
    )


def summarize(rows, memory_gb):
    """Model footprint, the target check, and the extrapolated largest panel."""
    import numpy as np

    if not rows:
        return {}
    smallest = min(rows, key=lambda r: r["points"])
    model_mb = smallest[
        "peak_delta_mb"
    ]  # data negligible: weights, grads, Adam, one batch, allocator
    out = {
        "model_footprint_mb (peak delta of the smallest panel)": model_mb,
        "params_mb": smallest["params_mb"],
    }
    big = [r for r in rows if r["series"] == 10_000 and r["length"] == 2000]
    if big:
        b = big[0]
        budget = 3 * b["raw_f32_mb"] + model_mb
        out["target 10k x 2k: peak delta MB"] = b["peak_delta_mb"]
        out["target 10k x 2k: budget 3 x raw + model MB"] = budget
        out["target 10k x 2k: data-dependent peak / raw"] = (b["peak_delta_mb"] - model_mb) / b[
            "raw_f32_mb"
        ]
        out["target met"] = "yes" if b["peak_delta_mb"] <= budget else "no"
    # per-point slope of (caller's frame + fit's peak delta), fitted over the series sweep
    pts = np.array([r["points"] for r in rows], dtype=float)
    total = np.array([r["frame_mb"] + r["peak_delta_mb"] for r in rows])
    slope, intercept = np.polyfit(pts, total, 1)
    base = min(r["baseline_mb"] for r in rows) - min(r["frame_mb"] for r in rows)
    usable = memory_gb * 1024 * 0.9 - base - intercept  # keep 10% for the OS and others
    out["bytes per point, fitted slope (frame + fit peak)"] = slope * common.MB
    out[f"largest panel in {memory_gb:g} GB by the fitted slope (points)"] = (
        f"{usable / slope:,.0f}"
    )
    # The fitted slope of fit's own peak sits inside allocator noise at these sizes; the analytic floor
    # counts what fit must hold per point: the float32 scaled panel, the int32 series index while
    # scaling, and one int32 window number per point for the epoch's permutation.
    largest = max(rows, key=lambda r: r["points"])
    per_point = largest["frame_mb"] * common.MB / largest["points"] + 4 + 4 + 4
    out["bytes per point, analytic (caller's frame + 12)"] = per_point
    out[f"largest panel in {memory_gb:g} GB, analytic (points)"] = (
        f"{usable * common.MB / per_point:,.0f}"
    )
    out["= series of 2,000 points (analytic)"] = f"{usable * common.MB / per_point / 2000:,.0f}"
    return out


if __name__ == "__main__":
    common.main_or_child(main, child)
