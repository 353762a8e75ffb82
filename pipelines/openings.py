"""What the flows do before and after their steps: open on the data (load it, check it once),
size the train job, and gather the train flow's result.

:func:`training_history` is the train flow's opening and the CLI's pre-flight alike (``direct``:
the tasks' own functions, without Prefect); :func:`registered_model_and_data` opens the forecast
and backtest flows.
"""

from __future__ import annotations

from forecast.data.columns import TARGET

from . import budget, data_tasks, describe, io_tasks, registry, search, store
from .parameters import Source


def training_history(params, direct=False):
    """The train flow's opening on its parameters: load the data, set aside the rows without a
    target yet (they are for the forecast flow), check the history with its covariates once
    (``data_tasks.check_data``), settle the season length and lookback (given, or inferred from the
    frequencies found there: :func:`pipelines.budget.windows`) and check every series is long
    enough for selection and hold-out. Returns (history frame, ``budget.Windows``)."""
    p, source = params, Source.model_validate(params["source"])
    search.check(p)
    step = (lambda t: t.fn) if direct else (lambda t: t)
    raw = step(io_tasks.load_data)(source)
    covariates = [*p["past_covariates"], *p["future_covariates"], *p["static_covariates"]]
    found, _ = step(data_tasks.check_data)(
        raw, source, covariates, p["fill"], future_columns=p["future_covariates"]
    )
    horizon = p["horizon"]
    val_size = horizon if p.get("val_size") is None else p["val_size"]
    n_windows = 1 if p.get("search") == "optuna" else p["n_windows"]  # a search: one window
    win = budget.windows(
        found, horizon, n_windows, val_size, p.get("lookback"), p.get("season_length")
    )
    budget.check_lengths(found.frame, win.lookback + horizon * (n_windows + 1))
    return found.frame, win


def job_plan(params, seen, win):
    """The train job's ``budget.Plan`` on ``seen`` (the data selection sees) and its ``Windows``."""
    p = params
    grid = ("cells", "bidirectional", "hidden_sizes", "heads", "window_norms")
    n_candidates = 1
    for key in grid:
        n_candidates *= len(p[key])
    searching = p.get("search") == "optuna"
    return budget.plan(
        seen,
        win.lookback,
        p["horizon"],
        p.get("batch_size"),
        p.get("max_epochs"),
        n_candidates,
        1 if searching else p["n_windows"],
        p.get("max_time"),
        trials=(p.get("trials") or 0) if searching else None,
    )


def model_settings(params, win, val_size, seconds):
    """The ``RNNForecaster`` settings every candidate (or trial) of the train flow shares: the
    flow's parameters, the lookback and season of ``win`` (``budget.Windows``), the candidates'
    validation tail ``val_size`` and training ``seconds``; ``max_epochs``, ``learning_rate`` and
    ``batch_size`` only when given (else the estimator's defaults)."""
    p = params
    given = {k: p[k] for k in ("max_epochs", "learning_rate", "batch_size") if p.get(k) is not None}
    return dict(
        lookback=win.lookback,
        horizon=p["horizon"],
        loss="pinball" if p["quantiles"] else p["loss"],  # quantiles are the pinball loss's levels
        max_time=seconds,
        **given,
        past_covariates=tuple(p["past_covariates"]),
        future_covariates=tuple(p["future_covariates"]),
        static_covariates=tuple(p["static_covariates"]),
        calendar=p["calendar"],
        fill=p["fill"],
        scaler=p["scaler"],
        clip=1.0,  # global-norm clipping at 1.0
        device=p["device"],
        seed=p["seed"],
        season_length=win.season_length,
        verbose=False,
        val_size=val_size,
        quantiles=tuple(p["quantiles"]) or None,
        level=tuple(p["level"]) or None,
        interval="conformal" if p["level"] else None,
    )


def search_spec(params, win, job, settings, study_name, seen):
    """The ``search.Spec`` of the train flow's Optuna search: its share of the budget (``job``, a
    ``budget.Plan``), the workers of the flow's task runner, the trials' fixed ``settings``, its
    space over ``seen`` (the data it searches on)."""
    workers, external = search.workers()
    space = params.get("search_space") or "compact"
    return search.Spec(
        horizon=params["horizon"],
        season_length=win.season_length,
        seconds=job.search_seconds,
        trials=job.trials or None,
        workers=workers,
        storage=params.get("study_storage"),
        study_name=study_name,
        seed=params["seed"],
        fixed=search.fixed_settings(settings, not win.lookback_inferred, space),
        external=external,
        space=space,
        target_min=float(seen[TARGET].min()),
    )


def registered_model_and_data(source, model_name, version):
    """The opening of the forecast and backtest flows: load the data (the id/time/target names left
    unset taken as the registered version was trained: ``io_tasks.columns_as_trained``) and the
    registered model, set the future rows aside and check the history once for the model: its
    columns, and its series and frequencies (refused when they differ, before anything is
    written).
    Returns (model, version, ``History``, future, the source as read)."""
    source = io_tasks.columns_as_trained(source, model_name, version)  # a version tag only
    raw = io_tasks.load_data(source)  # the data's own faults first, then the model's
    model, used = io_tasks.load_model(model_name, version)
    found, future = data_tasks.check_data(raw, source, model=model)
    return model, used, found, future, source


def flow_keys(params):
    """The flow's own parameters as MLflow keys ``flow.<name>`` (the estimator's keep bare
    names)."""
    return {f"flow.{k}": v for k, v in params.items()}


def train_result(facts, selected, holdout, promotion, forecasted, job, where, uri):
    """The train flow's result (see ``pipelines.flows.train``)."""
    model_name, metric, board = facts["model_name"], facts["metric"], selected.result.leaderboard
    search = getattr(selected.result, "summary", None)  # an Optuna search's (pipelines.search)
    scored = search["metric"] if search else metric
    cols = [c for c in ("candidate", scored, "state") if c in board.columns]
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
        "search": search,
    }
