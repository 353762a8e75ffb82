"""The memory experiment: how long a rainy spell can each recurrent cell remember across?

On ``forecast.datasets.synthetic.make_routine`` a person cycles run (0) -> bike (1) -> swim (2) and sleeps
(3) on rainy days; the cycle pauses during a spell, so the first dry day after a spell repeats
the cycle from *before* it. Rain is a future-known covariate, so sleep days are easy; the
first dry day after a spell needs memory across the whole spell. We sweep the spell length
and report exact-class accuracy of rounded forecasts (horizon 1-7 days, all origins of unseen
series) and the accuracy on the memory days alone (the first dry day after a spell, forecast
from the last rainy day) for rnn / lstm / gru, uni- and bidirectional, direct and seq2seq
heads; then clipping off vs on at a high learning rate (how many runs exploded), and the
gradient-through-time ratio of the trained models.

    python benchmarks/memory_experiment.py            # ~5 min on 2 cores
    python benchmarks/memory_experiment.py --quick    # ~30 s

Multi-seed runs and ablations (seed ``s`` seeds both the network and the training series; the
test series are the same for every seed, and seed 0 reproduces the single-seed run):

    python benchmarks/memory_experiment.py --seeds 3 --epochs 150 --checkpoints 12,25,50,100 \
        --spells 1,6,12,20 --cells rnn,lstm,gru --bidir no --heads direct --test-series 8 --no-clipping
    python benchmarks/memory_experiment.py ... --init pytorch   # PyTorch's default RNN init

``--checkpoints`` evaluates copies of the weights taken at those epochs of the same fits (equal
to separate fits of that many epochs: nothing in training depends on ``max_epochs`` here).

``--init pytorch`` fits a subclass whose ``_network()`` re-initialises every recurrent module
with ``reset_parameters()`` (uniform +-1/sqrt(hidden) for all weights and biases, so no
orthogonal ``W_hh`` and no LSTM forget-gate bias of 1); the library itself is unchanged.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import math
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import torch
from torch import nn

from forecast import RNNForecaster
from forecast.training.loop import Callback

HORIZON = 7
EXPLODED = (
    100.0  # an epoch's mean training loss above this (targets lie in 0..3) counts as exploded
)


def settings(quick):
    if quick:
        return dict(
            spells=(1, 6),
            cells=("rnn", "lstm", "gru"),
            bidir=(False,),
            heads=("direct", "seq2seq"),
            n_days=365,
            n_series=6,
            epochs=8,
            clip_seeds=(0,),
            test_series=4,
        )
    return dict(
        spells=(1, 3, 6, 10, 16),
        cells=("rnn", "lstm", "gru"),
        bidir=(False, True),
        heads=("direct", "seq2seq"),
        n_days=365,
        n_series=8,
        epochs=12,
        clip_seeds=(0, 1, 2),
        test_series=4,
    )


def _csv(cast):
    return lambda text: tuple(cast(v) for v in text.split(",") if v)


def _bidir(text):
    return {"no": (False,), "yes": (True,), "both": (False, True)}[text]


class TorchInitForecaster(RNNForecaster):
    """RNNForecaster whose recurrent modules get PyTorch's default init instead of the library's."""

    def _network(self, state):
        net = super()._network(
            state
        )  # built under the estimator's seeded generator (see _init_network)
        for m in net.modules():
            if isinstance(m, nn.RNNBase):
                m.reset_parameters()
        return net


INITS = {"library": RNNForecaster, "pytorch": TorchInitForecaster}


def make_model(
    cell,
    bidirectional,
    head,
    lookback,
    epochs,
    seed=0,
    clip="norm",
    learning_rate=5e-3,
    init="library",
    **kw,
):
    return INITS[init](
        cell=cell,
        hidden_size=24,
        bidirectional=bidirectional,
        head=head,
        lookback=lookback,
        horizon=HORIZON,
        future_covariates=("rain",),
        max_epochs=epochs,
        batch_size=128,
        learning_rate=learning_rate,
        clip=1.0 if clip == "norm" else clip,  # "norm": the global-norm bound 1.0
        verbose=False,
        seed=seed,
        **kw,
    )


def evaluate(est, test, lookback):
    """Exact-class accuracy (mean over horizon 1-7) and on memory days at horizon 1."""
    ids = test["unique_id"].unique()
    days = np.sort(test["ds"].unique())
    cutoffs = days[lookback - 1 : len(days) - HORIZON]
    origins = pd.DataFrame(
        {"unique_id": np.repeat(ids, len(cutoffs)), "cutoff": np.tile(cutoffs, len(ids))}
    )
    fc = est.predict_at(test, origins).merge(test, on=["unique_id", "ds"])
    fc["hit"] = np.clip(np.round(fc["y_pred"]), 0, 3) == fc["y"]
    t = test.sort_values(["unique_id", "ds"])
    prev_rain = t.groupby("unique_id")["rain"].shift(1).fillna(0)
    memory_days = t.loc[(t["rain"] == 0) & (prev_rain == 1), ["unique_id", "ds"]]
    h1 = fc[fc["ds"] == fc["cutoff"] + pd.Timedelta(days=1)].merge(
        memory_days, on=["unique_id", "ds"]
    )
    return float(fc["hit"].mean()), float(h1["hit"].mean()), len(h1)


class Snapshots(Callback):
    """Keep a copy of the weights at the given epochs and at the last one (for accuracy-vs-epochs tables)."""

    def __init__(self, epochs):
        self.epochs, self.states = set(epochs), {}

    def on_epoch_end(self, state, record):
        if record.epoch in self.epochs:
            self.states[record.epoch] = copy.deepcopy(state.module.state_dict())

    def on_train_end(self, state, history):
        if history.records:
            self.states[history.records[-1].epoch] = copy.deepcopy(state.module.state_dict())


def run_accuracy(job):
    from forecast.datasets.synthetic import make_routine

    torch.set_num_threads(1)
    spell, cell, bidir, head, init, seed, cfg = job
    lookback = 2 * max(cfg["spells"]) + 6
    # seed 0 keeps the single-seed run's training series (seed=spell); the test series never change
    train = make_routine(
        cfg["n_days"], 0.15, spell, seed=spell + 10_000 * seed, n_series=cfg["n_series"]
    )
    test = make_routine(200, 0.15, spell, seed=1000 + spell, n_series=cfg["test_series"])
    t0 = time.perf_counter()
    snapshots = Snapshots(cfg["checkpoints"])
    est = make_model(cell, bidir, head, lookback, cfg["epochs"], seed=seed, init=init).fit(
        train, callbacks=[snapshots]
    )
    seconds = time.perf_counter() - t0
    losses = [r.train_loss for r in est.history_.records]
    final = {k: v.clone() for k, v in est.module_.state_dict().items()}
    rows = []
    for epoch, state in sorted(snapshots.states.items()):  # the final epoch is always among them
        est.module_.load_state_dict(state)
        acc, mem_acc, n_mem = evaluate(est, test, lookback)
        seen = losses[:epoch]
        tail = max(1, epoch // 4)
        rows.append(
            dict(
                spell=spell,
                cell=cell,
                bidirectional=bidir,
                head=head,
                init=init,
                seed=seed,
                epoch=epoch,
                accuracy=acc,
                memory_day_accuracy=mem_acc,
                memory_days=n_mem,
                final_loss=seen[-1],
                # mean loss of the last quarter of the epochs / the quarter before: ~1 = flat
                loss_tail_ratio=float(np.mean(seen[-tail:]) / np.mean(seen[-2 * tail : -tail]))
                if epoch >= 2
                else math.nan,
                seconds=seconds,
                losses=" ".join(f"{v:.4g}" for v in seen),
            )
        )
    est.module_.load_state_dict(final)
    row = rows[-1]
    if spell == max(cfg["spells"]) and not bidir and head == "direct":
        from forecast.evaluation.diagnostics import gradient_through_time

        g = gradient_through_time(est, test, n_windows=256)
        row["gtt"] = g.tolist()
    return rows


def run_clipping(job):
    from forecast.datasets.synthetic import make_routine

    torch.set_num_threads(1)
    cell, clip, lr, seed, cfg = job
    spell = sorted(cfg["spells"])[len(cfg["spells"]) // 2]
    train = make_routine(cfg["n_days"], 0.15, spell, seed=seed, n_series=cfg["n_series"])
    lookback = 2 * max(cfg["spells"]) + 6
    # Unscaled targets (0..3) and a relu RNN: the setting where gradients (and activations) blow up.
    est = make_model(
        "rnn_relu" if cell == "rnn" else cell,
        False,
        "direct",
        lookback,
        cfg["epochs"],
        seed=seed,
        clip=clip,
        learning_rate=lr,
        scaler="none",
    )
    row = dict(
        model=f"{cell}{'-relu' if cell == 'rnn' else ''} lr={lr}", clip=clip or "off", seed=seed
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            est.fit(train)
        except FloatingPointError:
            return row | dict(
                non_finite=True,
                exploded=True,
                peak_loss=math.inf,
                final_loss=math.nan,
                peak_grad_norm=math.inf,
            )
    losses = [r.train_loss for r in est.history_.records]
    return row | dict(
        non_finite=est.history_.rolled_back is not None,
        exploded=max(losses) > EXPLODED,
        peak_loss=max(losses),
        final_loss=losses[-1],
        peak_grad_norm=max(r.grad_norm_max for r in est.history_.records),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a ~30 s subset")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument(
        "--plot", default=None, help="write the gradient-through-time plot here (needs matplotlib)"
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="seeds 0..N-1 per accuracy cell (network + training data)",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="training epochs (default: 12, --quick 8)"
    )
    parser.add_argument(
        "--spells", type=_csv(int), default=None, help="spell lengths, e.g. 1,6,12,20"
    )
    parser.add_argument("--cells", type=_csv(str), default=None, help="e.g. rnn,lstm,gru")
    parser.add_argument("--heads", type=_csv(str), default=None, help="e.g. direct,seq2seq")
    parser.add_argument("--bidir", type=_bidir, default=None, help="no | yes | both")
    parser.add_argument(
        "--init",
        type=_csv(str),
        default=("library",),
        help="library (orthogonal W_hh, LSTM forget bias 1) and/or pytorch (reset_parameters)",
    )
    parser.add_argument(
        "--checkpoints",
        type=_csv(int),
        default=(),
        help="also report accuracy at these epochs of the same runs, e.g. 12,50,100",
    )
    parser.add_argument(
        "--test-series", type=int, default=None, help="unseen test series (default 4)"
    )
    parser.add_argument("--no-accuracy", action="store_true", help="skip the accuracy sweep")
    parser.add_argument("--no-clipping", action="store_true", help="skip the clipping off/on runs")
    parser.add_argument(
        "--clip-seeds", type=int, default=None, help="seeds per clipping cell (default 3)"
    )
    parser.add_argument("--csv", default=None, help="also write the per-run accuracy rows here")
    args = parser.parse_args()
    cfg = settings(args.quick)
    for key in ("epochs", "spells", "cells", "heads", "bidir", "test_series"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    cfg["checkpoints"] = tuple(e for e in args.checkpoints if e < cfg["epochs"])
    if args.clip_seeds is not None:
        cfg["clip_seeds"] = tuple(range(args.clip_seeds))
    if unknown := set(args.init) - set(INITS):
        parser.error(f"--init: unknown {sorted(unknown)}; choose from {sorted(INITS)}")
    t0 = time.perf_counter()
    jobs = (
        []
        if args.no_accuracy
        else [
            (*j, cfg)
            for j in itertools.product(
                cfg["spells"],
                cfg["cells"],
                cfg["bidir"],
                cfg["heads"],
                args.init,
                range(args.seeds),
            )
        ]
    )
    clip_jobs = (
        []
        if args.no_clipping
        else [
            (c, clip, lr, s, cfg)
            for c in cfg["cells"]
            for lr in (0.05, 0.2)
            for clip in (None, "norm")
            for s in cfg["clip_seeds"]
        ]
    )
    with ProcessPoolExecutor(args.workers) as pool:
        rows = [r for rs in pool.map(run_accuracy, jobs) for r in rs]
        clips = list(pool.map(run_clipping, clip_jobs))
    if args.csv and rows:
        pd.DataFrame(rows).drop(columns="gtt", errors="ignore").to_csv(args.csv, index=False)
    for r in rows:
        r.pop("losses", None)
    report(pd.DataFrame(rows), pd.DataFrame(clips), args, cfg, time.perf_counter() - t0)


def report(acc, clips, args, cfg, seconds):
    pd.set_option("display.width", 160)
    print(
        f"epochs {cfg['epochs']}, seeds {args.seeds}, init {','.join(args.init)}, "
        f"lookback {2 * max(cfg['spells']) + 6}, test series {cfg['test_series']}"
    )
    if len(acc):
        report_accuracy(acc, args)
    if len(clips):
        print(
            f"\n## Clipping off vs on (unscaled targets, direct head; exploded: an epoch's loss > {EXPLODED:g})\n"
        )
        summary = clips.groupby(["model", "clip"]).agg(
            runs=("seed", "size"),
            exploded=("exploded", "sum"),
            non_finite=("non_finite", "sum"),
            peak_loss=("peak_loss", "max"),
            final_loss=("final_loss", "mean"),
            peak_grad_norm=("peak_grad_norm", "max"),
        )
        summary.index = [f"{m} clip={c}" for m, c in summary.index]
        summary = summary.map(lambda v: f"{v:.3g}" if isinstance(v, float) else v)
        print(_md(summary))
    print(f"\nwall time {seconds:.0f} s, {args.workers} workers")


def _spread(values):
    """'mean' for one seed, 'mean ± std [min, max]' for several."""
    v = np.asarray(values, dtype=float)
    if len(v) == 1:
        return f"{v[0]:.3g}"
    return f"{v.mean():.3g} ± {v.std(ddof=1):.2g} [{v.min():.3g}, {v.max():.3g}]"


def report_accuracy(acc, args):
    acc["model"] = acc["cell"] + np.where(acc["bidirectional"], "-bi", "") + "/" + acc["head"]
    if acc["init"].nunique() > 1 or set(acc["init"]) != {"library"}:
        acc["model"] += " (" + acc["init"] + " init)"
    acc["base"] = acc["model"]
    if acc["epoch"].nunique() > 1:  # --checkpoints: one row per model and epoch, in epoch order
        acc["model"] += ", " + acc["epoch"].astype(str) + " ep"
    order = acc.sort_values(["base", "epoch"])["model"].drop_duplicates().tolist()
    multi = args.seeds > 1
    what = " (mean ± std [min, max] over seeds)" if multi else ""
    for title, col in (
        ("Exact-class accuracy, horizon 1-7", "accuracy"),
        ("Accuracy on memory days (first dry day after a spell, horizon 1)", "memory_day_accuracy"),
        ("Final training loss (scaled MSE)", "final_loss"),
        (
            "Training-loss convergence: mean loss of the last quarter of epochs / the quarter "
            "before (1 = flat)",
            "loss_tail_ratio",
        ),
    ):
        if col in ("final_loss", "loss_tail_ratio") and not multi and args.epochs is None:
            continue  # the original single-seed report
        print(f"\n## {title}{what} (rows: model, columns: spell length)\n")
        if multi:
            table = acc.groupby(["model", "spell"])[col].agg(_spread).unstack("spell")
        else:
            table = acc.pivot_table(index="model", columns="spell", values=col).map(
                lambda v: f"{v:.3g}"
            )
        print(_md(table.reindex(order)))
    if multi:
        print("\n## Memory days: runs at chance (<= 0.5) / runs perfect (>= 0.95), out of seeds\n")
        counts = (
            acc.groupby(["model", "spell"])["memory_day_accuracy"]
            .agg(lambda v: f"{(v <= 0.5).sum()} / {(v >= 0.95).sum()} of {len(v)}")
            .unstack("spell")
        )
        print(_md(counts.reindex(order)))
    print(
        f"\n(memory days per spell length: {acc.groupby('spell')['memory_days'].first().to_dict()}; "
        f"mean seconds per fit: {acc['seconds'].mean():.1f})"
    )
    if "gtt" in acc:
        print(
            "\n## Gradient through time (trained direct models, longest spells): |dL/dx_t| relative to the last "
            "step" + (" (median over seeds)" if multi else "") + "\n"
        )
        g = acc.dropna(subset=["gtt"])
        ratios = {}
        for model, grp in g.groupby("base", sort=False):
            curves = [np.asarray(v) for v in grp["gtt"]]
            ratios[model.split("/")[0] + model.split("direct")[1]] = [
                np.median([c[0] / c[-1] for c in curves]),
                np.median([c[len(c) // 2] / c[-1] for c in curves]),
            ]
        print(
            _md(pd.DataFrame(ratios, index=["first step", "middle step"]).map(lambda v: f"{v:.2e}"))
        )
        if args.plot:
            from forecast.evaluation.diagnostics import plot_gradient_through_time

            first = g.drop_duplicates("base")
            plot_gradient_through_time(
                {r.base: np.asarray(r.gtt) for r in first.itertuples()}, args.plot
            )


def _md(df):
    """A DataFrame as a markdown table (no tabulate dependency)."""
    cols = [str(df.index.name or "")] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [str(v) for v in row]) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
