"""Probabilistic forecasts on the development suite: conformal intervals and the quantile head
beside seasonal-naive baselines scored by the same code.

Usage (from the repository root)::

    python benchmarks/probabilistic.py                      # 4 data sets, seeds 0 1 2, 60 s per fit
    python benchmarks/probabilistic.py --seeds 0 --budget 10 --datasets airpassengers   # smoke run
    python benchmarks/probabilistic.py --markdown-only      # rebuild RESULTS-probabilistic.md

Models (every other parameter at its default; ``max_time`` = the budget; levels 80 and 95):

* ``conformal``: ``RNNForecaster(interval="conformal")``: split-conformal intervals around the
  point forecast, calibrated per horizon step on each series' held-out tail (``forecast.probabilistic.conformal``);
* ``quantile head``: ``RNNForecaster(loss="pinball", quantiles=(0.025, 0.1, 0.9, 0.975))`` (pinball loss),
  its 80/95 % intervals read from those levels; ``quantile head + cqr``: the same head
  conformalised (``interval="cqr"``);
* baselines: ``seasonal naive + conformal``: seasonal naive with split-conformal intervals from
  its own absolute errors over the same calibration tail (scaled by each series' standard
  deviation, as the model's scaled frame); ``seasonal naive residual quantiles``: seasonal naive
  plus the per-step quantiles of its signed scaled errors on that tail.

Data (``../shared/data``, protocols as in ``benchmarks/accuracy.py``): M4 Weekly (h 13, test part),
M3 monthly (1,428 series, h 18, integer time steps, m 12), ETTh1 ``OT`` alone (h 96, z-scored,
fitted on rows [0, 11520), every origin of the test rows [11520, 14400) through ``predict_at``),
AirPassengers (last 12 months). Metrics (``forecast.metrics.interval``): coverage and mean width of
the 80/95 % intervals, MSIS of the 95 % interval (scaled like MASE, m of the data), pinball loss
and CRPS on the grid (0.025, 0.1, 0.5, 0.9, 0.975), MASE of the point forecast.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from forecast import RNNForecaster
from forecast.metrics import aggregate
from forecast.probabilistic.conformal import MIN_RESIDUALS

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accuracy  # noqa: E402
import common  # noqa: E402

DATASETS = ("m4_weekly", "m3_monthly", "etth1_ot", "airpassengers")
LEVELS = (80, 95)
GRID = (0.025, 0.1, 0.9, 0.975)
METRICS = ("coverage80", "coverage95", "width80", "width95", "msis95", "pinball", "crps", "mase")
MODELS = {
    "conformal": dict(interval="conformal", level=LEVELS),
    "quantile head": dict(loss="pinball", quantiles=GRID),
    "quantile head + cqr": dict(loss="pinball", quantiles=GRID, interval="cqr", level=LEVELS),
}
REPORT = common.HERE / "RESULTS-probabilistic.md"
ETT_H, ETT_M = 96, 24


def load(name, data_dir):
    """{"train", "test" (or "frame" + "origins"), "h", "m" (model season; None: inferred), "score_m"}."""
    if name == "m4_weekly":
        d = accuracy.load_data("m4_weekly", data_dir)
        return {**d, "h": 13, "m": None, "snaive_m": 52, "score_m": 1}
    if name == "m3_monthly":
        train, test = accuracy.read_m3(data_dir / "m3")["MONTHLY"]
        last = train.groupby("unique_id")["ds"].max()
        rows = [
            pd.DataFrame({"unique_id": u, "ds": last[u] + 1 + np.arange(len(y)), "y": y})
            for u, y in test.items()
        ]
        return {
            "train": train,
            "test": pd.concat(rows, ignore_index=True),
            "h": 18,
            "m": 12,
            "snaive_m": 12,
            "score_m": 12,
        }
    if name == "etth1_ot":
        frame = accuracy.load_data("etth1", data_dir)["frame"]
        frame = frame[frame["unique_id"] == "OT"].reset_index(drop=True)
        return {
            "frame": frame,
            "train": accuracy.ett_fit_frame(frame),
            "origins": accuracy.ett_origins(frame, ETT_H),
            "h": ETT_H,
            "m": None,
            "snaive_m": ETT_M,
            "score_m": ETT_M,
        }
    if name != "airpassengers":
        raise ValueError(f"unknown data set {name!r}; choose from {list(DATASETS)}")
    d = accuracy.load_data("airpassengers", data_dir)
    return {**d, "h": 12, "m": None, "snaive_m": 12, "score_m": 12}


def with_actuals(fc, data):
    """The forecast frame with ``y`` from the test part (or the ETT frame for rolling origins)."""
    truth = data["frame"] if "frame" in data else data["test"]
    out = fc.merge(truth[["unique_id", "ds", "y"]], on=["unique_id", "ds"], how="inner")
    if len(out) != len(fc):
        raise ValueError(f"{len(fc) - len(out)} forecast rows have no actual")
    return out


def score(fc, data):
    truth = data["frame"] if "frame" in data else data["train"]
    return aggregate(with_actuals(fc, data), truth, METRICS, season_length=data["score_m"])


# ------------------------------------------------------------------ baselines (no training)
def snaive_baselines(data):
    """Seasonal naive with conformal intervals and with residual quantiles, from the calibration tail."""
    h, m, train = data["h"], data["snaive_m"], data["train"]
    groups = list(train.groupby("unique_id", sort=False))
    C = (
        h - 1 + max(h, math.ceil(MIN_RESIDUALS / len(groups)))
    )  # forecast.probabilistic.conformal.calibration_size's rule
    scores, spreads, lasts = [], {}, {}
    for uid, g in groups:
        y = g["y"].to_numpy(np.float64)
        spreads[uid] = max(np.std(y[: len(y) - C]), 1e-8)
        lasts[uid] = y
        for p in range(len(y) - C - 1, len(y) - h):  # origins whose horizon lies in the tail
            if p + 1 - m < 0:
                continue
            pred = y[p + 1 + np.arange(h) - m * np.ceil((np.arange(h) + 1) / m).astype(int)]
            scores.append((y[p + 1 : p + 1 + h] - pred) / spreads[uid])
    r = np.array(scores)  # (n, h) signed scaled errors
    n = len(r)
    width = {
        lv: np.sort(np.abs(r), axis=0)[min(math.ceil((n + 1) * lv / 100), n) - 1] for lv in LEVELS
    }
    quant = {q: np.quantile(r, q, axis=0) for q in GRID}
    return width, quant, spreads


def snaive_frames(data, width, quant, spreads):
    """The two baselines' forecast frames over the test points (rolling origins for ETT)."""
    h, m = data["h"], data["snaive_m"]
    rows = []
    if "origins" in data:
        y = data["frame"]["y"].to_numpy(np.float64)
        ds = data["frame"]["ds"].to_numpy()
        pos = {t: i for i, t in enumerate(ds)}
        items = [
            ("OT", y[: pos[c] + 1], ds[pos[c] + 1 : pos[c] + 1 + h])
            for c in data["origins"]["cutoff"]
        ]
    else:
        test = data["test"].groupby("unique_id", sort=False)
        items = [
            (u, g["y"].to_numpy(np.float64), test.get_group(u)["ds"].to_numpy())
            for u, g in data["train"].groupby("unique_id", sort=False)
        ]
    for uid, hist, dates in items:
        point = hist[len(hist) + np.arange(h) - m * np.ceil((np.arange(h) + 1) / m).astype(int)]
        s = spreads[uid]
        conf = {"unique_id": uid, "ds": dates, "y_pred": point}
        qs = dict(conf)
        for lv in LEVELS:
            conf[f"y_lo{lv}"], conf[f"y_hi{lv}"] = point - width[lv] * s, point + width[lv] * s
        for q in GRID:
            lv = round(100 * (1 - 2 * min(q, 1 - q)))
            qs[f"y_{'lo' if q < 0.5 else 'hi'}{lv}"] = point + quant[q] * s
        rows.append((pd.DataFrame(conf), pd.DataFrame(qs)))
    return (
        pd.concat([a for a, _ in rows], ignore_index=True),
        pd.concat([b for _, b in rows], ignore_index=True),
    )


# ------------------------------------------------------------------ the models
def run_model(kind, data, budget, seed):
    model = RNNForecaster(
        horizon=data["h"],
        season_length=data["m"],
        max_time=budget,
        seed=seed,
        verbose=False,
        **MODELS[kind],
    )
    t0 = time.perf_counter()
    model.fit(data["train"])
    fit_s = time.perf_counter() - t0
    level = LEVELS if kind != "conformal" else None
    fc = (
        model.predict_at(data["frame"], data["origins"], level=level)
        if "origins" in data
        else model.predict(level=level)
    )
    ordered = fc[["y_lo95", "y_lo80", "y_pred", "y_hi80", "y_hi95"]].to_numpy()
    crossing = int((np.diff(ordered, axis=1) < 0).sum())
    return score(fc, data), {
        "fit_s": fit_s,
        "crossing": crossing,
        "epochs": len(model.history_.records),
        "lookback_": model.lookback_,
    }


def run(args):
    torch.set_num_threads(args.threads)
    meta = {"machine": common.machine_info(), **accuracy.git_state(), "argv": sys.argv[1:]}
    for name in args.datasets:
        data = load(name, args.data_dir)
        width, quant, spreads = snaive_baselines(data)
        conf, qs = snaive_frames(data, width, quant, spreads)
        base = {
            "seasonal naive + conformal": score(conf, data),
            "seasonal naive residual quantiles": score(qs, data),
        }
        common.save_json(
            f"probabilistic-baselines-{name}", {"dataset": name, "baselines": base, **meta}
        )
        print(
            name, {k: {m: round(v, 3) for m, v in s.items()} for k, s in base.items()}, flush=True
        )
        for seed in args.seeds:
            for kind in args.models:
                scores, facts = run_model(kind, data, args.budget, seed)
                common.save_json(
                    f"probabilistic-{name}-{kind.replace(' ', '_').replace('+', 'and')}-b{args.budget:g}-s{seed}",
                    {
                        "dataset": name,
                        "model": kind,
                        "seed": seed,
                        "budget_s": args.budget,
                        "scores": scores,
                        **facts,
                        **meta,
                    },
                )
                print(
                    f"  {kind} seed {seed}: "
                    + ", ".join(f"{m} {v:.3f}" for m, v in scores.items())
                    + f"; crossing {facts['crossing']}; fit {facts['fit_s']:.0f} s",
                    flush=True,
                )


# ------------------------------------------------------------------ report
def write_report():
    rows, base = {}, {}
    for path in sorted((common.HERE / "results").glob("probabilistic-*.json")):
        rec = json.loads(path.read_text())
        if "baselines" in rec:
            base[rec["dataset"]] = rec["baselines"]
        else:
            rows.setdefault((rec["dataset"], rec["model"], rec["budget_s"]), []).append(rec)
    lines = [
        "# Probabilistic forecasts on the development suite",
        "",
        "Generated by `python benchmarks/probabilistic.py` (see its docstring for the protocol). Mean ± sd "
        "over seeds; baselines are deterministic. Coverage in percent (nominal 80 / 95); MSIS of the 95 % "
        "interval; pinball and CRPS on the grid (0.025, 0.1, 0.5, 0.9, 0.975); lower is better except "
        "coverage (closest to nominal).",
        "",
    ]
    header = "| model | seeds | " + " | ".join(METRICS) + " | crossing |"
    for name in DATASETS:
        if name not in base and not any(k[0] == name for k in rows):
            continue
        lines += [f"## {name}", "", header, "|" + "---|" * (len(METRICS) + 3)]
        for (ds, model, budget), recs in sorted(rows.items()):
            if ds != name:
                continue
            cells = []
            for m in METRICS:
                v = np.array([r["scores"][m] for r in recs])
                cells.append(f"{v.mean():.3f} ± {v.std():.3f}" if len(v) > 1 else f"{v.mean():.3f}")
            seeds = ",".join(str(r["seed"]) for r in recs)
            lines.append(
                f"| {model} ({budget:g} s) | {seeds} | "
                + " | ".join(cells)
                + f" | {sum(r['crossing'] for r in recs)} |"
            )
        for model, s in base.get(name, {}).items():
            lines.append(
                f"| {model} | – | " + " | ".join(f"{s[m]:.3f}" for m in METRICS) + " | – |"
            )
        lines.append("")
    if rows:
        m = next(iter(rows.values()))[0]["machine"]
        lines += [
            f"Machine: {m.get('cpu')}, {m.get('cores_logical')} logical cores, torch {m.get('torch')}, "
            f"{m.get('torch_threads')} thread(s) per run.",
            "",
        ]
    tmp = REPORT.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(REPORT)
    return REPORT


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--datasets",
        default=",".join(DATASETS),
        help="comma-separated subset of: " + ",".join(DATASETS),
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--budget", type=float, default=60.0, help="seconds of training per fit")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-dir", type=Path, default=common.HERE.parent.parent / "shared" / "data")
    ap.add_argument("--markdown-only", action="store_true")
    ap.add_argument(
        "--models", default=",".join(MODELS), help="comma-separated subset of: " + ",".join(MODELS)
    )
    args = ap.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        ap.error(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
    args.datasets = [d for d in args.datasets.split(",") if d]
    unknown = sorted(set(args.datasets) - set(DATASETS))
    if unknown:  # an unknown name used to fall through to AirPassengers
        ap.error(f"unknown data set(s) {unknown}; choose from {list(DATASETS)}")
    if not args.markdown_only:
        run(args)
    print(f"wrote {write_report()}")


if __name__ == "__main__":
    main()
