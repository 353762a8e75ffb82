"""MLflow records of the train flow's Optuna search: a child run per trial under the train run (its
settings, per-epoch train/validation curve, validation MASE, state and seconds), one for seasonal
naive on the same window, the trials table, and Optuna's optimisation-history and
parameter-importance figures.

Trials run in worker tasks, possibly other processes (Dask), that write only to the study; their
runs are written here after the search, from the study, with the trials' own start and end times.
Like :mod:`pipelines.runs`, nothing is logged when tracking is off; mlflow, optuna and matplotlib
are imported inside the functions.
"""

from __future__ import annotations

import io
import json
import tempfile
import warnings
from pathlib import Path

from forecast.evaluation.selection import REFERENCE

from . import describe, search_board, store
from .runs import current_run_id, log_metrics, log_params, now_ms, set_note
from .selection_log import log_leaderboard

NO_CLOCK = 1e6  # a trial's max_time this large: the search had no budget (pipelines.search)
MIN_IMPORTANCE_TRIALS = 5  # fewer completed trials: importances are noise
HISTORY = "Optuna optimisation history (validation MASE of each trial, best so far)"
IMPORTANCE = "Optuna parameter importances (PED-ANOVA over the completed trials)"


def log_search(trials, board, table, summary, run_id):
    """Log the search into the train run ``run_id``: one child run per trial and one for seasonal
    naive (named as the board's ``candidate``), the trials table as ``search/trials.{csv,json,md}``
    and the summary as ``search/summary.json``. Returns {candidate: child run id} ({} when
    tracking is off)."""
    parent = current_run_id(run_id)
    if parent is None:
        return {}
    client = store.client()
    experiment_id = client.get_run(parent).info.experiment_id
    rows = {int(r["number"]): r for r in board.to_dict("records")}
    children = {}
    for trial in trials:
        row = rows[trial.number]
        children[row["candidate"]] = _trial_run(trial, row, summary, parent, experiment_id)
    ref = board[board["reference"]].iloc[0].to_dict()
    children[REFERENCE] = _reference_run(ref, parent, experiment_id)
    log_leaderboard(board, table, parent, folder="search", name="trials")
    client.log_text(parent, json.dumps(summary, indent=1, default=str), "search/summary.json")
    client.set_tag(parent, "forecast.best_candidate", summary["best"])
    return children


def _ms(when):
    return None if when is None else int(when.timestamp() * 1000)


def _trial_run(trial, row, summary, parent, experiment_id):
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    client, name, state = store.client(), row["candidate"], row["state"]
    chosen = name == summary["best"]
    tags = {
        MLFLOW_PARENT_RUN_ID: parent,
        "forecast.candidate": name,
        "forecast.trial": str(trial.number),
        "forecast.state": state,
        "forecast.worker": str(row[search_board.WORKER]),
        "forecast.rank": str(row["rank"]),
        "forecast.best": str(chosen).lower(),
    }
    start = _ms(trial.datetime_start) or now_ms()
    run_id = client.create_run(experiment_id, run_name=name, start_time=start, tags=tags)
    run_id = run_id.info.run_id
    params = search_board.settings(trial)
    seconds = trial.user_attrs.get("max_time")
    seconds = seconds if seconds is None or seconds < NO_CLOCK else None  # a trial count ends it
    log_params(params | {"trial": trial.number, "max_time": seconds}, run_id)
    _log_curve(search_board.curve(trial), run_id, start, row["seconds"])
    figures = {f"val_{search_board.METRIC}": row[search_board.METRIC], "rank": row["rank"]}
    log_metrics(figures | {"seconds": row["seconds"], "epochs": row["epochs"]}, run_id=run_id)
    set_note(run_id, trial_description(name, row, summary, chosen))
    status = "FINISHED" if state in ("complete", "pruned") else "FAILED"
    client.set_terminated(run_id, status, end_time=_ms(trial.datetime_complete) or now_ms())
    return run_id


def _log_curve(frame, run_id, start_ms, seconds):
    """train_loss / val_loss at step = epoch, each stamped at its share of the trial's time."""
    n = len(frame)
    for record in frame.to_dict("records"):
        when = start_ms + 1000 * seconds * record["epoch"] / n if seconds == seconds else None
        values = {k: record[k] for k in ("train_loss", "val_loss")}
        log_metrics(values, step=int(record["epoch"]), run_id=run_id, timestamp=when)


def _reference_run(row, parent, experiment_id):
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    client = store.client()
    tags = {MLFLOW_PARENT_RUN_ID: parent, "forecast.candidate": REFERENCE}
    tags |= {"forecast.state": "reference", "forecast.rank": str(row["rank"])}
    run_id = client.create_run(experiment_id, run_name=REFERENCE, tags=tags).info.run_id
    log_metrics(
        {f"val_{search_board.METRIC}": row[search_board.METRIC], "rank": row["rank"]}, 0, run_id
    )
    set_note(
        run_id,
        f"**seasonal naive** on the search's validation window: MASE "
        f"{describe.number(row[search_board.METRIC])}, rank {row['rank']} among the trials.\n",
    )
    client.set_terminated(run_id, "FINISHED")
    return run_id


def trial_description(name, row, summary, chosen):
    """A trial run's note: its state, validation MASE beside seasonal naive's, rank, time."""
    metric = search_board.METRIC
    head = f"**{name}** ({row['state']}): rank {row['rank']}" + (" — **chosen**" if chosen else "")
    score = (
        f"Validation {metric.upper()} {describe.number(row[metric])} (seasonal naive "
        f"{describe.number(summary['naive_value'])} on the same window)."
        if row["state"] == "complete"
        else "Pruned: its validation loss trailed the median of earlier trials at the same epoch."
        if row["state"] == "pruned"
        else "Failed: the settings could not be fitted (the flow's log says why)."
    )
    where = f"{describe.number(row['seconds'], 3)} s, {int(row['epochs'])} epoch(s)"
    worker = row[search_board.WORKER]
    where += f", on worker `{worker}`" if worker else ""  # the defaults trial is not labelled
    return f"{head}\n\n{score}\n\n{where}.\n"


def figures(study, run_id=None):
    """Optuna's optimisation history and parameter importances (matplotlib), logged as
    ``search/optimization_history.png`` and ``search/param_importances.png`` (the importances
    also as ``search/param_importances.json``); when they cannot be told (too few completed
    trials) ``search/param_importances.txt`` says why instead. Returns {caption: PNG bytes, or
    the note (str)}."""
    importances, why = param_importances(study)
    out = {HISTORY: _plot("plot_optimization_history", study)}
    out[IMPORTANCE] = why or _plot("plot_param_importances", study)
    parent = run_id and current_run_id(run_id)  # no run: drawn, not logged
    if not parent:
        return out
    client = store.client()
    for caption, name in ((HISTORY, "optimization_history"), (IMPORTANCE, "param_importances")):
        if isinstance(out[caption], bytes):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"{name}.png"
                path.write_bytes(out[caption])
                client.log_artifact(parent, str(path), "search")
        else:
            client.log_text(parent, out[caption] + "\n", f"search/{name}.txt")
    if importances:
        text = json.dumps(importances, indent=1)
        client.log_text(parent, text, "search/param_importances.json")
    return out


def param_importances(study):
    """({parameter: importance}, None), or (None, why not): too few completed trials, or the
    evaluator (Optuna's default, PED-ANOVA; no extra package) cannot tell the parameters apart."""
    import optuna

    complete = optuna.trial.TrialState.COMPLETE
    done = [t for t in study.trials if t.state == complete and t.params]  # not the defaults'
    if len(done) < MIN_IMPORTANCE_TRIALS:
        return None, (
            f"Parameter importances not drawn: {len(done)} completed trial(s) of sampled "
            f"settings, at least {MIN_IMPORTANCE_TRIALS} are needed (more --trials, or a larger "
            f"--max-time)."
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            found = optuna.importance.get_param_importances(study)
        except (ValueError, RuntimeError) as exc:
            return None, f"Parameter importances not drawn: {exc}"
    equal = [str(w.message) for w in caught if "importances will be equal" in str(w.message)]
    if not found or equal:
        return None, f"Parameter importances not drawn: {equal[0] if equal else 'none varied'}"
    return {k: float(v) for k, v in found.items()}, None


def _plot(name, study):
    """One of ``optuna.visualization.matplotlib``'s plots as PNG bytes (the figure closed)."""
    import matplotlib
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    # Optuna sets the ggplot style process-wide (plt.style.use): kept to this figure
    with matplotlib.rc_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExperimentalWarning of the matplotlib backend
        fig = getattr(plots, name)(study).figure
        try:
            fig.set_size_inches(7, 4)
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=100)
            return buf.getvalue()
        finally:
            plt.close(fig)
