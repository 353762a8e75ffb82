"""Accuracy with and without per-window normalisation (``RNNForecaster(window_norm=...)``).

Usage: python benchmarks/accuracy_window_norm.py [--seeds 0 1 2] [--epochs 10] [--quick]

Three real data sets, each against its seasonal-naive yardstick and, for M4 Weekly, against the
published M4 figures (Naive2 sMAPE 9.161 / MASE 2.777; the organisers' RNN 15.220 / 5.132;
ES-RNN 7.817 / 2.356: ``../shared/data/README.md``):

* M4 Weekly: the M4 one-origin protocol (359 series, horizon 13, MASE with m = 1, sMAPE in %).
* AirPassengers: a 4-origin no-refit backtest (horizon 12, MASE with m = 12): a trending,
  multiplicative series whose test level lies above everything seen in training.
* ETTh1 (OT, last 3,000 hours): a 4-origin no-refit backtest (horizon 24, MASE with m = 24).

Every configuration is fitted with the same settings per data set, for each cell
(rnn / lstm / gru) and window_norm (none / last / standard) and each seed; the table reports
the mean over seeds. Prints Markdown.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from forecast import Naive, RNNForecaster, SeasonalNaive, backtest
from forecast.datasets import load, m4_split
from forecast.metrics import aggregate

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

NORMS = (None, "last", "standard")
CELLS = ("rnn", "lstm", "gru")


def m4_weekly(cell, norm, seed, epochs):
    train, test = m4_split(load("m4_weekly"))
    model = RNNForecaster(
        cell=cell,
        window_norm=norm,
        lookback=52,
        horizon=13,
        hidden_size=32,
        batch_size=256,
        max_epochs=epochs,
        learning_rate=3e-3,
        seed=seed,
        verbose=False,
    ).fit(train)
    fc = model.predict().merge(test, on=["unique_id", "ds"])
    return aggregate(fc, train, ("smape", "mase"), season_length=1)


def m4_naive():
    train, test = m4_split(load("m4_weekly"))
    fc = Naive(horizon=13).fit(train).predict().merge(test, on=["unique_id", "ds"])
    return aggregate(fc, train, ("smape", "mase"), season_length=1)


def air(cell, norm, seed, epochs):
    model = RNNForecaster(
        cell=cell,
        window_norm=norm,
        lookback=36,
        horizon=12,
        hidden_size=16,
        batch_size=32,
        max_epochs=5 * epochs,
        learning_rate=5e-3,
        seed=seed,
        verbose=False,
    )
    return backtest(
        model, load("airpassengers"), n_windows=4, refit=False, season_length=12
    ).aggregate


def ett(cell, norm, seed, epochs):
    df = load("etth1")[["unique_id", "ds", "y"]].groupby("unique_id").tail(3000)
    model = RNNForecaster(
        cell=cell,
        window_norm=norm,
        lookback=96,
        horizon=24,
        hidden_size=32,
        batch_size=64,
        max_epochs=epochs,
        learning_rate=3e-3,
        seed=seed,
        verbose=False,
    )
    return backtest(model, df, n_windows=4, refit=False, season_length=24).aggregate


def yardsticks():
    etth1 = load("etth1")[["unique_id", "ds", "y"]].groupby("unique_id").tail(3000)
    return {
        "m4_weekly": m4_naive(),
        "airpassengers": backtest(
            SeasonalNaive(horizon=12, season_length=12),
            load("airpassengers"),
            n_windows=4,
            season_length=12,
        ).aggregate,
        "etth1": backtest(
            SeasonalNaive(horizon=24, season_length=24), etth1, n_windows=4, season_length=24
        ).aggregate,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="one seed, gru only, 3 epochs")
    args = ap.parse_args()
    seeds, cells, epochs = (
        (args.seeds, CELLS, args.epochs) if not args.quick else ([0], ("gru",), 3)
    )
    torch.set_num_threads(2)
    info = common.machine_info()
    print(f"{info}; seeds {seeds}; epochs {epochs} (AirPassengers {5 * epochs})\n")
    ref = yardsticks()
    rows, t0 = [], time.perf_counter()
    for data, run, metrics in (
        ("m4_weekly", m4_weekly, ("smape", "mase")),
        ("airpassengers", air, ("mase",)),
        ("etth1", ett, ("mase",)),
    ):
        rows.append(
            {
                "data": data,
                "model": "naive" if data == "m4_weekly" else "seasonal naive",
                **{m: ref[data][m] for m in metrics},
            }
        )
        for cell in cells:
            for norm in NORMS:
                scores = [run(cell, norm, seed, epochs) for seed in seeds]
                row = {"data": data, "model": f"{cell} window_norm={norm}"}
                for m in metrics:
                    values = [s[m] for s in scores]
                    row[m] = float(np.mean(values))
                    row[f"{m} sd"] = float(np.std(values))
                rows.append(row)
                print(
                    f"  {data} {row['model']}: " + ", ".join(f"{m} {row[m]:.3f}" for m in metrics),
                    flush=True,
                )
    headers = ["data", "model", "smape", "smape sd", "mase", "mase sd"]
    print()
    print(common.table(headers, [[r.get(h) for h in headers] for r in rows]))
    wall = time.perf_counter() - t0
    print(f"\nwall time {wall:.0f} s")
    common.save_json(
        "window_norm" + ("_quick" if args.quick else ""),
        {"machine": info, "args": vars(args), "rows": rows, "wall_s": wall},
    )


if __name__ == "__main__":
    main()
