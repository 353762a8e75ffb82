"""The memory experiment: how long a rainy spell can each recurrent cell remember across?

On ``forecast.datasets.make_routine`` a person cycles run (0) -> bike (1) -> swim (2) and sleeps
(3) on rainy days; the cycle pauses during a spell, so the first dry day after a spell repeats
the cycle from *before* it. Rain is a future-known covariate, so sleep days are easy; the
first dry day after a spell needs memory across the whole spell. We sweep the spell length
and report exact-class accuracy of rounded forecasts (horizon 1-7 days, all origins of unseen
series) and the accuracy on the memory days alone (the first dry day after a spell, forecast
from the last rainy day) for rnn / lstm / gru, uni- and bidirectional, direct and seq2seq
heads; then clipping off vs on at a high learning rate (how many runs exploded), and the
gradient-through-time ratio of the trained models.

    python benchmarks/memory_experiment.py            # ~10 min on 2 cores
    python benchmarks/memory_experiment.py --quick    # ~2 min
"""
from __future__ import annotations

import argparse
import itertools
import math
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

HORIZON = 7
EXPLODED = 100.0  # an epoch's mean training loss above this (targets lie in 0..3) counts as exploded


def settings(quick):
    if quick:
        return dict(spells=(1, 6), cells=("rnn", "lstm", "gru"), bidir=(False,), heads=("direct", "seq2seq"),
                    n_days=365, n_series=6, epochs=8, clip_seeds=(0,))
    return dict(spells=(1, 3, 6, 10, 16), cells=("rnn", "lstm", "gru"), bidir=(False, True), heads=("direct", "seq2seq"),
                n_days=365, n_series=8, epochs=12, clip_seeds=(0, 1, 2))


def make_model(cell, bidirectional, head, lookback, epochs, seed=0, clip="norm", learning_rate=5e-3, **kw):
    from forecast import RNNForecaster

    return RNNForecaster(cell=cell, hidden_size=24, bidirectional=bidirectional, head=head, lookback=lookback,
                         horizon=HORIZON, future_covariates=("rain",), max_epochs=epochs, batch_size=128,
                         learning_rate=learning_rate, clip=clip, verbose=False, seed=seed, **kw)


def evaluate(est, test, lookback):
    """Exact-class accuracy (mean over horizon 1-7) and on memory days at horizon 1."""
    ids = test["unique_id"].unique()
    days = np.sort(test["ds"].unique())
    cutoffs = days[lookback - 1 : len(days) - HORIZON]
    origins = pd.DataFrame({"unique_id": np.repeat(ids, len(cutoffs)), "cutoff": np.tile(cutoffs, len(ids))})
    fc = est.predict_at(test, origins).merge(test, on=["unique_id", "ds"])
    fc["hit"] = np.clip(np.round(fc["y_pred"]), 0, 3) == fc["y"]
    t = test.sort_values(["unique_id", "ds"])
    prev_rain = t.groupby("unique_id")["rain"].shift(1).fillna(0)
    memory_days = t.loc[(t["rain"] == 0) & (prev_rain == 1), ["unique_id", "ds"]]
    h1 = fc[fc["ds"] == fc["cutoff"] + pd.Timedelta(days=1)].merge(memory_days, on=["unique_id", "ds"])
    return float(fc["hit"].mean()), float(h1["hit"].mean()), len(h1)


def run_accuracy(job):
    import torch

    from forecast.datasets import make_routine

    torch.set_num_threads(1)
    spell, cell, bidir, head, cfg = job
    lookback = 2 * max(cfg["spells"]) + 6
    train = make_routine(cfg["n_days"], 0.15, spell, seed=spell, n_series=cfg["n_series"])
    test = make_routine(200, 0.15, spell, seed=1000 + spell, n_series=4)
    t0 = time.perf_counter()
    est = make_model(cell, bidir, head, lookback, cfg["epochs"]).fit(train)
    acc, mem_acc, n_mem = evaluate(est, test, lookback)
    row = dict(spell=spell, cell=cell, bidirectional=bidir, head=head, accuracy=acc, memory_day_accuracy=mem_acc,
               memory_days=n_mem, seconds=time.perf_counter() - t0)
    if spell == max(cfg["spells"]) and not bidir and head == "direct":
        from forecast.diagnostics import gradient_through_time

        g = gradient_through_time(est, test, n_windows=256)
        row["gtt"] = g.tolist()
    return row


def run_clipping(job):
    import torch

    from forecast.datasets import make_routine

    torch.set_num_threads(1)
    cell, clip, lr, seed, cfg = job
    spell = sorted(cfg["spells"])[len(cfg["spells"]) // 2]
    train = make_routine(cfg["n_days"], 0.15, spell, seed=seed, n_series=cfg["n_series"])
    lookback = 2 * max(cfg["spells"]) + 6
    # Unscaled targets (0..3) and a relu RNN: the setting where gradients (and activations) blow up.
    est = make_model(cell, False, "direct", lookback, cfg["epochs"], seed=seed, clip=clip, learning_rate=lr,
                     nonlinearity="relu" if cell == "rnn" else "tanh", scaler="none")
    row = dict(model=f"{cell}{'-relu' if cell == 'rnn' else ''} lr={lr}", clip=clip or "off", seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            est.fit(train)
        except FloatingPointError:
            return row | dict(non_finite=True, exploded=True, peak_loss=math.inf, final_loss=math.nan,
                              peak_grad_norm=math.inf)
    losses = [r.train_loss for r in est.history_.records]
    return row | dict(non_finite=est.history_.rolled_back is not None, exploded=max(losses) > EXPLODED,
                      peak_loss=max(losses), final_loss=losses[-1],
                      peak_grad_norm=max(r.grad_norm_max for r in est.history_.records))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a ~2 minute subset")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--plot", default=None, help="write the gradient-through-time plot here (needs matplotlib)")
    args = parser.parse_args()
    cfg = settings(args.quick)
    t0 = time.perf_counter()
    jobs = [(*j, cfg) for j in itertools.product(cfg["spells"], cfg["cells"], cfg["bidir"], cfg["heads"])]
    clip_jobs = [(c, clip, lr, s, cfg) for c in cfg["cells"] for lr in (0.05, 0.2) for clip in (None, "norm")
                 for s in cfg["clip_seeds"]]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(run_accuracy, jobs))
        clips = list(pool.map(run_clipping, clip_jobs))
    report(pd.DataFrame(rows), pd.DataFrame(clips), args, time.perf_counter() - t0)


def report(acc, clips, args, seconds):
    pd.set_option("display.width", 160)
    acc["model"] = acc["cell"] + np.where(acc["bidirectional"], "-bi", "") + "/" + acc["head"]
    print("\n## Exact-class accuracy, horizon 1-7 (rows: model, columns: spell length)\n")
    print(_md(acc.pivot(index="model", columns="spell", values="accuracy").round(3)))
    print("\n## Accuracy on memory days (first dry day after a spell, horizon 1)\n")
    print(_md(acc.pivot(index="model", columns="spell", values="memory_day_accuracy").round(3)))
    print(f"\n(memory days per spell length: {acc.groupby('spell')['memory_days'].first().to_dict()})")
    print(f"\n## Clipping off vs on (unscaled targets, direct head; exploded: an epoch's loss > {EXPLODED:g})\n")
    summary = clips.groupby(["model", "clip"]).agg(
        runs=("seed", "size"), exploded=("exploded", "sum"), non_finite=("non_finite", "sum"),
        peak_loss=("peak_loss", "max"), final_loss=("final_loss", "mean"), peak_grad_norm=("peak_grad_norm", "max"))
    summary.index = [f"{m} clip={c}" for m, c in summary.index]
    summary = summary.map(lambda v: f"{v:.3g}" if isinstance(v, float) else v)
    print(_md(summary))
    if "gtt" in acc:
        print("\n## Gradient through time (trained direct models, longest spells): |dL/dx_t| relative to the last step\n")
        g = acc.dropna(subset=["gtt"])
        curves = {r.cell: np.asarray(r.gtt) for r in g.itertuples()}
        table = pd.DataFrame({c: [v[0] / v[-1], v[len(v) // 2] / v[-1]] for c, v in curves.items()},
                             index=["first step", "middle step"])
        print(_md(table.map(lambda v: f"{v:.2e}")))
        if args.plot:
            from forecast.diagnostics import plot_gradient_through_time

            plot_gradient_through_time(curves, args.plot)
    print(f"\nwall time {seconds:.0f} s, {args.workers} workers")


def _md(df):
    """A DataFrame as a markdown table (no tabulate dependency)."""
    cols = [str(df.index.name or "")] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [str(v) for v in row]) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
