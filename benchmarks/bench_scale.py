"""How fit's time and peak memory grow with the number of series and their length, and an
M5-sized panel measured end to end.

**Sweep** (default). Each size runs in a fresh process: a tiny warm-up fit first (imports and
one-off allocations out of the way), then the panel is generated, the RSS taken, and ``fit`` run
for a fixed number of gradient steps (LSTM, hidden 64, 2 layers, lookback 168, horizon 24,
batch 256). Recorded:

* fit wall time, and its split into preparation (validation, panel, scaling, window index) and
  the training loop;
* peak RSS during fit minus the RSS just before it (Linux VmHWM reset; see ``common.PeakRSS``),
  next to the raw float32 size of the data (points x 4 bytes) and the pandas frame's own size
  (which the caller holds before fit, so it is in the baseline, not the delta);
* the training footprint of the model itself (weights, gradients, Adam state, one batch's
  activations) = peak delta of the smallest panel, where the data is negligible.

Target: peak delta for 10,000 series x 2,000 points <= 3 x raw float32 + the model's footprint.
The largest panel that fits in this machine's memory is extrapolated from the per-point slope
(the caller's frame + fit's peak), never tried.

**M5** (``--m5``, issue 23). ``make_panel`` daily series of 1,900 points with one future-known
covariate (``future_0``, 0/1 promotions), 1k / 3k / 10k / 30k series (M5: 30,490 x 1,941), one
fresh process per size, through the default ``RNNForecaster(horizon=28,
future_covariates=("future_0",))`` (LSTM 64, ``window_norm="es"``, lookback 56):

* ``fit`` under ``max_time`` (600 s for the largest size, ``--fit-time`` for the others): its
  preparation (fit start -> first step) and what follows the loop, seconds per epoch (median),
  windows per second;
* ``predict`` (every series, with ``X_future``), ``predict_at`` over ``--origins`` origins per
  series one horizon apart, and ``backtest(..., refit=False)`` over the same origins with a
  ``--backtest-steps``-step fit, scored by ``--backtest-metrics`` (alias ``--metrics``; mae,
  rmse, smape by default, add mase), ``--stages backtest`` for that stage alone: seconds and
  forecasts per second, wall and CPU (the CPU figures are the steadier on a shared machine);
* each stage's peak RSS (VmHWM reset at its start): absolute, and above the process's RSS before
  any data was generated;
* the exponent of each quantity in the number of series (least squares on log-log, over all
  sizes and between the two largest); 1 is linear. Results: ``RESULTS-scale.md``.

Usage::

    python benchmarks/bench_scale.py               # series 10..10,000 x 2,000; length 500..32,000 x 100
    python benchmarks/bench_scale.py --quick       # series 10..1,000; length 500..8,000
    nice -n 15 python benchmarks/bench_scale.py --m5 --threads 1            # 1k, 3k, 10k, 30k series
    python benchmarks/bench_scale.py --m5 --series 1000,3000 --fit-time 30  # a quick look
    python benchmarks/bench_scale.py --m5 --series 1000 --profile 25        # cProfile per stage
    python benchmarks/bench_scale.py --m5 --series 30000 --stages backtest --metrics mae,mase
    python benchmarks/bench_scale.py --markdown benchmarks/results/scale-m5-sweep.json
"""

from __future__ import annotations

import argparse
import gc
import json
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
    if a.get("m5"):
        return m5_child(a)
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
    p.add_argument("--m5", action="store_true", help="the M5-sized end-to-end sweep")
    p.add_argument("--series", default="1000,3000,10000,30000", help="--m5: series per size")
    p.add_argument(
        "--fit-time", type=float, default=60, help="--m5: max_time of the fits below the largest"
    )
    p.add_argument("--largest-fit-time", type=float, default=600, help="--m5: the largest's")
    p.add_argument("--origins", type=int, default=M5["origins"], help="--m5: origins per series")
    p.add_argument("--backtest-steps", type=int, default=50, help="--m5: the backtest fit's")
    p.add_argument(
        "--stages",
        choices=("all", "backtest"),
        default="all",
        help="--m5: every stage, or the no-refit backtest alone (no fit, predict, predict_at)",
    )
    p.add_argument(
        "--backtest-metrics",
        "--metrics",
        default="mae,rmse,smape",
        help="--m5: the backtest's metrics (add mase to scale every forecast by its series' "
        "history, forecast.metrics.tables.scales; RESULTS-scale.md)",
    )
    p.add_argument("--profile", type=int, default=0, help="--m5: cProfile, top N per stage")
    p.add_argument("--markdown", default=None, help="--m5 tables and plot from a results JSON")
    p.add_argument("--tag", default="", help="--m5: suffix of the results files")
    args = p.parse_args(argv)
    if args.markdown:  # the tables and plot again from a recorded JSON
        rows = json.loads(Path(args.markdown).read_text())["rows"]
        print(m5_tables(rows))
        print("plot:", plot(rows, Path(args.markdown).with_suffix(".png")))
        return None
    if args.m5:
        return m5_main(args)
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


# ------------------------------------------------------------------ the M5-sized end-to-end sweep
M5 = dict(
    length=1900, horizon=28, freq="D", origins=10
)  # M5: 30,490 daily series, 1,941 days, h 28


def m5_panel(n_series, length, horizon, seed=0):
    """(train, x_future): ``make_panel`` daily series with one future-known covariate
    (``future_0``, 0/1 promotions), ``length`` points each for fitting and the covariate's next
    ``horizon`` values per series for ``predict``."""
    import numpy as np

    from forecast.datasets.synthetic import make_panel

    full = make_panel(
        n_series=n_series, length=length + horizon, freq="D", seed=seed, future_covariates=1
    )
    ahead = np.tile(np.arange(length + horizon) >= length, n_series)  # balanced, series-major
    x_future = full.loc[ahead, ["unique_id", "ds", "future_0"]].reset_index(drop=True)
    train = full.loc[~ahead].reset_index(drop=True)
    return train, x_future


class Clock:
    """A training callback that notes when the loop starts and ends (prep = fit start -> begin),
    on the wall clock and in this process's CPU time (each epoch's too)."""

    def on_train_begin(self, state):
        self.begin, self.cpu_begin = time.perf_counter(), time.process_time()
        self.cpu_epochs, self._cpu = [], self.cpu_begin

    def on_epoch_end(self, state, record):
        now = time.process_time()
        self.cpu_epochs.append(now - self._cpu)
        self._cpu = now

    def on_train_end(self, state, history):
        self.end, self.cpu_end = time.perf_counter(), time.process_time()


class Stage:
    """Wall time and peak RSS of one stage (absolute VmHWM and its rise over the stage's start),
    optionally profiled (cProfile: the ``top`` functions by cumulative time)."""

    def __init__(self, out, name, profile=0, profile_dir=None):
        self.out, self.name, self.profile = out, name, profile
        self.profile_dir = profile_dir

    def __enter__(self):
        self.mem = common.PeakRSS().__enter__()
        if self.profile:
            import cProfile

            self.prof = cProfile.Profile()
            self.prof.enable()
        self.t0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        seconds, cpu = time.perf_counter() - self.t0, time.process_time() - self.cpu0
        if self.profile:
            import io
            import pstats

            self.prof.disable()
            text = io.StringIO()
            pstats.Stats(self.prof, stream=text).sort_stats("cumulative").print_stats(self.profile)
            out = Path(self.profile_dir) / f"{self.name}.txt"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text.getvalue())
        self.mem.__exit__(*exc)
        self.out[self.name] = {
            "seconds": seconds,
            "cpu_s": cpu,
            "peak_mb": self.mem.peak / common.MB,
            "delta_mb": self.mem.delta / common.MB,
            "start_mb": self.mem.baseline / common.MB,
        }


def m5_child(a):
    """One size of the M5-sized sweep in this fresh process: generate, fit, predict, predict_at,
    backtest (refit=False); each stage timed and its peak RSS taken."""
    import torch

    from forecast import RNNForecaster
    from forecast.evaluation.backtesting import backtest

    if a.get("threads"):
        torch.set_num_threads(a["threads"])
    RNNForecaster(lookback=8, horizon=2, max_steps=1, device="cpu", verbose=False).fit(
        common.make_data(3, 50)
    )
    S, n, H, W, prof = a["series"], a["length"], a["horizon"], a["origins"], a.get("profile", 0)
    pdir = f"/tmp/bench_scale_profile/{S}"
    common._trim()
    base_mb = common.rss_bytes() / common.MB  # after imports and the warm-up: before any data
    t0 = time.perf_counter()
    df, xf = m5_panel(S, n, H)
    gen_s = time.perf_counter() - t0
    stages = {}
    kw = dict(horizon=H, future_covariates=("future_0",), device="cpu", verbose=False, seed=0)
    if a.get("stages", "all") == "all":
        m5_model_stages(a, df, xf, stages, kw)
    bt_est = RNNForecaster(max_steps=a["backtest_steps"], **kw)
    with Stage(stages, "backtest", prof, pdir):
        res = backtest(
            bt_est, df, n_windows=W, step=H, refit=False, season_length=7, metrics=a["metrics"]
        )
    bt = stages["backtest"]
    bt.update(
        forecasts=len(res.forecasts),
        fit_s=res.fit_seconds,
        predict_s=res.predict_seconds,
        rest_s=bt["seconds"] - res.fit_seconds - res.predict_seconds,
        forecasts_per_s=len(res.forecasts) / (bt["seconds"] - res.fit_seconds),
        metrics=list(a["metrics"]),
        scores=res.aggregate,
    )
    return {
        "series": S,
        "length": n,
        "points": len(df),
        "gen_s": gen_s,
        "base_mb": base_mb,
        "frame_mb": df.memory_usage(deep=True).sum() / common.MB,
        "raw_f32_mb": len(df) * 2 * 4 / common.MB,  # y and the covariate
        "stages": stages,
    }


def m5_model_stages(a, df, xf, stages, kw):
    """fit, predict and predict_at of the M5-sized sweep (``--stages all``), into ``stages``."""
    import numpy as np
    import pandas as pd

    from forecast import RNNForecaster

    S, n, H, W, prof = a["series"], a["length"], a["horizon"], a["origins"], a.get("profile", 0)
    pdir = f"/tmp/bench_scale_profile/{S}"
    est, clock = RNNForecaster(max_time=a["fit_time"], **kw), Clock()
    with Stage(stages, "fit", prof, pdir) as st:
        est.fit(df, callbacks=[clock])
    fit = stages["fit"]
    records = est.history_.records
    steps = sum(r.steps for r in records)
    loop_s = clock.end - clock.begin
    fit.update(
        prep_s=clock.begin - st.t0,
        post_s=st.t0 + fit["seconds"] - clock.end,
        prep_cpu_s=clock.cpu_begin - st.cpu0,
        cpu_per_epoch=float(np.median(clock.cpu_epochs)),
        windows_per_cpu_s=steps * est.batch_size_ / (clock.cpu_end - clock.cpu_begin),
        loop_s=loop_s,
        epochs=len(records),
        steps=steps,
        windows=est.n_train_windows_,
        batch_size=est.batch_size_,
        s_per_epoch=float(np.median([r.seconds for r in records])),
        windows_per_s=steps * est.batch_size_ / loop_s,
        lookback=est.lookback_,
        train_loss=records[-1].train_loss,
    )
    with Stage(stages, "predict", prof, pdir):
        fc = est.predict(X_future=xf)
    stages["predict"].update(
        forecasts=len(fc),
        forecasts_per_s=len(fc) / stages["predict"]["seconds"],
        forecasts_per_cpu_s=len(fc) / stages["predict"]["cpu_s"],
    )
    del fc
    # W origins per series, one horizon apart, the last one a horizon before the end (as backtest)
    back = H + (W - 1 - np.arange(W)) * H + 1
    ds = df["ds"].to_numpy()
    rows = (np.arange(S) * n)[:, None] + (n - back)[None, :]
    origins = pd.DataFrame(
        {"unique_id": df["unique_id"].to_numpy()[rows.ravel()], "cutoff": ds[rows.ravel()]}
    )
    with Stage(stages, "predict_at", prof, pdir):
        fc = est.predict_at(df, origins)
    pa = stages["predict_at"]
    pa.update(origins=len(origins), forecasts=len(fc), forecasts_per_s=len(fc) / pa["seconds"])
    pa.update(forecasts_per_cpu_s=len(fc) / pa["cpu_s"])
    del fc, origins, est


def m5_main(args):
    series = [int(s) for s in args.series.split(",")]
    me, rows = Path(__file__).resolve(), []
    for s in series:
        fit_time = args.largest_fit_time if s == max(series) else args.fit_time
        a = {"m5": True, "series": s, "fit_time": fit_time, "threads": args.threads, **M5}
        a.update(origins=args.origins, backtest_steps=args.backtest_steps, profile=args.profile)
        a["metrics"], a["stages"] = args.backtest_metrics.split(","), args.stages
        t0 = time.perf_counter()
        r = common.run_child(me, a, timeout=3600, tail=200_000 if args.profile else 800)
        if "error" in r:
            print(f"{s} series: {r['error']}", file=sys.stderr, flush=True)
            continue
        r["fit_time"], r["wall_s"] = fit_time, time.perf_counter() - t0
        rows.append(r)
        print(m5_line(r) if args.stages == "all" else backtest_line(r), flush=True)
    if not rows:
        return
    whole = args.stages == "all"
    if whole:
        print()
        print(m5_tables(rows))
    info = common.machine_info()
    payload = {"machine": info, "args": vars(args), "rows": rows}
    payload["exponents"] = exponents(rows) if whole else None
    name = "scale-m5" + (f"-{args.tag}" if args.tag else "")
    print("\nraw figures:", common.save_json(name, payload))
    if whole and len(rows) > 1:
        print("plot:", plot(rows, common.HERE / "results" / f"{name}.png"))


def backtest_line(r):
    bt = r["stages"]["backtest"]
    return (
        f"{r['series']:>6} series ({r['points']:,} points, frame {r['frame_mb']:,.0f} MB): "
        f"backtest [{','.join(bt['metrics'])}] {bt['seconds']:.0f}s wall, {bt['cpu_s']:.0f}s CPU "
        f"(fit {bt['fit_s']:.0f}s, predict {bt['predict_s']:.0f}s, rest {bt['rest_s']:.0f}s); "
        f"peak RSS {bt['peak_mb']:,.0f} MB, {bt['peak_mb'] - r['base_mb']:,.0f} MB above base"
    )


def m5_line(r):
    st = r["stages"]
    f = st["fit"]
    return (
        f"{r['series']:>6} series: gen {r['gen_s']:.0f}s; fit {f['seconds']:.0f}s "
        f"(prep {f['prep_s']:.1f}s, {f['epochs']} epochs, {f['s_per_epoch']:.2f} s/epoch, "
        f"{f['windows_per_s']:,.0f} windows/s) peak {f['peak_mb']:,.0f} MB; "
        f"predict {st['predict']['seconds']:.1f}s peak {st['predict']['peak_mb']:,.0f} MB; "
        f"predict_at {st['predict_at']['seconds']:.1f}s peak {st['predict_at']['peak_mb']:,.0f} MB; "
        f"backtest {st['backtest']['seconds']:.0f}s (fit {st['backtest']['fit_s']:.0f}s) "
        f"peak {st['backtest']['peak_mb']:,.0f} MB"
    )


# (label, stage, key): what the log-log table fits against the number of series; peaks are
# taken above the process's RSS before any data ("above base"), so the fixed cost of Python and
# torch does not flatten the slope.
QUANTITIES = [
    ("caller's frame MB", None, "frame_mb"),
    ("fit: preparation CPU s", "fit", "prep_cpu_s"),
    ("fit: CPU s per epoch", "fit", "cpu_per_epoch"),
    ("fit: windows per CPU s", "fit", "windows_per_cpu_s"),
    ("fit: s per epoch (wall)", "fit", "s_per_epoch"),
    ("fit: peak RSS above base MB", "fit", "above_mb"),
    ("predict CPU s", "predict", "cpu_s"),
    ("predict: forecasts per CPU s", "predict", "forecasts_per_cpu_s"),
    ("predict: peak RSS above base MB", "predict", "above_mb"),
    ("predict_at CPU s", "predict_at", "cpu_s"),
    ("predict_at: forecasts per CPU s", "predict_at", "forecasts_per_cpu_s"),
    ("predict_at: peak RSS above base MB", "predict_at", "above_mb"),
    ("backtest CPU s (its short fit included)", "backtest", "cpu_s"),
    ("backtest without its fit s (wall)", "backtest", "no_fit_s"),
    ("backtest: peak RSS above base MB", "backtest", "above_mb"),
]


def value(r, stage, key):
    if stage is None:
        return r[key]
    st = r["stages"][stage]
    if key == "above_mb":
        return st["peak_mb"] - r["base_mb"]
    if key == "no_fit_s":
        return st["seconds"] - st["fit_s"]
    return st[key]


def exponents(rows, last=False):
    """{label: exponent b of quantity ~ series^b} by least squares on logs over all sizes, or
    (``last``) between the two largest, where fixed costs weigh least (None: < 2 sizes)."""
    import numpy as np

    rows = rows[-2:] if last else rows
    x = np.log([r["series"] for r in rows])
    out = {}
    for label, stage, key in QUANTITIES:
        y = np.array([value(r, stage, key) for r in rows], dtype=float)
        ok = y > 0
        out[label] = float(np.polyfit(x[ok], np.log(y[ok]), 1)[0]) if ok.sum() > 1 else None
    return out


def m5_tables(rows):
    head = ["series", "points", "frame MB", "gen s", "fit budget s", "fit s", "epochs", "steps"]
    head += ["train windows", "peak RSS fit MB", "predict s", "predict_at s", "backtest s"]
    lines = [
        [
            r["series"],
            r["points"],
            r["frame_mb"],
            r["gen_s"],
            r["fit_time"],
            r["stages"]["fit"]["seconds"],
            r["stages"]["fit"]["epochs"],
            r["stages"]["fit"]["steps"],
            r["stages"]["fit"]["windows"],
            r["stages"]["fit"]["peak_mb"],
            r["stages"]["predict"]["seconds"],
            r["stages"]["predict_at"]["seconds"],
            r["stages"]["backtest"]["seconds"],
        ]
        for r in rows
    ]
    peaks = common.table(
        ["stage", *[f"{r['series']:,} series" for r in rows]],
        [
            [f"{st} peak RSS MB (above base)"]
            + [
                f"{r['stages'][st]['peak_mb']:,.0f} ({r['stages'][st]['peak_mb'] - r['base_mb']:,.0f})"
                for r in rows
            ]
            for st in ("fit", "predict", "predict_at", "backtest")
        ],
    )
    exps, tops = exponents(rows), exponents(rows, last=True)
    top = f"exponent {rows[-2]['series']:,}->{rows[-1]['series']:,}" if len(rows) > 1 else "-"
    loglog = common.table(
        ["quantity", *[f"{r['series']:,}" for r in rows], "exponent (all sizes)", top],
        [
            [label, *[value(r, st, k) for r in rows], exps[label], tops[label]]
            for label, st, k in QUANTITIES
        ],
    )
    return "\n\n".join([common.table(head, lines), peaks, loglog])


def plot(rows, path):
    """Log-log plot of the quantities against the number of series, with a slope-1 guide."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    s = np.array([r["series"] for r in rows], dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    panels = (
        ("seconds", [q for q in QUANTITIES if " s" in q[0] and "per CPU" not in q[0]]),
        ("MB", [q for q in QUANTITIES if q[0].endswith("MB")]),
    )
    for ax, (unit, qs) in zip(axes, panels):
        for label, st, k in qs:
            y = np.array([value(r, st, k) for r in rows], dtype=float)
            ax.loglog(s, y, "o-", label=label)
        ref = ax.get_ylim()
        ax.loglog(s, ref[0] * 2 * s / s[0], "k:", label="slope 1 (linear)")
        ax.set_xlabel("series (1,900 daily points each)")
        ax.set_ylabel(unit)
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("M5-sized panel: growth with the number of series (log-log)")
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


if __name__ == "__main__":
    common.main_or_child(main, child)
