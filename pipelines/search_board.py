"""What an Optuna search of the train flow shows: its trials as a leaderboard (best first, seasonal
naive's validation MASE ranked among them), their names, curves and a summary.

Pure functions on Optuna's ``FrozenTrial`` objects (read by attribute: ``number``, ``state``,
``value``, ``user_attrs``, ``datetime_start``, ``datetime_complete``) and DataFrames; no mlflow,
no prefect, and optuna is not imported. :mod:`pipelines.search_log` puts them in MLflow.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from forecast.evaluation.selection import REFERENCE

from . import describe

METRIC = "mase"  # a trial's score: MASE on the validation window (forecast.tuning)
STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}
WORKER = "worker"  # the trial's user attribute naming the process that ran it
DEFAULTS = "defaults"  # the user attribute of the trial of RNNForecaster's own defaults
SEARCHED = ("cell", "bidirectional", "hidden_size", "num_layers", "dropout", "lookback")
SEARCHED += ("window_norm", "learning_rate")  # forecast.tuning.space.default_space's settings
ORDER = {"complete": 0, "reference": 0, "pruned": 1, "failed": 2}


def state(trial):
    """complete | pruned | failed (| running | waiting, for a trial a worker left unfinished)."""
    name = getattr(trial.state, "name", str(trial.state))
    return STATES.get(name, name.lower())


def score(trial):
    """The validation MASE of a completed trial, else NaN (a pruned trial's value is a loss)."""
    value = trial.value if state(trial) == "complete" else None
    return float(value) if value is not None and math.isfinite(value) else float("nan")


def settings(trial):
    """The trial's RNNForecaster settings; the defaults trial's with the defaults of the searched
    settings shown (cell, hidden size, ...; ``lookback`` None: the estimator's rule)."""
    params = dict(trial.user_attrs.get("params") or {})
    if not trial.user_attrs.get(DEFAULTS):
        return params
    from forecast.estimator import RNNForecaster

    defaults = RNNForecaster().get_params(deep=False)
    return {k: defaults[k] for k in SEARCHED} | params


def settings_name(params):
    """``gru-bi-h32x2-L36-wes``: cell, directions, hidden size x layers, lookback, window norm;
    then a loss other than MAE and a log target (the full space's ``-smape-log``)."""
    if not params:
        return "unsampled"
    layers = params.get("num_layers", 1)
    scaler = params.get("scaler")
    log = f"-{scaler[0]}" if isinstance(scaler, (list, tuple)) else ""
    loss = f"-{params['loss']}" if params.get("loss", "mae") != "mae" else ""
    return (
        f"{params.get('cell', '?')}{'-bi' if params.get('bidirectional') else ''}"
        f"-h{params.get('hidden_size', '?')}{f'x{layers}' if layers and layers > 1 else ''}"
        f"-L{params.get('lookback', '?')}-w{params.get('window_norm') or 'none'}{loss}{log}"
    )


def trial_name(trial):
    """``trial-7-gru-bi-h32x2-L36-wes``: the trial's number, then its settings (``defaults``:
    RNNForecaster's own, the flow's settings over them)."""
    if trial.user_attrs.get(DEFAULTS):
        return f"trial-{trial.number}-defaults"
    return f"trial-{trial.number}-{settings_name(trial.user_attrs.get('params'))}"


def seconds(trial):
    start, end = trial.datetime_start, trial.datetime_complete
    return (end - start).total_seconds() if start and end else float("nan")


def curve(trial):
    """The trial's per-epoch losses: DataFrame [epoch, train_loss, val_loss] (epochs from 1)."""
    train = trial.user_attrs.get("train_loss") or []
    val = trial.user_attrs.get("val_loss") or [None] * len(train)
    frame = pd.DataFrame({"train_loss": train, "val_loss": val[: len(train)]}, dtype=float)
    return frame.assign(epoch=np.arange(1, len(frame) + 1))[["epoch", "train_loss", "val_loss"]]


def board(trials, naive_score):
    """One row per trial and one for seasonal naive, best first: [rank, candidate, params (JSON),
    mase, state, seconds, epochs, worker, number, reference]. Completed trials and the reference
    rank by validation MASE; pruned, then failed trials follow in their order."""
    rows = [
        {
            "candidate": trial_name(t),
            "params": json.dumps(settings(t), sort_keys=True),
            METRIC: score(t),
            "state": state(t),
            "seconds": seconds(t),
            "epochs": len(t.user_attrs.get("train_loss") or ()),
            WORKER: t.user_attrs.get(WORKER, ""),
            "number": t.number,
            "reference": False,
        }
        for t in trials
    ]
    rows.append(
        {"candidate": REFERENCE, "params": "{}", METRIC: float(naive_score), "state": "reference"}
        | {"seconds": float("nan"), "epochs": np.nan, WORKER: "", "number": -1, "reference": True}
    )
    out = pd.DataFrame(rows)
    out["order"] = out["state"].map(ORDER).fillna(3)
    out = out.sort_values(["order", METRIC, "number"], na_position="last", kind="stable")
    out = out.drop(columns="order").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def table(search_board, chosen):
    """The board as shown (MLflow description, report, ``search/trials.*``): rank, candidate,
    state, the settings that vary, validation MASE, seconds, epochs, and which trial was chosen."""
    out = describe.leaderboard_table(search_board, METRIC)
    out.insert(2, "state", search_board["state"].to_numpy())
    for column in ("seconds", "epochs"):
        out[column] = search_board[column].to_numpy()
    out["chosen"] = np.where(out["candidate"] == chosen, "yes", "")
    return out.rename(columns={METRIC: f"validation {METRIC}"})


def summary(trials, naive_score, best, seconds_taken, workers):
    """Counts and figures of a search: trials, complete, pruned, failed, seconds, workers,
    processes (distinct ``worker`` labels), best (name), best_value, naive_value, metric."""
    states = [state(t) for t in trials]
    processes = sorted({t.user_attrs.get(WORKER) for t in trials} - {None})
    return {
        "trials": len(trials),
        **{s: states.count(s) for s in ("complete", "pruned", "failed")},
        "seconds": float(seconds_taken),
        "workers": int(workers),
        "processes": processes,
        "best": trial_name(best),
        "best_number": best.number,
        "best_value": score(best),
        "naive_value": float(naive_score),
        "metric": METRIC,
    }


def heading(s):
    """One line saying what the search did."""
    return (
        f"Optuna search: {s['trials']} trials ({s['complete']} complete, {s['pruned']} pruned, "
        f"{s['failed']} failed) in {s['seconds']:.0f} s on {s['workers']} worker(s)"
        + (f" ({len(s['processes'])} processes)" if len(s["processes"]) > 1 else "")
    )


def note(s):
    """The words under the trials table: what the validation window is and which trial won."""
    verdict = "beats" if s["best_value"] < s["naive_value"] else "does NOT beat"
    return (
        f"{heading(s)}. Every trial was fitted on each series less its last two horizons and "
        f"scored by MASE on the first of them (the validation window); the second is the "
        f"hold-out, unseen by the search. Chosen: `{s['best']}`, validation MASE "
        f"{describe.number(s['best_value'])}, which {verdict} seasonal naive's "
        f"{describe.number(s['naive_value'])} on the same window. Pruned trials stopped early "
        f"because their validation loss trailed the median of earlier trials at the same epoch."
    )
