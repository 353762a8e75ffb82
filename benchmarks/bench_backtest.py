"""Backtest speed: the batched no-refit backtest vs one predict_at vs a per-window predict loop.

Usage: python benchmarks/bench_backtest.py [--series 100] [--length 2000] [--windows 50] [--repeats 5]

The model is fitted once, outside the timings (all three paths then forecast the same origins
with the same weights); the backtest's own fit is excluded by subtracting its ``fit_seconds``
and also shown with it. Prints a Markdown table of medians over ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import pandas as pd
import sklearn
import torch

import forecast
from forecast import RNNForecaster
from forecast.data import frames
from forecast.datasets.synthetic import make_panel
from forecast.evaluation.backtesting import backtest, fold_origins, make_folds


def timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=100)
    ap.add_argument("--length", type=int, default=2000)
    ap.add_argument("--windows", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    H, L, W = 24, 48, args.windows
    df = make_panel(n_series=args.series, length=args.length, freq="h", seed=0)
    est = RNNForecaster(
        cell="gru",
        hidden_size=32,
        lookback=L,
        horizon=H,
        max_epochs=1,
        max_steps=20,
        batch_size=512,
        verbose=False,
        device="cpu",
        seed=0,
    )

    long = frames.sorted_long(frames.to_long(df)[0])
    folds = make_folds(long, H, W, H)
    origins = fold_origins(long, folds, list(range(W)))
    first = long.groupby("unique_id")["ds"].transform(lambda s: s.iloc[folds.cutoffs[0, 0]])
    model = RNNForecaster(**est.get_params()).fit(long[long["ds"] <= first])

    totals, net = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        result = backtest(est, df, n_windows=W, refit=False)
        totals.append(time.perf_counter() - t0)
        net.append(totals[-1] - result.fit_seconds)
    t_bt, bt_forecast = statistics.median(totals), statistics.median(net)
    t_at, at = timed(lambda: model.predict_at(long, origins), args.repeats)

    def loop():
        out = []
        for w in range(W):
            cut = long.groupby("unique_id")["ds"].transform(
                lambda s, w=w: s.iloc[folds.cutoffs[0, w]]
            )
            out.append(model.predict(long[long["ds"] <= cut]))
        return pd.concat(out)

    t_loop, looped = timed(loop, max(1, args.repeats // 2))
    same = np.allclose(
        np.sort(looped["y_pred"].to_numpy()), np.sort(at["y_pred"].to_numpy()), atol=1e-4
    )

    n = args.series * W
    print(
        f"panel {args.series} series x {args.length} points, {W} origins each ({n} forecasts of {H} steps), "
        f"GRU h=32, lookback {L}; medians of {args.repeats} runs"
    )
    print(
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), pandas {pd.__version__}, "
        f"numpy {np.__version__}, sklearn {sklearn.__version__}, forecast {forecast.__version__}, "
        f"python {platform.python_version()}, {platform.machine()}"
    )
    print("| path | seconds | x predict_at |\n|---|---:|---:|")
    rows = [
        ("one predict_at over all origins", t_at),
        ("backtest(refit=False), excluding its one fit", bt_forecast),
        ("backtest(refit=False), including its one fit", t_bt),
        ("per-window loop of predict(history up to cutoff)", t_loop),
    ]
    for name, t in rows:
        print(f"| {name} | {t:.3f} | {t / t_at:.2f} |")
    print(
        f"backtest fit_seconds {result.fit_seconds:.3f}, predict_seconds {result.predict_seconds:.3f}; "
        f"loop forecasts equal predict_at's: {same}"
    )


if __name__ == "__main__":
    main()
