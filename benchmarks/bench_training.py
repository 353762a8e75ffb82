"""Training throughput of RNNForecaster against a bare-PyTorch loop on the same machine.

For each cell (rnn, lstm, gru) x (uni, bi)directional, at lookback 168, horizon 24, hidden 64,
2 layers, batch 256, on a generated panel of 100 series x 2,000 hourly points:

* steps/s and windows/s of the library's training loop (``history_.records[0].seconds``: the
  epoch's wall time, window sampling and gathering included) and of a reference loop written
  here with nothing but torch: one (S, T) tensor, windows cut with ``unfold``, random batches by
  indexing, the same ``nn.LSTM``/``GRU``/``RNN`` + linear head, Adam, MSE, clip_grad_norm_(1.0);
* the ratio library / reference, measured side by side in one process, interleaved (lib, ref,
  ref, lib, ...), median of the repeats;
* in a fresh process per (cell, implementation): time to first step (DataFrame in hand -> one
  optimizer step done; cold: first-use imports included) and peak resident memory of the fit
  over the RSS before it (Linux VmHWM reset, see ``common.PeakRSS``).

Usage::

    python benchmarks/bench_training.py            # 6 cells, 25 steps x 3 repeats (~5 min idle)
    python benchmarks/bench_training.py --quick    # 6 cells, 8 steps x 2 repeats, no memory runs
    python benchmarks/bench_training.py --cells lstm --bidirectional 0 --steps 40 --repeats 5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

CONFIG = dict(
    lookback=168,
    horizon=24,
    hidden_size=64,
    num_layers=2,
    batch_size=256,
    window_norm=None,
    loss="mse",
)  # the plain network, as bare PyTorch
PANEL = dict(n_series=100, length=2000)


# ------------------------------------------------------------------ the two implementations
def library_fit(df, cell, bidirectional, steps, seed=0, threads=None, **extra):
    """Fit RNNForecaster for ``steps`` gradient steps; returns (loop seconds, steps done, fit wall seconds)."""
    from forecast import RNNForecaster

    est = RNNForecaster(
        cell=cell,
        bidirectional=bidirectional,
        max_steps=steps,
        max_epochs=10_000,
        device="cpu",
        seed=seed,
        verbose=False,
        **{**CONFIG, **extra},
    )
    t0 = time.perf_counter()
    est.fit(df)
    wall = time.perf_counter() - t0
    rec = est.history_.records
    return sum(r.seconds for r in rec), sum(r.steps for r in rec), wall


def reference_fit(df, cell, bidirectional, steps, seed=0):
    """The bare-PyTorch loop; returns (loop seconds, steps done, wall seconds from the DataFrame)."""
    import torch
    from torch import nn

    cells = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
    L, H, B = CONFIG["lookback"], CONFIG["horizon"], CONFIG["batch_size"]
    dirs = 2 if bidirectional else 1
    t0 = time.perf_counter()
    data = torch.from_numpy(common.panel_array(df))  # (S, T) float32
    data = (data - data.mean(1, keepdim=True)) / data.std(
        1, keepdim=True
    )  # per-series standard scaling
    windows = data.unfold(1, L + H, 1)  # (S, W, L+H): a view, nothing copied
    S, W = windows.shape[:2]
    torch.manual_seed(seed)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = cells[cell](
                1,
                CONFIG["hidden_size"],
                CONFIG["num_layers"],
                batch_first=True,
                bidirectional=bidirectional,
            )
            self.head = nn.Linear(dirs * CONFIG["hidden_size"], H)

        def forward(self, x):  # x: (B, L, 1)
            _, state = self.rnn(x)
            h_n = state[0] if isinstance(state, tuple) else state
            return self.head(h_n[-dirs:].transpose(0, 1).flatten(1))  # (B, H)

    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    t_loop = time.perf_counter()
    for _ in range(steps):
        k = torch.randint(S * W, (B,), generator=gen)
        win = windows[k // W, k % W]  # (B, L+H) gathered copy
        loss = nn.functional.mse_loss(model(win[:, :L, None]), win[:, L:])
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    loss.item()
    end = time.perf_counter()
    return end - t_loop, steps, end - t0


# ------------------------------------------------------------------ children
def child_throughput(a):
    import torch

    if a.get("threads"):
        torch.set_num_threads(a["threads"])
    df = common.make_data(**PANEL)
    out = {"lib": [], "ref": [], "lib_wall": [], "ref_wall": []}
    for rep in range(a["repeats"]):
        order = ("lib", "ref") if rep % 2 == 0 else ("ref", "lib")  # alternate who runs first
        for who in order:
            fn = library_fit if who == "lib" else reference_fit
            secs, steps, wall = fn(df, a["cell"], a["bidirectional"], a["steps"], seed=rep)
            out[who].append(steps / secs)
            out[who + "_wall"].append(wall)
    out["ratio_per_rep"] = [lib / ref for lib, ref in zip(out["lib"], out["ref"])]
    out["threads"] = torch.get_num_threads()
    return out


def child_quantiles(a):
    """The point model against ``quantiles=(0.1, 0.5, 0.9)`` (pinball loss), interleaved, same data."""
    import torch

    if a.get("threads"):
        torch.set_num_threads(a["threads"])
    df = common.make_data(**PANEL)
    out = {"point": [], "quantiles": []}
    for rep in range(a["repeats"]):
        for who in ("point", "quantiles") if rep % 2 == 0 else ("quantiles", "point"):
            extra = {"loss": "pinball", "quantiles": (0.1, 0.5, 0.9)} if who == "quantiles" else {}
            secs, steps, _ = library_fit(
                df, a["cell"], a["bidirectional"], a["steps"], seed=rep, **extra
            )
            out[who].append(steps / secs)
    out["ratio_per_rep"] = [q / p for p, q in zip(out["point"], out["quantiles"])]
    out["threads"] = torch.get_num_threads()
    return out


def child_cold(a):
    """Fresh process: time to first step and peak RSS of a short fit."""
    import torch

    if a.get("threads"):
        torch.set_num_threads(a["threads"])
    df = common.make_data(**PANEL)
    fn = library_fit if a["impl"] == "lib" else reference_fit
    t0 = time.perf_counter()
    fn(df, a["cell"], a["bidirectional"], 1)
    first = time.perf_counter() - t0
    with common.PeakRSS() as mem:
        fn(df, a["cell"], a["bidirectional"], a["steps"])
    return {
        "first_step_s": first,
        "peak_delta_mb": mem.delta / common.MB,
        "peak_mb": mem.peak / common.MB,
    }


# ------------------------------------------------------------------ parent
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="8 steps x 2 repeats, skip the memory runs")
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cells", default="rnn,lstm,gru")
    p.add_argument("--bidirectional", default="0,1", help="comma list of 0/1")
    p.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads in the children"
    )
    p.add_argument("--no-memory", action="store_true")
    p.add_argument(
        "--quantiles",
        action="store_true",
        help="instead: steps/s of quantiles=(0.1, 0.5, 0.9) against the point model (issue 13)",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.repeats, args.no_memory = 8, 2, True
    configs = [
        (c, bool(int(b))) for c in args.cells.split(",") for b in args.bidirectional.split(",")
    ]
    me = Path(__file__).resolve()
    if args.quantiles:
        return quantile_overhead(me, configs, args)
    rows, raw = (
        [],
        {"machine": common.machine_info(), "args": vars(args), "config": CONFIG, "panel": PANEL},
    )
    for cell, bi in configs:
        base = {"cell": cell, "bidirectional": bi, "steps": args.steps, "threads": args.threads}
        t = common.run_child(me, {**base, "mode": "throughput", "repeats": args.repeats})
        cold = (
            {}
            if args.no_memory
            else {
                impl: common.run_child(me, {**base, "mode": "cold", "impl": impl, "steps": 3})
                for impl in ("lib", "ref")
            }
        )
        raw[f"{cell}{'-bi' if bi else ''}"] = {"throughput": t, "cold": cold}
        if "error" in t:
            print(f"{cell} bi={bi}: {t['error']}", file=sys.stderr)
            continue
        lib, ref = common.median(t["lib"]), common.median(t["ref"])
        row = [
            f"{cell}{' bi' if bi else ''}",
            lib,
            lib * CONFIG["batch_size"],
            ref,
            common.median(t["ratio_per_rep"]),
            min(t["ratio_per_rep"]),
            common.median(t["lib_wall"]),
            common.median(t["ref_wall"]),
        ]
        for impl in ("lib", "ref"):
            c = cold.get(impl, {})
            row += [c.get("first_step_s"), c.get("peak_delta_mb")]
        rows.append(row)
        print(common.table(HEADERS, [row]).splitlines()[-1], flush=True)
    print()
    print(common.table(HEADERS, rows))
    name = f"training_threads-{args.threads or 'default'}" + ("_quick" if args.quick else "")
    path = common.save_json(name, raw)
    print(f"\nraw figures: {path}")


def quantile_overhead(me, configs, args):
    rows, raw = (
        [],
        {"machine": common.machine_info(), "args": vars(args), "config": CONFIG, "panel": PANEL},
    )
    for cell, bi in configs:
        t = common.run_child(
            me,
            {
                "cell": cell,
                "bidirectional": bi,
                "steps": args.steps,
                "threads": args.threads,
                "mode": "quantiles",
                "repeats": args.repeats,
            },
        )
        raw[f"{cell}{'-bi' if bi else ''}"] = t
        if "error" in t:
            print(f"{cell} bi={bi}: {t['error']}", file=sys.stderr)
            continue
        rows.append(
            [
                f"{cell}{' bi' if bi else ''}",
                common.median(t["point"]),
                common.median(t["quantiles"]),
                common.median(t["ratio_per_rep"]),
                min(t["ratio_per_rep"]),
            ]
        )
        print(common.table(Q_HEADERS, rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(common.table(Q_HEADERS, rows))
    name = f"training_quantiles_threads-{args.threads or 'default'}"
    print(f"\nraw figures: {common.save_json(name, raw)}")


Q_HEADERS = [
    "cell",
    "point steps/s",
    "quantiles (0.1, 0.5, 0.9) steps/s",
    "ratio (median)",
    "ratio min",
]
HEADERS = [
    "cell",
    "lib steps/s",
    "lib windows/s",
    "ref steps/s",
    "ratio lib/ref (median)",
    "ratio min",
    "lib fit wall s",
    "ref wall s",
    "lib 1st step s",
    "lib peak MB",
    "ref 1st step s",
    "ref peak MB",
]

if __name__ == "__main__":
    common.main_or_child(
        main,
        lambda a: {
            "throughput": child_throughput,
            "quantiles": child_quantiles,
            "cold": child_cold,
        }[a["mode"]](a),
    )
