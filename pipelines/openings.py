"""What the flows do before and after their steps: open on the data (load it, check it once),
size the train job, and gather the train flow's result.

:func:`training_history` is the train flow's opening and the CLI's pre-flight alike (``direct``:
the tasks' own functions, without Prefect); :func:`registered_model_and_data` opens the forecast
and backtest flows.
"""

from __future__ import annotations

from . import budget, data_tasks, describe, io_tasks, registry, store
from .parameters import Source


def training_history(params, direct=False):
    """The train flow's opening on its parameters: load the data, set aside the rows without a
    target yet (they are for the forecast flow), check the history with its covariates once
    (``data_tasks.check_data``), settle the season length and lookback (given, or inferred from the
    frequencies found there: :func:`pipelines.budget.windows`) and check every series is long
    enough for selection and hold-out. Returns (history frame, ``budget.Windows``)."""
    p, source = params, Source.model_validate(params["source"])
    step = (lambda t: t.fn) if direct else (lambda t: t)
    raw = step(io_tasks.load_data)(source)
    covariates = [*p["past_covariates"], *p["future_covariates"], *p["static_covariates"]]
    found, _ = step(data_tasks.check_data)(
        raw, source, covariates, p["fill"], future_columns=p["future_covariates"]
    )
    horizon = p["horizon"]
    val_size = horizon if p.get("val_size") is None else p["val_size"]
    win = budget.windows(
        found, horizon, p["n_windows"], val_size, p.get("lookback"), p.get("season_length")
    )
    budget.check_lengths(found.frame, win.lookback + horizon * (p["n_windows"] + 1))
    return found.frame, win


def job_plan(params, seen, win):
    """The train job's ``budget.Plan`` on ``seen`` (the data selection sees) and its ``Windows``."""
    p = params
    grid = ("cells", "bidirectional", "hidden_sizes", "heads", "window_norms")
    n_candidates = 1
    for key in grid:
        n_candidates *= len(p[key])
    return budget.plan(
        seen,
        win.lookback,
        p["horizon"],
        p.get("batch_size"),
        p.get("max_epochs"),
        n_candidates,
        p["n_windows"],
        p.get("max_time"),
    )


def registered_model_and_data(source, model_name, version):
    """The opening of the forecast and backtest flows: load the data and the registered model, set
    the future rows aside and check the history once for the model: its columns, and its series and
    frequencies (refused when they differ, before anything is written).
    Returns (model, version, ``History``, future)."""
    raw = io_tasks.load_data(source)
    model, used = io_tasks.load_model(model_name, version)
    found, future = data_tasks.check_data(raw, source, model=model)
    return model, used, found, future


def flow_keys(params):
    """The flow's own parameters as MLflow keys ``flow.<name>`` (the estimator's keep bare
    names)."""
    return {f"flow.{k}": v for k, v in params.items()}


def train_result(facts, selected, holdout, promotion, forecasted, job, where, uri):
    """The train flow's result (see ``pipelines.flows.train``)."""
    model_name, metric, board = facts["model_name"], facts["metric"], selected.result.leaderboard
    cols = [c for c in ("candidate", metric) if c in board.columns]
    return {
        "run_id": facts["run_id"],
        "version": promotion.version,
        "promoted": promotion.promoted,
        "reason": promotion.reason,
        "champion_version": registry.champion_version(model_name),
        "champion_run_id": registry.version_run_id(model_name),
        "forecast_version": forecasted["version"],
        "forecast_error": forecasted.get("error"),
        "runs_url": store.runs_url(store.experiment_id(), uri),
        "best": selected.best,
        "leaderboard_url": where.get(describe.LEADERBOARD),
        "metric": metric,
        "leaderboard": board[cols].to_dict("records"),
        "model_name": model_name,
        "season_length": facts["season_length"],
        "lookback": facts["lookback"],
        "max_time": job.max_time,
        "holdout": {"model": holdout.score, "seasonal_naive": holdout.naive_score},
        "forecast_path": forecasted["path"],
    }
