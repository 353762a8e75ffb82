"""Prediction and no-refit backtest latency of a fitted RNNForecaster.

On a generated panel of 100 series x 2,000 hourly points, an LSTM (hidden 64, 2 layers,
lookback 168, horizon 24) trained for a few steps (accuracy is not the point here):

* ``predict()``: one forecast for all series from the training tail, and ``predict(df)`` from
  the full history of all series (validation and panel building included);
* ``predict_at(df, origins)``: 50 origins per series, spaced by the horizon (5,000 windows),
  against the floor for the same work -- one forward pass of the same network over the same
  5,000 windows, already cut, scaled and stacked as one tensor (chunks of 8,192, as
  ``inference`` uses). Both measured interleaved; ratio of medians. Target: <= 2x;
* the scheduled flow's hot path: ``save`` -> ``load`` -> ``predict(history of one series)``
  repeated; p50 / p99 latency with the full 2,000-point history and with the last 168 points.

Usage::

    python benchmarks/bench_predict.py            # ~1-2 min idle
    python benchmarks/bench_predict.py --quick
"""

from __future__ import annotations

import argparse
import sys
import tempfile
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


def fitted(df, steps):
    from forecast import RNNForecaster

    return RNNForecaster(
        max_steps=steps, max_epochs=10_000, device="cpu", verbose=False, **CONFIG
    ).fit(df)


def origins_of(df, n_origins, horizon):
    """n_origins cutoffs per series, spaced by ``horizon``, the last one ``horizon`` steps before the end."""
    import pandas as pd

    g = df.groupby("unique_id", sort=False)["ds"]
    parts = [g.nth(-1 - horizon - k * horizon) for k in range(n_origins)]
    cut = pd.concat(parts)
    return pd.DataFrame(
        {"unique_id": df.loc[cut.index, "unique_id"].to_numpy(), "cutoff": cut.to_numpy()}
    )


def bare_windows(est, df, origins):
    """The same windows predict_at forecasts, cut, scaled and stacked by hand: (n, L, 1) float32."""
    import numpy as np
    import torch

    arr = common.panel_array(df).astype(np.float64)  # (S, T)
    pos = {uid: i for i, uid in enumerate(est.ids_)}
    s = np.array([pos[u] for u in origins["unique_id"]])
    t0 = df["ds"].iloc[0]
    step = df["ds"].iloc[1] - t0
    cut = ((origins["cutoff"] - t0) / step).to_numpy().astype(np.int64)
    rows = cut[:, None] - est.lookback + 1 + np.arange(est.lookback)  # (n, L)
    loc, scale = est.target_scaler_.loc_[s, :1], est.target_scaler_.scale_[s, :1]
    x = (arr[s[:, None], rows] - loc) / scale
    return torch.as_tensor(x[..., None], dtype=torch.float32), s


def bare_forward(est, x, s, chunk=8192):
    """One no-grad forward over every window (the compute floor), unscaled like the library's output."""
    import torch

    module = est.module_.eval()
    n_future, n_static = est.layout_.n_future, est.static_.shape[1]
    with torch.no_grad():
        out = [
            module(
                xc, xc.new_zeros(len(xc), est.horizon, n_future), xc.new_zeros(len(xc), n_static)
            )
            for xc in x.split(chunk)
        ]
    pred = torch.cat(out).numpy()
    return pred * est.target_scaler_.scale_[s, :1] + est.target_scaler_.loc_[s, :1]


def timed(fn, repeats):
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main(argv=None):
    import numpy as np
    import torch

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--series", type=int, default=100)
    p.add_argument("--length", type=int, default=2000)
    p.add_argument("--origins", type=int, default=50)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--single-calls", type=int, default=200)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.single_calls = 3, 40
    if args.threads:
        torch.set_num_threads(args.threads)
    H, L = CONFIG["horizon"], CONFIG["lookback"]
    df = common.make_data(args.series, args.length)
    est = fitted(df, 5 if args.quick else 20)
    origins = origins_of(df, args.origins, H)
    res = {
        "machine": common.machine_info(),
        "args": vars(args),
        "config": CONFIG,
        "n_windows": len(origins),
    }

    # 1. predict for all series
    est.predict()  # warm-up
    res["predict_tail_s"] = timed(est.predict, args.repeats)
    res["predict_history_s"] = timed(lambda: est.predict(df), args.repeats)

    # 2. 50-origin no-refit forecast vs one forward over the same windows (interleaved)
    x, s = bare_windows(est, df, origins)
    fc = est.predict_at(df, origins)
    floor = bare_forward(est, x, s)
    res["max_abs_diff_vs_floor"] = float(
        np.abs(fc["y_pred"].to_numpy().reshape(-1, H) - floor).max()
    )
    res["predict_at_s"], res["floor_s"] = [], []
    for _ in range(args.repeats):
        res["predict_at_s"] += timed(lambda: est.predict_at(df, origins), 1)
        res["floor_s"] += timed(lambda: bare_forward(est, x, s), 1)
    res["ratio_predict_at_over_floor"] = common.median(res["predict_at_s"]) / common.median(
        res["floor_s"]
    )

    # 3. save -> load -> predict(one series): a scheduled flow's hot path
    uid = est.ids_[0]
    one = df[df["unique_id"] == uid]
    with tempfile.TemporaryDirectory() as tmp:
        est.save(Path(tmp) / "model")
        res["load_s"] = timed(lambda: type(est).load(Path(tmp) / "model"), max(3, args.repeats))
        loaded = type(est).load(Path(tmp) / "model")
    t0 = time.perf_counter()
    loaded.predict(one)
    res["first_predict_after_load_s"] = time.perf_counter() - t0
    for name, hist in (("full", one), ("lookback", one.iloc[-L:])):
        lat = timed(lambda hist=hist: loaded.predict(hist), args.single_calls)
        res[f"single_{name}_p50_ms"] = common.percentile(lat, 50) * 1e3
        res[f"single_{name}_p99_ms"] = common.percentile(lat, 99) * 1e3
    report(res)
    common.save_json("predict" + ("_quick" if args.quick else ""), res)


def report(r):
    m = common.median
    rows = [
        ["predict() all series (tail)", m(r["predict_tail_s"]) * 1e3, ""],
        ["predict(df) all series, full history", m(r["predict_history_s"]) * 1e3, ""],
        [
            f"predict_at, {r['n_windows']} windows (50 origins x series)",
            m(r["predict_at_s"]) * 1e3,
            f"ratio to floor {r['ratio_predict_at_over_floor']:.2f} (target <= 2)",
        ],
        [
            "floor: one forward over the same windows",
            m(r["floor_s"]) * 1e3,
            f"max |diff| vs predict_at {r['max_abs_diff_vs_floor']:.2g}",
        ],
        ["load saved model", m(r["load_s"]) * 1e3, ""],
        ["first predict(one series) after load", r["first_predict_after_load_s"] * 1e3, ""],
        [
            "predict(one series, 2,000 pts) p50 / p99",
            r["single_full_p50_ms"],
            f"p99 {r['single_full_p99_ms']:.1f} ms",
        ],
        [
            "predict(one series, 168 pts) p50 / p99",
            r["single_lookback_p50_ms"],
            f"p99 {r['single_lookback_p99_ms']:.1f} ms",
        ],
    ]
    print(common.table(["what", "median ms", "note"], rows))


if __name__ == "__main__":
    main()
