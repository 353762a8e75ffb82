"""Accuracy suite: default ``RNNForecaster`` under a fixed CPU time budget, beside published figures
and naive baselines scored by the same code.

Usage (from the repository root)::

    python benchmarks/accuracy.py                       # full suite, 300 s per data set per seed, seeds 0 1 2
    python benchmarks/accuracy.py --quick               # smoke run: 10 s per data set and part, seed 0
    python benchmarks/accuracy.py --quick --allow-dirty # the same on a tree with uncommitted changes
    python benchmarks/accuracy.py --datasets m3,etth1 --seeds 0
    python benchmarks/accuracy.py --model-kwargs '{"cell": "gru"}' --label gru   # an ablation row
    python benchmarks/accuracy.py --markdown-only       # rebuild RESULTS-accuracy.md from results/

The model under test is ``RNNForecaster(horizon=h, max_time=<share of the budget>, seed=s,
verbose=False, **model_kwargs)``: every other parameter at its default, no per-data-set setting
beyond what the data says (horizon; the season length is inferred from the timestamps' frequency,
and passed as ``season_length=m`` only for M3, whose integer time steps carry no frequency).
The protocols' own m (e.g. 1 for M4 Weekly's MASE) is used for scoring only. Protocols and published
figures: ``../shared/data/README.md``.

* ``m4_weekly``: 359 series, h 13, one origin; sMAPE, MASE (m 1), OWA against Naive2 (= naive).
* ``m3``: 3,003 series, one model per frequency group (yearly h 6 m 1, quarterly h 8 m 4,
  monthly h 18 m 12, other h 8 m 1), the budget split by each group's share of forecast points;
  M3 sMAPE (``200|y - y_hat| / (y + y_hat)``) per group and over all points ("all", the figure the
  literature reports; "all_series" is the mean of per-series sMAPEs). ``ds`` is the integer
  position t (``--ds dates`` maps it to a yearly/quarterly/monthly/yearly calendar instead;
  ``auto`` falls back to that when the estimator refuses integer ``ds``).
* ``etth1`` / ``etth2``: 7 variables as 7 series of one model, z-scored with train-segment
  statistics, fitted on rows [0, 11520) (train + validation: the model keeps its own default
  validation), tested from every origin (stride 1) over rows [11520, 14400) with ``predict_at``;
  H 96 and 336 (budget split evenly), m 24; MSE / MAE over all variables, windows and steps.
* ``airpassengers``: the last 12 months held out; sMAPE, MASE (m 12).

Protocol (issue 22): every data set also has a validation part, cut exactly like its test part one
horizon earlier (M4 Weekly, AirPassengers, each M3 group: the last h of the training part; ETT: the
published validation segment, fitted on rows [0, 8640), tested from every origin over rows
[8640, 11520)). Each seed fits twice under the same budget: on the training part minus the
validation part, scored on validation, and on the whole training part, scored on test, with the same
metric code; baselines are scored on both parts too. Decisions (defaults, ablations, search-space
bounds) are taken on validation scores only; test scores are recorded beside them, never to choose.
The suite refuses a tree with uncommitted changes (``git status --porcelain``, ignoring the
benchmarks' own outputs ``results/`` and ``RESULTS*.md``) unless ``--allow-dirty``; every record
carries the full commit, ``dirty`` and the changed files, re-checked when each seed finishes.

Each (label, data set, budget, seed) writes ``results/accuracy-<label>-<data set>-b<budget>-s<seed>.json``,
with ``validation`` and ``test`` blocks (scores, fits, error, fit_s, and the commit that scored the
block; a later run of the same variant scoring only the other part fills the same record), baselines
``results/accuracy-baselines-<data set>.json`` (``baselines``: test, ``validation_baselines``);
``RESULTS-accuracy.md`` is regenerated from every such file present, so runs of other variants
(``--label``) merge into one report; files from before the protocol (top-level ``scores``, test
only) render with validation "—" and are marked pre-protocol.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from forecast import AutoRNNForecaster, RNNForecaster
from forecast.datasets import bundled as fds
from forecast.evaluation.baselines import Naive, SeasonalNaive, naive2
from forecast.metrics import aggregate, owa

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

DATASETS = ("m4_weekly", "m3", "etth1", "etth2", "airpassengers")
RESULTS = common.HERE / "results"
REPORT = common.HERE / "RESULTS-accuracy.md"
RESERVED = ("horizon", "season_length", "max_time", "seed", "verbose")

M3_GROUPS = {
    "YEARLY": (6, 1, "YS"),
    "QUARTERLY": (8, 4, "QS"),
    "MONTHLY": (18, 12, "MS"),
    "OTHER": (8, 1, "YS"),
}
ETT_HORIZONS, ETT_SEASON = (96, 336), 24
ETT_VALIDATION = (fds.ETT_BORDERS[0], fds.ETT_BORDERS[1])  # fitted on rows before, scored inside
ETT_TEST = (fds.ETT_BORDERS[1], fds.ETT_BORDERS[2])
M4_WEEKLY_HORIZON = 13
PARTS = ("validation", "test")
MODEL = {"name": "rnn"}  # --model: "rnn" (RNNForecaster) or "auto" (AutoRNNForecaster)
MODEL_NAMES = {"rnn": "RNNForecaster", "auto": "AutoRNNForecaster"}

METRICS = {
    "m4_weekly": ("smape", "mase", "owa"),
    "m3": (
        "smape_yearly",
        "smape_quarterly",
        "smape_monthly",
        "smape_other",
        "smape_all",
        "smape_all_series",
    ),
    "etth1": ("mse_96", "mae_96", "mse_336", "mae_336"),
    "etth2": ("mse_96", "mae_96", "mse_336", "mae_336"),
    "airpassengers": ("smape", "mase"),
}
HEADLINE = {
    "m4_weekly": "owa",
    "m3": "smape_all",
    "etth1": "mse_96",
    "etth2": "mse_96",
    "airpassengers": "mase",
}

# ../shared/data/README.md; ETTh2 and AirPassengers have no published figures there.
PUBLISHED = {
    "m4_weekly": {
        "Naive2": {"smape": 9.161, "mase": 2.777, "owa": 1.000},
        "Theta": {"smape": 9.093, "mase": 2.637, "owa": 0.971},
        "M4 RNN benchmark": {"smape": 15.220, "mase": 5.132, "owa": 1.755},
        "ES-RNN (Smyl, M4 winner)": {"smape": 7.817, "mase": 2.356, "owa": 0.851},
        "best weekly entry": {"smape": 6.582, "mase": 2.107, "owa": 0.739},
    },
    "m3": {
        "Naive2": {
            "smape_yearly": 17.88,
            "smape_quarterly": 9.95,
            "smape_monthly": 16.91,
            "smape_other": 6.30,
            "smape_all": 15.47,
        },
        "Theta": {
            "smape_yearly": 16.90,
            "smape_quarterly": 8.96,
            "smape_monthly": 13.85,
            "smape_other": 4.41,
            "smape_all": 13.01,
        },
        "N-BEATS": {
            "smape_yearly": 15.93,
            "smape_quarterly": 8.84,
            "smape_monthly": 13.11,
            "smape_other": 4.24,
            "smape_all": 12.37,
        },
    },
    "etth1": {
        "repeat last": {"mse_96": 1.295, "mse_336": 1.330},
        "seasonal naive (24)": {"mse_96": 0.512, "mse_336": 0.650},
        "DLinear": {"mse_96": 0.375, "mse_336": 0.439},
        "PatchTST/64": {"mse_96": 0.370, "mse_336": 0.422},
        "LSTMa (Informer paper)": {"mse_336": 1.424},
    },
}
# Published baselines and the rows of this script's baselines that reproduce them.
CHECKS = {
    "m4_weekly": {"Naive2": "naive2"},
    "m3": {"Naive2": "naive2"},
    "etth1": {"repeat last": "repeat last", "seasonal naive (24)": "seasonal naive (24)"},
}
TARGETS = {
    "m4_weekly": "OWA <= 0.80",
    "m3": "sMAPE all <= 13.0, monthly <= 13.85",
    "etth1": "MSE H96 <= 0.40",
}


PROTOCOL = """## Protocol

Every data set has a validation part cut exactly like its test part, one horizon earlier (M4 Weekly,
M3, AirPassengers: the last horizon of the training part; ETTh1/ETTh2: the published validation
segment, rows [8640, 11520), fitted on rows [0, 8640)). Each seed fits the model twice under the
same budget: on the training part minus the validation part, scored on the validation part, and on
the whole training part, scored on the test part, by the same metric code. **Every decision (a
default, an ablation, a search space's bounds) is taken on the validation columns only; the test
columns are recorded beside them, never used to choose.** Rows marked *pre-protocol* were measured
before this protocol (no validation part, shown as "—"): their labels, the defaults chosen from them
and `RESULTS-accuracy-ablation.md` compared variants on test scores, so their test figures are
selection-biased (optimistic) estimates. Rows marked *dirty* were measured on a tree with
uncommitted changes (`--allow-dirty`); the suite refuses such a tree otherwise.
"""


# ------------------------------------------------------------------ data
def load_data(name, data_dir):
    """Frames of one data set, read from the shared data folder's layout."""
    if name == "m4_weekly":
        folder = data_dir / "m4_weekly"
        frame = fds._m4(folder / "Weekly-train.csv", folder / "Weekly-test.csv")
        train, test = fds.m4_split(frame, M4_WEEKLY_HORIZON)
        return {"train": train, "test": test}
    if name == "m3":
        return read_m3(data_dir / "m3")
    if name in ("etth1", "etth2"):
        frame = fds._ett(data_dir / "ett" / f"ETTh{name[-1]}.csv", multivariate=True)
        scaled, _ = fds.ett_zscore(frame)
        pos = scaled.groupby("unique_id", sort=False).cumcount().to_numpy()
        return {
            "frame": scaled[pos < fds.ETT_BORDERS[2]].reset_index(drop=True),
            "segment": ETT_TEST,
        }
    frame = fds._airpassengers(data_dir / "airpassengers" / "AirPassengers.csv")
    return {
        "train": frame.iloc[:-12].reset_index(drop=True),
        "test": frame.iloc[-12:].reset_index(drop=True),
    }


def cut_last(frame, horizon):
    """(frame without the last ``horizon`` rows of each series, those rows): one origin."""
    return fds.m4_split(frame, horizon)


def validation_data(name, data):
    """The validation part of one data set, in the layout of ``load_data``'s test part.

    Cut exactly like the test part, one horizon earlier: the training part minus its last horizon
    per series is fitted, that last horizon is scored (M3: per group, its own h). ETT: the
    published validation segment, fitted on rows [0, 8640) and tested from every origin over
    rows [8640, 11520); rows from 11520 on are dropped so that no test value is read.
    """
    if name == "m3":
        groups = {}
        for period, (train, _test) in data.items():
            fit, held = cut_last(train, M3_GROUPS[period][0])
            groups[period] = (
                fit,
                {uid: g["y"].to_numpy() for uid, g in held.groupby("unique_id", sort=False)},
            )
        return groups
    if name in ("etth1", "etth2"):
        frame = data["frame"]
        pos = frame.groupby("unique_id", sort=False).cumcount().to_numpy()
        return {
            "frame": frame[pos < ETT_VALIDATION[1]].reset_index(drop=True),
            "segment": ETT_VALIDATION,
        }
    train, test = cut_last(data["train"], M4_WEEKLY_HORIZON if name == "m4_weekly" else 12)
    return {"train": train, "test": test}


def read_m3(folder):
    """M3 as {group: (train long frame [unique_id, ds (int t), y], {uid: test values (h,)})}."""
    meta = pd.read_csv(folder / "m3-meta.csv")
    long = pd.read_csv(folder / "m3-long.csv.gz").sort_values(["id", "t"], kind="stable")
    long = long.rename(columns={"id": "unique_id", "t": "ds", "value": "y"})
    groups = {}
    for period in M3_GROUPS:
        ids = set(meta.loc[meta["period"] == period, "id"])
        part = long[long["unique_id"].isin(ids)]
        train = part[part["split"] == "train"][["unique_id", "ds", "y"]].reset_index(drop=True)
        test = {
            uid: g["y"].to_numpy() for uid, g in part[part["split"] == "test"].groupby("unique_id")
        }
        groups[period] = (train, test)
    return groups


def synthetic_dates(frame, freq):
    """Integer positions t -> a calendar of frequency ``freq`` (the ``--ds dates`` fallback)."""
    start = pd.Timestamp("1900-01-01")
    ds = pd.date_range(start, periods=int(frame["ds"].max()) + 1, freq=freq)
    return frame.assign(ds=ds[frame["ds"].to_numpy()])


# ------------------------------------------------------------------ the model under test
def fit_model(train, horizon, season, seconds, seed, kwargs):
    """Fit the model under test; returns (model, facts about the fit)."""
    common_kw = {"horizon": horizon, "season_length": season, "max_time": seconds, "seed": seed}
    if MODEL["name"] == "auto":
        model = AutoRNNForecaster(**common_kw, **kwargs)
    else:
        model = RNNForecaster(**common_kw, verbose=False, **kwargs)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(train)
    facts = {
        "horizon": horizon,
        "budget_s": seconds,
        "fit_s": time.perf_counter() - t0,
        "epochs": epochs(getattr(model, "history_", None)),
        "season_length_": getattr(model, "season_length_", None),
        "lookback_": getattr(model, "lookback_", None),
        "n_train_windows_": getattr(model, "n_train_windows_", None),
        "warnings": sorted({str(w.message)[:200] for w in caught}),
    }
    if MODEL["name"] == "auto":
        states = model.trials_["state"].value_counts().to_dict()
        facts.update(
            trials=int(len(model.trials_)),
            trial_states={str(k): int(v) for k, v in states.items()},
            best_params=model.best_params_,
            best_validation_mase=model.best_score_,
            naive_validation_mase=model.naive_score_,
        )
    return model, facts


def epochs(history):
    """Epochs trained: an int, or one per member when the history is an ensemble's list."""
    if history is None:
        return None
    if hasattr(history, "records"):
        return len(history.records)
    return [epochs(h) for h in history]


def by_series(fc, ids, horizon):
    """{uid: (horizon,) y_pred} from a forecast frame, in time order."""
    fc = fc.sort_values(["unique_id", "ds"], kind="stable")
    out = {uid: g["y_pred"].to_numpy() for uid, g in fc.groupby("unique_id", sort=False)}
    missing = [u for u in ids if u not in out or len(out[u]) != horizon]
    if missing:
        raise ValueError(
            f"forecast lacks {horizon} steps for {len(missing)} series, e.g. {missing[:3]}"
        )
    return out


# ------------------------------------------------------------------ M4 Weekly
def m4_score(fc, data):
    fc = fc.merge(data["test"], on=["unique_id", "ds"], how="inner")
    if len(fc) != len(data["test"]):
        raise ValueError(f"forecast covers {len(fc)} of {len(data['test'])} test points")
    return aggregate(
        fc, data["train"], ("smape", "mase"), season_length=fds.M4_WEEKLY_SEASON_LENGTH
    )


def m4_with_owa(scores, ref):
    return {**scores, "owa": owa(scores["smape"], scores["mase"], ref["smape"], ref["mase"])}


def m4_baselines(data):
    ref = m4_score(Naive(horizon=M4_WEEKLY_HORIZON).fit(data["train"]).predict(), data)
    return {"naive2": m4_with_owa(ref, ref)}


def m4_run(data, budget, seed, kwargs, ctx):
    model, facts = fit_model(
        data["train"], M4_WEEKLY_HORIZON, None, budget, seed, kwargs
    )  # season: from the weekly dates
    ref = ctx["baselines"][ctx["part"]]["naive2"]
    return m4_with_owa(m4_score(model.predict(), data), ref), [facts]


# ------------------------------------------------------------------ M3
def m3_score(forecasts, groups):
    """M3 sMAPE per group, over all points ("all") and as the mean of per-series sMAPEs.

    Each term is ``200 |y - f| / (|y| + |f|)``: the M3 literature's ``200 |y - f| / (y + f)``
    wherever the forecast is positive (M3 holds positive values only, and the published methods
    forecast positive values), bounded at 200 where it is not. The unbounded original rewards a
    forecast just below ``-y`` with a huge negative term (a validation run scored -8.9 that way);
    such forecasts are counted in ``nonpositive_forecasts``. Records scored before commit
    5275d20 used the original form: where they count non-positive forecasts their
    figures are unreliable in either direction.
    """
    scores, per_series, points = {}, [], []
    for period, (_, test) in groups.items():
        terms = [
            200.0 * np.abs(y - forecasts[uid]) / (np.abs(y) + np.abs(forecasts[uid]))
            for uid, y in test.items()
        ]
        scores[f"smape_{period.lower()}"] = float(np.mean([t.mean() for t in terms]))
        per_series += [t.mean() for t in terms]
        points.append(np.concatenate(terms))
    scores["smape_all"] = float(np.mean(np.concatenate(points)))
    scores["smape_all_series"] = float(np.mean(per_series))
    return scores


def m3_baselines(groups):
    fcs = {"naive2": {}, "seasonal naive": {}, "naive": {}}
    for period, (train, _test) in groups.items():
        h, m, _ = M3_GROUPS[period]
        for uid, g in train.groupby("unique_id", sort=False):
            y = g["y"].to_numpy()
            fcs["naive2"][uid] = naive2(y, h, m)
            fcs["seasonal naive"][uid] = y[len(y) - m + np.arange(h) % m]
            fcs["naive"][uid] = np.full(h, y[-1])
    return {name: m3_score(fc, groups) for name, fc in fcs.items()}


def m3_run(groups, budget, seed, kwargs, ctx):
    weight = {p: len(test) * M3_GROUPS[p][0] for p, (_, test) in groups.items()}  # forecast points
    forecasts, fits = {}, []
    for period, (train, test) in groups.items():
        h, m, freq = M3_GROUPS[period]
        seconds = budget * weight[period] / sum(weight.values())
        model, facts, ds = m3_fit(train, freq, h, m, seconds, seed, kwargs, ctx)
        forecasts.update(by_series(model.predict(), list(test), h))
        fits.append({"group": period, "ds": ds, **facts})
    scores = m3_score(forecasts, groups)
    scores["nonpositive_forecasts"] = int(sum((f <= 0).sum() for f in forecasts.values()))
    return scores, fits


def m3_fit(train, freq, h, m, seconds, seed, kwargs, ctx):
    """Integer ds first (``--ds auto|int``); synthetic dates when asked or when integer ds is refused.

    Returns (model, facts, "int" | "dates")."""
    if ctx["m3_ds"] != "dates":
        try:
            return (*fit_model(train, h, m, seconds, seed, kwargs), "int")
        except ValueError as err:
            if ctx["m3_ds"] == "int" or "ds" not in str(err) or "number" not in str(err):
                raise
            print(f"  integer ds refused ({str(err)[:90]}...); using synthetic dates", flush=True)
            ctx["m3_ds"] = "dates"
    return (*fit_model(synthetic_dates(train, freq), h, m, seconds, seed, kwargs), "dates")


# ------------------------------------------------------------------ ETTh1 / ETTh2
def ett_origins(frame, horizon, segment):
    """Every origin (stride 1) of a segment [a, b): cutoffs at rows [a - 1, b - horizon - 1], series-major."""
    start, end = segment
    ids = frame["unique_id"].unique()
    n = end - start - horizon + 1
    cut_rows = start - 1 + np.arange(n)
    ds = frame["ds"].to_numpy()[:end]
    return pd.DataFrame({"unique_id": np.repeat(ids, n), "cutoff": np.tile(ds[cut_rows], len(ids))})


def ett_score(fc, frame, horizon, segment):
    """MSE and MAE of ``predict_at`` output (origins in :func:`ett_origins` order) over all points."""
    start, end = segment
    ids = frame["unique_id"].unique()
    y = frame["y"].to_numpy().reshape(len(ids), -1)  # (7, rows)
    n = end - start - horizon + 1
    pred = fc["y_pred"].to_numpy().reshape(len(ids), n, horizon)
    if not (fc["unique_id"].to_numpy()[:: n * horizon] == ids).all():
        raise ValueError("predict_at returned origins out of order")
    rows = start + np.arange(n)[:, None] + np.arange(horizon)  # (n, H)
    err = pred - y[:, rows]
    return {f"mse_{horizon}": float(np.mean(err**2)), f"mae_{horizon}": float(np.mean(np.abs(err)))}


def ett_fit_frame(frame, segment):
    """The rows before the scored segment: [0, 8640) for validation, [0, 11520) for test."""
    pos = frame.groupby("unique_id", sort=False).cumcount().to_numpy()
    return frame[pos < segment[0]].reset_index(drop=True)


def ett_baselines(data):
    frame, seg = data["frame"], data["segment"]
    out = {"repeat last": {}, f"seasonal naive ({ETT_SEASON})": {}}
    for h in ETT_HORIZONS:
        origins = ett_origins(frame, h, seg)
        for name, est in (
            ("repeat last", Naive(horizon=h)),
            (f"seasonal naive ({ETT_SEASON})", SeasonalNaive(horizon=h, season_length=ETT_SEASON)),
        ):
            fc = est.fit(ett_fit_frame(frame, seg)).predict_at(frame, origins)
            out[name].update(ett_score(fc, frame, h, seg))
    return out


def ett_run(data, budget, seed, kwargs, ctx):
    frame, seg, scores, fits = data["frame"], data["segment"], {}, []
    for h in ETT_HORIZONS:
        model, facts = fit_model(
            ett_fit_frame(frame, seg), h, None, budget / len(ETT_HORIZONS), seed, kwargs
        )
        t0 = time.perf_counter()
        scores.update(ett_score(model.predict_at(frame, ett_origins(frame, h, seg)), frame, h, seg))
        fits.append({**facts, "predict_at_s": time.perf_counter() - t0})
    return scores, fits


# ------------------------------------------------------------------ AirPassengers
def air_score(fc, data):
    fc = fc.merge(data["test"], on=["unique_id", "ds"], how="inner")
    if len(fc) != 12:
        raise ValueError(f"forecast covers {len(fc)} of 12 test months")
    return aggregate(fc, data["train"], ("smape", "mase"), season_length=12)


def air_baselines(data):
    train, y = data["train"], data["train"]["y"].to_numpy()
    fc = SeasonalNaive(horizon=12, season_length=12).fit(train).predict()
    out = {
        "seasonal naive (12)": air_score(fc, data),
        "naive": air_score(Naive(horizon=12).fit(train).predict(), data),
    }
    out["naive2"] = air_score(fc.assign(y_pred=naive2(y, 12, 12)), data)
    return out


def air_run(data, budget, seed, kwargs, ctx):
    model, facts = fit_model(
        data["train"], 12, None, budget, seed, kwargs
    )  # season: from the monthly dates
    return air_score(model.predict(), data), [facts]


RUNNERS = {
    "m4_weekly": (m4_baselines, m4_run),
    "m3": (m3_baselines, m3_run),
    "etth1": (ett_baselines, ett_run),
    "etth2": (ett_baselines, ett_run),
    "airpassengers": (air_baselines, air_run),
}


# ------------------------------------------------------------------ running
# Outputs of the benchmarks, not inputs of a measurement: their changes leave the tree clean.
NOT_DIRTYING = ("benchmarks/results/", "benchmarks/RESULTS")


def git_state():
    """{"commit": full HEAD, "dirty": bool, "dirty_files": [...]} of the repository.

    Dirty: any change ``git status --porcelain`` lists (tracked or untracked) outside the
    benchmarks' own outputs (``results/`` and the generated ``RESULTS*.md``)."""

    def git(*args):
        out = subprocess.run(["git", *args], capture_output=True, text=True, cwd=common.HERE.parent)
        if out.returncode:
            raise SystemExit(f"git {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    files = [
        line[3:] for line in git("status", "--porcelain", "--untracked-files=all").splitlines()
    ]
    files = [f for f in files if not f.strip('"').startswith(NOT_DIRTYING)]
    return {"commit": git("rev-parse", "HEAD").strip(), "dirty": bool(files), "dirty_files": files}


def refuse_dirty(state):
    """Stop with the changed files named, unless ``--allow-dirty``."""
    shown = "\n  ".join(state["dirty_files"][:20])
    more = len(state["dirty_files"]) - 20
    raise SystemExit(
        f"refusing to measure a dirty tree (commit {state['commit'][:7]}); changed files:\n  {shown}"
        + (f"\n  ... and {more} more" if more > 0 else "")
        + "\ncommit them (results must name the code they measured) or pass --allow-dirty "
        "(rows are then marked dirty in RESULTS-accuracy.md)"
    )


def slug(text):
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "_", text).strip("_") or "default"


def default_label(kwargs):
    return "+".join(f"{k}={v}" for k, v in sorted(kwargs.items())) or "default"


def run_dataset(name, args, kwargs, label, meta):
    """Baselines once per part, then the model for every seed on the validation part (fitted on
    the training part minus it) and on the test part (fitted on the whole training part); each
    seed's record saved as soon as it exists."""
    t0 = time.perf_counter()
    test_data = load_data(name, args.data_dir)
    parts = {"validation": validation_data(name, test_data), "test": test_data}
    baselines_fn, run_fn = RUNNERS[name]
    ctx = {
        "baselines": {part: baselines_fn(data) for part, data in parts.items()},
        "m3_ds": args.ds,
    }
    common.save_json(
        f"accuracy-baselines-{name}",
        {
            "dataset": name,
            "baselines": ctx["baselines"]["test"],
            "validation_baselines": ctx["baselines"]["validation"],
            **meta,
        },
    )
    for part in PARTS:
        print(
            f"{name} {part}: "
            + "; ".join(f"{b} {fmt_scores(s, name)}" for b, s in ctx["baselines"][part].items()),
            flush=True,
        )
    print(f"{name}: data + baselines {time.perf_counter() - t0:.1f} s", flush=True)
    for seed in args.seeds:
        t1, blocks = time.perf_counter(), {}
        for part in args.parts:
            ctx["part"] = part
            blocks[part] = run_part(run_fn, parts[part], args.budget, seed, kwargs, ctx)
        now = git_state()  # the tree may have changed during a long run
        state = {
            "commit": meta["commit"],
            "dirty": meta["dirty"] or now["dirty"] or now["commit"] != meta["commit"],
            "dirty_files": sorted(set(meta["dirty_files"]) | set(now["dirty_files"])),
        }
        if state["dirty"] and not meta["dirty"]:
            print(
                f"  warning: the tree changed during the run ({now['dirty_files'][:5]}, "
                f"HEAD {now['commit'][:7]}); this record is marked dirty",
                flush=True,
            )
        record = {
            "label": label,
            "dataset": name,
            "seed": seed,
            "budget_s": args.budget,
            "quick": args.quick,
            "model": MODEL["name"],
            "model_kwargs": kwargs,
            "protocol": "+".join(args.parts),
            **blocks,
            "wall_s": time.perf_counter() - t1,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **meta,
            **state,
        }
        for block in blocks.values():  # which code scored each part (parts may be merged)
            block.update(commit=state["commit"], dirty=state["dirty"])
        stem = f"accuracy-{slug(label)}-{name}-b{args.budget:g}-s{seed}"
        record = with_earlier_parts(common.HERE / "results" / f"{stem}.json", record)
        common.save_json(stem, record)
        print(
            f"  {label} seed {seed}: "
            + "; ".join(
                f"{part} "
                + (b["error"] or f"{fmt_scores(b['scores'], name)} (fit {b['fit_s']:.1f} s)")
                for part, b in blocks.items()
            )
            + f"; total {record['wall_s']:.1f} s",
            flush=True,
        )


def with_earlier_parts(path, record):
    """``record`` plus the parts that an earlier run of the same variant (label, data set, seed,
    budget, model and its parameters) wrote to ``path`` and this run did not score: a test part
    run after the validation part fills the same record instead of replacing it. Each part keeps
    the commit that scored it; the record is dirty if either was."""
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError):
        return record
    same = ("label", "dataset", "seed", "budget_s", "quick", "model", "model_kwargs")
    kept = [p for p in PARTS if p in earlier and p not in record]
    if not kept or any(earlier.get(k) != record.get(k) for k in same):
        return record
    merged = {**record, **{p: earlier[p] for p in kept}}
    for p in kept:  # records from before per-part commits: the record's own
        merged[p].setdefault("commit", earlier["commit"])
        merged[p].setdefault("dirty", earlier.get("dirty", False))
    merged["protocol"] = "+".join(p for p in PARTS if p in merged)
    merged["dirty"] = any(merged[p]["dirty"] for p in PARTS if p in merged)
    merged["dirty_files"] = sorted(set(record["dirty_files"]) | set(earlier.get("dirty_files", [])))
    return merged


def run_part(run_fn, data, budget, seed, kwargs, ctx):
    """One fit and its scores: {"scores", "fits", "error", "fit_s"}."""
    try:
        scores, fits = run_fn(data, budget, seed, kwargs, ctx)
        error = None
    except Exception as err:  # one failing data set must not take the suite down
        scores, fits, error = {}, [], f"{type(err).__name__}: {err}"
    return {"scores": scores, "fits": fits, "error": error, "fit_s": sum(f["fit_s"] for f in fits)}


def fmt_scores(scores, name):
    return ", ".join(f"{m} {scores[m]:.3f}" for m in METRICS[name] if m in scores)


# ------------------------------------------------------------------ report
def load_records():
    """Runs and baselines from results/; runs from before the protocol (one test part, top-level
    ``scores``) are read as a ``test`` block with no ``validation`` block."""
    runs, baselines = [], {}
    for path in sorted(RESULTS.glob("accuracy-*.json")):
        rec = json.loads(path.read_text())
        if path.name.startswith("accuracy-baselines-"):
            baselines[rec["dataset"]] = rec
        elif "test" in rec or "validation" in rec:  # one part or both
            runs.append(rec)
        elif "scores" in rec:
            block = {k: rec.get(k) for k in ("scores", "fits", "error", "fit_s")}
            runs.append({**rec, "test": block, "pre_protocol": True})
    return runs, baselines


def mean_sd(values):
    """(mean, sample sd with ddof = 1), sd None for one value."""
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return float(np.mean(values)), sd


def summarise(runs):
    """{(dataset, label, budget): {part: {"n": seeds, metric: (mean, sd), "fit_s": ...}, ...}}."""
    groups = {}
    for rec in runs:
        groups.setdefault((rec["dataset"], rec["label"], rec["budget_s"]), []).append(rec)
        rec.setdefault("model", "rnn")
    out = {}
    for key, recs in groups.items():
        row = {
            "errors": [
                f"{part}: {r[part]['error']}"
                for r in recs
                for part in PARTS
                if part in r and r[part].get("error")
            ],
            "ds": sorted(
                {
                    f["ds"]
                    for r in recs
                    for p in PARTS
                    for f in r.get(p, {}).get("fits", [])
                    if "ds" in f
                }
            ),
            "commits": sorted(
                {
                    c["commit"][:7] + ("+" if c.get("dirty") else "")
                    for r in recs
                    for c in [r, *(r[p] for p in PARTS if p in r and "commit" in r[p])]
                }
            ),
            "dirty": any(r.get("dirty") for r in recs),
            "quick": any(r.get("quick") for r in recs),
            "pre_protocol": sum(bool(r.get("pre_protocol")) for r in recs),
            "seeds": len(recs),
            "model": MODEL_NAMES[recs[0]["model"]],
        }
        for part in PARTS:
            ok = [r[part] for r in recs if part in r and not r[part].get("error")]
            stats = {"n": len(ok)}
            for m in METRICS[key[0]] + ("fit_s",):
                values = [
                    b[m] if m == "fit_s" else b["scores"][m]
                    for b in ok
                    if m == "fit_s" or m in b["scores"]
                ]
                if values:
                    stats[m] = mean_sd(values)
            row[part] = stats
        out[key] = row
    return out


def cell(value, digits=3):
    if value is None:
        return "—"
    if isinstance(value, tuple):
        mean, sd = value
        return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd is not None else "")
    return f"{value:.{digits}f}"


def marks(row):
    """The markers of a model row: quick, dirty, pre-protocol."""
    out = [" (quick)" if row["quick"] else ""]
    if row["dirty"]:
        out.append(" *dirty*")
    if row["pre_protocol"]:
        part = (
            ""
            if row["pre_protocol"] == row["seeds"]
            else f" {row['pre_protocol']} of {row['seeds']} seeds"
        )
        out.append(f" *pre-protocol{part}*")
    return "".join(out)


def seeds_cell(row):
    return f"{row['validation']['n']} / {row['test']['n']}"


def dataset_section(name, summary, baselines):
    metrics = METRICS[name]
    headers = ["model", "budget s", "seeds (val / test)"]
    headers += [f"{m} {part}" for m in metrics for part in ("val", "test")] + ["notes"]
    rows = [
        [f"published: {ref}", "", "", *[c for m in metrics for c in ("—", cell(vals.get(m)))], ""]
        for ref, vals in PUBLISHED.get(name, {}).items()
    ]
    rec = baselines.get(name, {})
    val_base = rec.get("validation_baselines", {})
    for base, scores in rec.get("baselines", {}).items():
        val = val_base.get(base, {})
        cells = [c for m in metrics for c in (cell(val.get(m)), cell(scores.get(m)))]
        rows.append([f"this code: {base}", "", "", *cells, ""])
    for (ds, label, budget), row in sorted(summary.items(), key=lambda kv: (kv[0][1], kv[0][2])):
        if ds != name:
            continue
        note = (
            ", ".join(row["commits"])
            + (f"; ds {'/'.join(row['ds'])}" if row["ds"] else "")
            + (f"; {len(row['errors'])} failed: {row['errors'][0][:120]}" if row["errors"] else "")
        )
        fit = "/".join(cell(row[part].get("fit_s"), 0) for part in PARTS)
        cells = [cell(row[part].get(m)) for m in metrics for part in PARTS]
        rows.append(
            [
                f"**{row['model']} {label}**{marks(row)}",
                f"{budget:g}",
                seeds_cell(row),
                *cells,
                f"fit {fit} s; {note}",
            ]
        )
    return f"## {name}\n\n" + table(headers, rows)


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def checks_section(baselines):
    rows = []
    for name, pairs in CHECKS.items():
        ours = baselines.get(name, {}).get("baselines", {})
        for published, mine in pairs.items():
            for m, ref in PUBLISHED[name][published].items():
                if mine in ours and m in ours[mine]:
                    rows.append(
                        [
                            name,
                            published,
                            m,
                            f"{ref:.3f}",
                            f"{ours[mine][m]:.3f}",
                            f"{ours[mine][m] - ref:+.3f}",
                        ]
                    )
    return "## Baselines: this code against the published figures\n\n" + table(
        ["data set", "baseline", "metric", "published", "this code", "difference"], rows
    )


def headline_section(summary, baselines):
    rows = []
    for name in DATASETS:
        m = HEADLINE[name]
        rec = baselines.get(name, {})
        refs = "; ".join(
            f"{b} {cell(rec.get('validation_baselines', {}).get(b, {}).get(m))} / {s[m]:.3f}"
            for b, s in rec.get("baselines", {}).items()
            if m in s
        )
        for (ds, label, budget), row in sorted(summary.items()):
            if ds == name:
                rows.append(
                    [
                        name,
                        m,
                        f"{label}{marks(row)}",
                        f"{budget:g}",
                        seeds_cell(row),
                        cell(row["validation"].get(m)),
                        cell(row["test"].get(m)),
                        ", ".join(row["commits"]),
                        refs,
                        TARGETS.get(name, "beat the baselines"),
                    ]
                )
    return "## Headline\n\n" + table(
        [
            "data set",
            "metric",
            "label",
            "budget s",
            "seeds (val / test)",
            "validation (mean ± sd)",
            "test (mean ± sd)",
            "commit",
            "baselines, this code (val / test)",
            "target (issue 11)",
        ],
        rows,
    )


def machine_line(m):
    return (
        f"{m.get('cpu')}, {m.get('cores_logical')} logical cores, {m.get('memory_gb', '?')} GB; "
        f"torch {m.get('torch')} ({m.get('torch_threads')} threads), numpy {m.get('numpy')}, "
        f"pandas {m.get('pandas')}, Python {m.get('python')}"
    )


def write_report():
    runs, baselines = load_records()
    summary = summarise(runs)
    latest = max(runs, key=lambda r: r.get("finished", ""), default={})
    machine = latest.get("machine")
    parts = [
        "# Accuracy suite (generated by `benchmarks/accuracy.py`; do not edit by hand)\n",
        PROTOCOL,
        "Default `RNNForecaster(horizon=h, max_time=budget share, seed=s)` (season length from the dates; M3: m) on the "
        "development suite, each data set under a wall-clock budget per seed and part on CPU, beside the published "
        "figures (`../shared/data/README.md`, test parts only) and naive baselines scored by the same code. Figures "
        "are mean ± sample sd (ddof = 1) over seeds (sd omitted for one seed); 'seeds' counts the seeds scored on "
        "validation / test; 'quick' rows are smoke runs, not results. The commit column and notes give the "
        "commit(s) measured ('+' and *dirty*: uncommitted changes; before the protocol '+' meant changes under "
        "forecast/ only) and the mean fit time (validation / test). Lower is better everywhere. Protocols: the "
        "script's docstring.\n",
        f"Machine of the latest runs: {machine_line(machine)}\n" if machine else "",
        headline_section(summary, baselines),
        checks_section(baselines),
        *[dataset_section(name, summary, baselines) for name in DATASETS],
        "M3 'smape_all' pools every series and step (the literature's 'all', which weights monthly series by "
        "their 18 steps: Naive2 15.47 and Theta 13.01 are reproduced from the per-group figures only this way); "
        "'smape_all_series' is the plain mean over the 3,003 series.\n",
    ]
    REPORT.write_text("\n\n".join(p.rstrip("\n") for p in parts if p) + "\n")
    return REPORT


# ------------------------------------------------------------------ entry point
def model_class(name):
    return AutoRNNForecaster if name == "auto" else RNNForecaster


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--datasets",
        default=",".join(DATASETS),
        help="comma-separated subset of " + ",".join(DATASETS),
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument(
        "--budget", type=float, default=300.0, help="seconds of fitting per data set per seed"
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: --budget 10, seed 0")
    ap.add_argument(
        "--model",
        choices=tuple(MODEL_NAMES),
        default="rnn",
        help="rnn: RNNForecaster; auto: AutoRNNForecaster (the budget is its search's max_time)",
    )
    ap.add_argument(
        "--parts",
        default=",".join(PARTS),
        help="parts to fit and score: validation,test (both, the protocol) or one of them",
    )
    ap.add_argument(
        "--model-kwargs", default="{}", help="JSON of the model's parameters for a variant"
    )
    ap.add_argument(
        "--label",
        default=None,
        help="name of this variant in the report (default: from the kwargs)",
    )
    ap.add_argument("--data-dir", type=Path, default=common.HERE.parent.parent / "shared" / "data")
    ap.add_argument(
        "--ds",
        choices=("auto", "int", "dates"),
        default="auto",
        help="M3 time column: integer positions, synthetic dates, or integer with fallback",
    )
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--markdown-only", action="store_true", help="only rebuild RESULTS-accuracy.md")
    ap.add_argument(
        "--allow-dirty",
        action="store_true",
        help="measure a tree with uncommitted changes (the rows are marked dirty in the report)",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.budget, args.seeds = 10.0, [0]
    args.datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if not args.parts or set(args.parts) - set(PARTS):
        ap.error(f"--parts must name some of {PARTS}, got {args.parts}")
    unknown = sorted(set(args.datasets) - set(DATASETS))
    if unknown:
        ap.error(f"unknown data set(s) {unknown}; choose from {list(DATASETS)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if not args.markdown_only:
        kwargs = json.loads(args.model_kwargs)
        fixed = sorted(set(kwargs) & set(RESERVED))
        if fixed:
            raise SystemExit(
                f"--model-kwargs may not set {fixed}: the suite sets them from the data and budget"
            )
        MODEL["name"] = args.model
        label = args.label or default_label(kwargs)
        if args.model == "auto" and not args.label:
            label = "auto" + ("+" + label if kwargs else "")
        state = git_state()
        if state["dirty"] and not args.allow_dirty:
            refuse_dirty(state)
        torch.set_num_threads(args.threads)
        meta = {
            "machine": common.machine_info(),
            **state,
            "params": model_class(args.model)(**kwargs).get_params(),
            "argv": sys.argv[1:],
        }
        t0 = time.perf_counter()
        for name in args.datasets:
            run_dataset(name, args, kwargs, label, meta)
        print(f"wall time {time.perf_counter() - t0:.0f} s", flush=True)
    print(f"wrote {write_report()}")


if __name__ == "__main__":
    main()
