"""Prefect flows: they only sequence the tasks of ``pipelines.tasks``.

``train``     load -> validate -> model selection (one task per candidate, run concurrently) ->
              hold-out backtest against seasonal naive -> fit the winner on all data -> log to
              MLflow -> re-score the current champion's settings on the same hold-out ->
              register and promote -> forecast with the champion.
``forecast``  load the latest data -> load the champion -> check the data matches it -> predict
              -> write the forecasts atomically (and optionally to SQL) -> log the run.
``backtest``  rolling-origin backtest of the champion's settings (refitted per window) against
              seasonal naive, logged to MLflow.

Parameters are plain values with type hints; Prefect validates them at the flow boundary
(``Flow.validate_parameters``), so a bad cell name or a negative horizon fails before any work.
The task runner is chosen by :func:`with_runner` (threads by default, or Dask).
"""

from __future__ import annotations

from typing import Annotated, Literal

from prefect import flow
from pydantic import Field

from forecast import choices
from forecast.training.stopping import stop_fits_on

from . import budget, config, describe, io, publish, registry, runs, store, tasks

# The choice lists are the library's own (forecast.choices), so a bad name fails here, at the flow boundary.
Cell = Literal[choices.CELLS]
Head = Literal[choices.HEADS]
Metric = Literal[choices.RANKING_METRICS]
Format = Literal[io.FORMATS]
Fill = Literal[choices.FILLS]  # None: a NaN target is an error
Scaler = Literal[choices.SCALERS]
WindowNorm = Literal[choices.names(choices.WINDOW_NORMS)]  # "none": TOML has no null
Loss = Literal[choices.LOSSES]
Positive = Annotated[int, Field(ge=1)]
PositiveFloat = Annotated[float, Field(gt=0)]
Name = Annotated[str, Field(min_length=1)]


@flow(name="train", flow_run_name=publish.flow_run_name_train, log_prints=True)
def train(
    data: Name = "airpassengers",
    table: str | None = None,
    id_col: Name = "unique_id",
    time_col: Name = "ds",
    target_col: Name = "y",
    lookback: Positive | None = None,  # None: inferred from the data (pipelines.budget.windows)
    horizon: Positive = 12,
    cells: Annotated[list[Cell], Field(min_length=1)] = ["lstm", "gru"],  # noqa: B006 - Prefect copies parameters
    bidirectional: Annotated[list[bool], Field(min_length=1)] = [False, True],  # noqa: B006
    hidden_sizes: Annotated[list[Positive], Field(min_length=1)] = [16],  # noqa: B006
    heads: Annotated[list[Head], Field(min_length=1)] = ["direct"],  # noqa: B006
    window_norms: Annotated[list[WindowNorm], Field(min_length=1)] = ["last", "es"],  # noqa: B006
    past_covariates: list[str] = [],  # noqa: B006 - columns of the data known up to each origin
    future_covariates: list[str] = [],  # noqa: B006 - columns known ahead (prices, promotions, holidays)
    static_covariates: list[str] = [],  # noqa: B006 - columns constant within each series
    calendar: bool = False,
    fill: Fill = None,  # NaN targets: an error unless filled per series
    scaler: Scaler = "standard",
    max_epochs: Positive | None = None,  # None: scaled to the data (about 2,000 steps a fit)
    max_time: Annotated[float, Field(ge=0)]
    | None = None,  # job's training seconds; None: picked, 0: none
    loss: Loss = "mae",
    learning_rate: PositiveFloat | None = None,  # None: the estimator's default
    batch_size: Positive | None = None,  # None: scaled to the data (16 to 256)
    n_windows: Positive = 2,
    val_size: Annotated[int, Field(ge=0)]
    | None = None,  # candidates' validation tail (None: horizon; 0: none)
    season_length: Positive | None = None,  # None: inferred from the data's frequency
    quantiles: list[Annotated[float, Field(gt=0, lt=1)]] = [],  # noqa: B006 - quantile heads (pinball loss)
    level: list[Annotated[float, Field(gt=0, lt=100)]] = [],  # noqa: B006 - conformal interval levels, percent
    metric: Metric = "mase",
    device: str = "auto",
    seed: Annotated[int, Field(ge=0)] = 0,
    tracking_uri: str | None = None,
    experiment: Name = "forecast",
    model_name: Name
    | None = None,  # None: forecaster-<data name> (pipelines.registry.model_name_for)
    output_dir: Name = "outputs/forecasts",
    output_format: Format = "parquet",
) -> dict:
    """Select, train, evaluate, register and promote a recurrent forecaster; forecast with the champion.

    Every candidate fit holds back the last ``val_size`` points of each series (default: the
    horizon) to log a validation loss per epoch; the hold-out fit and the final fit of the chosen
    settings train on all the data they are given (``val_size=0``), as the registered model does.

    Returns
    -------
    dict: run_id, version, promoted, reason, champion_version, champion_run_id (the run that
    logged the champion, not necessarily this one), forecast_version (the champion's, or this
    run's version when the champion covers other series), runs_url (the UI's runs table), best, leaderboard (list of
    {candidate, <metric>}), holdout ({model, seasonal_naive} by metric), forecast_path (None, with
    forecast_error saying why, when the forecast step failed after registration).
    """
    parameters = dict(locals())  # the flow's parameters, before any other name is bound
    stop_fits_on()  # a served run cancelled by Prefect (SIGTERM) stops its fits at their next step
    uri = tasks.configure_tracking(
        tracking_uri, experiment
    )  # first: an unreachable server fails in seconds
    model_name = model_name or registry.model_name_for(data, table)
    df, win = training_history(parameters)
    lookback, season_length = win.lookback, win.season_length
    print(f"from the data: {win.describe(horizon)}")
    val_size = horizon if val_size is None else val_size
    seen = tasks.split_holdout(
        df, horizon
    )  # the last horizon of each series stays unseen by selection
    job = budget.announce(job_plan(parameters, seen, win))
    grid = tasks.make_candidates(
        cells,
        bidirectional,
        hidden_sizes,
        heads,
        window_norms,
        lookback=lookback,
        horizon=horizon,
        loss=loss,
        max_time=job.candidate_seconds,
        **_given(max_epochs=max_epochs, learning_rate=learning_rate, batch_size=batch_size),
        past_covariates=tuple(past_covariates),
        future_covariates=tuple(future_covariates),
        static_covariates=tuple(static_covariates),
        calendar=calendar,
        fill=fill,
        scaler=scaler,
        clip="norm",
        device=device,
        seed=seed,
        season_length=season_length,
        verbose=False,
        val_size=val_size,
        quantiles=tuple(quantiles) or None,
        level=tuple(level) or None,
        interval="conformal" if level else None,
    )
    # The flow's own parameters live under "flow." in MLflow: the estimator's (logged by
    # log_training into the same run) keep their bare names, so a per-fit value never clashes.
    params = {
        "data": data,
        "lookback": lookback,
        "lookback_inferred": win.lookback_inferred,
        "horizon": horizon,
        "frequency": win.freq,
        "n_windows": n_windows,
        "heads": heads,
        "window_norms": window_norms,
        "max_time": job.max_time,
        "max_time_chosen": job.chosen,
        "candidate_val_size": val_size,
        "past_covariates": past_covariates,
        "future_covariates": future_covariates,
        "static_covariates": static_covariates,
        "calendar": calendar,
        "fill": fill,
        "scaler": scaler,
        "season_length": season_length,
        "season_inferred": win.season_inferred,
        "metric": metric,
        "model_name": model_name,
    }
    name = describe.run_name("train", data, horizon)
    with runs.run(name, tags={"forecast.flow": "train", "forecast.data": data}) as run:
        publish.link_runs(run.run_id)
        tasks.log_params(_flow_keys(params | {"candidates": list(grid)}), run.run_id)
        selection = tasks.select(
            grid, seen, n_windows, season_length, metric, run.run_id
        )  # a task per candidate
        best, estimator = tasks.best_candidate(selection, grid)
        # the hold-out and final fits use all their data, and the larger share of the budget
        estimator = tasks.unfitted(estimator, val_size=0, max_time=job.final_seconds)
        tasks.log_params(_flow_keys({"best": best}), run.run_id)
        children = tasks.log_selection(selection, run.run_id, metric)
        model_bt = tasks.run_backtest(
            estimator, df, 1, season_length, metric, name=f"holdout-{best}"
        )
        naive_bt = tasks.run_backtest(
            tasks.seasonal_naive(horizon, season_length),
            df,
            1,
            season_length,
            metric,
            name="holdout-seasonal-naive",
        )
        tasks.log_backtest(model_bt, "holdout", run.run_id)
        tasks.log_backtest(naive_bt, "naive_holdout", run.run_id)
        tasks.log_forecast_plot(
            seen, model_bt.forecasts, run.run_id, actuals=df, artifact_file="holdout_forecast.png"
        )
        model = tasks.fit(estimator, df, run.run_id)
        tasks.log_training(model, data, df, run.run_id)
        grad = tasks.log_gradient_through_time(model, df, run.run_id)
        tasks.log_model(model, run.run_id)
        score = tasks.holdout_score(model_bt, naive_bt, metric)
        tasks.log_metrics(
            {f"holdout_{metric}": score}, run.run_id
        )  # OWA too, for the UI's compare view
        champion = tasks.rescore_champion(model_name, model, df, naive_bt, metric, season_length)
        promotion = tasks.register_and_promote(
            run.run_id, model_name, f"holdout_{metric}", score, model, champion
        )
        facts = {
            "data": data,
            "n_series": int(df["unique_id"].nunique()),
            "horizon": horizon,
            "metric": metric,
            "best": best,
            "val_size": val_size,
            "n_windows": n_windows,
            "frequency": ",".join(sorted({str(f) for f in model.freqs_.values()})),
        }
        where = (
            publish.describe_train(
                run.run_id,
                facts,
                selection,
                children,
                model_bt,
                naive_bt,
                model,
                promotion,
                grad,
                seen,
                df,
                model_name,
            )
            or {}
        )
    print(promotion.reason)
    # the champion forecasts, unless it covers other series: then this run's own version does. The
    # model is trained and registered by now: a forecast that cannot be made (e.g. no future
    # covariate rows yet) fails its own flow run and is reported, not this one.
    state = forecast(
        data=data,
        table=table,
        id_col=id_col,
        time_col=time_col,
        target_col=target_col,
        version=None if promotion.comparable else int(promotion.version),
        tracking_uri=tracking_uri,
        experiment=experiment,
        model_name=model_name,
        output_dir=output_dir,
        output_format=output_format,
        return_state=True,
    )
    fc = (
        state.result()
        if state.is_completed()
        else {"version": None, "path": None, "error": state.message}
    )
    if not state.is_completed():
        print(f"forecast step failed (the model is registered): {state.message}")
    return {
        "run_id": run.run_id,
        "version": promotion.version,
        "promoted": promotion.promoted,
        "reason": promotion.reason,
        "champion_version": registry.champion_version(model_name),
        "champion_run_id": registry.version_run_id(model_name),
        "forecast_version": fc["version"],
        "forecast_error": fc.get("error"),
        "runs_url": store.runs_url(store.experiment_id(), uri),
        "best": best,
        "leaderboard_url": where.get(describe.LEADERBOARD),
        "metric": metric,
        "leaderboard": _board(selection.leaderboard, metric),
        "model_name": model_name,
        "season_length": season_length,
        "lookback": lookback,
        "max_time": job.max_time,
        "holdout": {
            "model": score,
            "seasonal_naive": tasks.holdout_score(naive_bt, naive_bt, metric),
        },
        "forecast_path": fc["path"],
    }


def training_history(params, direct=False):
    """The train flow's opening on its parameters: load the data, set aside the rows without a target
    yet (they are for the forecast flow), validate the history with its covariates, settle the
    season length and lookback (given, or inferred: :func:`pipelines.budget.windows`) and check
    every series is long enough for selection and hold-out. Returns (history, ``budget.Windows``).
    ``direct``: call the tasks' own functions in this process, without Prefect (the CLI's
    pre-flight, which fails in seconds instead of after the server starts)."""
    p = params
    step = (lambda t: t.fn) if direct else (lambda t: t)
    raw = step(tasks.load_data)(
        p["data"], p.get("table"), p["id_col"], p["time_col"], p["target_col"]
    )
    history, _ = step(tasks.set_future_aside)(raw, p["future_covariates"])
    covariates = [*p["past_covariates"], *p["future_covariates"], *p["static_covariates"]]
    names = tasks.column_names(p["id_col"], p["time_col"], p["target_col"])
    df = step(tasks.validate_data)(history, 1, covariates, names, p["fill"])
    horizon = p["horizon"]
    val_size = horizon if p.get("val_size") is None else p["val_size"]
    win = budget.windows(
        df, horizon, p["n_windows"], val_size, p.get("lookback"), p.get("season_length")
    )
    budget.check_lengths(df, win.lookback + horizon * (p["n_windows"] + 1))
    return df, win


def job_plan(params, seen, win):
    """The train job's ``budget.Plan`` on ``seen`` (the data selection sees) and its ``Windows``."""
    p = params
    n_candidates = (
        len(p["cells"])
        * len(p["bidirectional"])
        * len(p["hidden_sizes"])
        * len(p["heads"])
        * len(p["window_norms"])
    )
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


def _flow_keys(params):
    return {f"flow.{k}": v for k, v in params.items()}


def _given(**params):
    """The keyword arguments that are not None (None leaves the estimator's default)."""
    return {k: v for k, v in params.items() if v is not None}


def _board(leaderboard, metric):
    cols = [c for c in ("candidate", metric) if c in leaderboard.columns]
    return leaderboard[cols].to_dict("records")


@flow(name="forecast", flow_run_name=publish.flow_run_name_forecast, log_prints=True)
def forecast(
    data: Name = "airpassengers",
    table: str | None = None,
    id_col: Name = "unique_id",
    time_col: Name = "ds",
    target_col: Name = "y",
    version: Positive | None = None,
    tracking_uri: str | None = None,
    experiment: Name = "forecast",
    model_name: Name | None = None,  # None: forecaster-<data name>, as the train flow registers
    output_dir: Name = "outputs/forecasts",
    output_format: Format = "parquet",
    sql_url: str | None = None,
    sql_table: Name = "forecasts",
    future_data: str | None = None,
) -> dict:
    """Forecast the next horizon of every series with the registered champion (or ``version``).

    A model with future covariates takes their values for the horizon from the rows after each
    series' last observation whose target is empty, or from the CSV/Parquet file ``future_data``
    ([id_col, time_col, *future covariates]).

    Returns
    -------
    dict: version, path (the forecast file), rows, run_id.
    """
    stop_fits_on()  # a served run cancelled by Prefect (SIGTERM) stops its fits at their next step
    stamp = io.run_stamp()
    tasks.configure_tracking(tracking_uri, experiment)
    model_name = model_name or registry.model_name_for(data, table)
    model, used, df, future, names = _registered_model_and_data(
        data, table, id_col, time_col, target_col, model_name, version
    )
    if future_data:
        future = tasks.load_future(future_data, model, id_col, time_col)
    fc = tasks.predict(model, df, future)
    path = tasks.write_forecasts(fc, output_dir, stamp, output_format, names)
    if sql_url:
        tasks.write_sql(fc.assign(run=stamp, model_version=used), sql_url, sql_table, names)
    name = describe.run_name("forecast", data, version=used)
    with runs.run(name, tags={"forecast.flow": "forecast", "forecast.data": data}) as run:
        publish.link_runs(run.run_id)
        tasks.log_params(
            {
                "data": data,
                "model_name": model_name,
                "model_version": used,
                "path": path,
                "rows": len(fc),
            },
            run.run_id,
        )
        tasks.log_forecast_plot(df, fc, run.run_id)
        publish.describe_forecast(run.run_id, model_name, used, data, fc, path)
    print(f"forecast with {model_name} v{used}: {len(fc)} rows -> {path}")
    return {"version": used, "path": path, "rows": len(fc), "run_id": run.run_id}


def _registered_model_and_data(data, table, id_col, time_col, target_col, model_name, version):
    """The opening of the forecast and backtest flows: load the data and the registered model, set
    the future rows aside, validate the history for the model and refuse it when its series or
    frequency differ (before anything is written). Returns (model, version, history, future, names)."""
    raw = tasks.load_data(data, table, id_col, time_col, target_col)
    model, used = tasks.load_model(model_name, version)
    history, future = tasks.set_future_aside(raw, model.layout_.future)
    names = tasks.column_names(id_col, time_col, target_col)
    df = tasks.validate_data(
        history, columns=tasks.model_columns(model), names=names, fill=model.fill
    )
    tasks.check_matches_model(df, model)
    return model, used, df, future, names


@flow(name="backtest", flow_run_name=publish.flow_run_name_backtest, log_prints=True)
def backtest(
    data: Name = "airpassengers",
    table: str | None = None,
    id_col: Name = "unique_id",
    time_col: Name = "ds",
    target_col: Name = "y",
    version: Positive | None = None,
    n_windows: Positive = 3,
    season_length: Positive
    | None = None,  # None: the model's own (inferred from its data's frequency)
    metric: Metric = "mase",
    max_epochs: Positive | None = None,
    tracking_uri: str | None = None,
    experiment: Name = "forecast",
    model_name: Name | None = None,  # None: forecaster-<data name>, as the train flow registers
) -> dict:
    """Rolling-origin backtest of the champion's settings (refitted per window) vs seasonal naive.

    ``max_epochs`` overrides the champion's for the refits (a quicker, rougher backtest).

    Returns
    -------
    dict: version, metric, model and seasonal_naive (aggregate metric), n_windows, run_id.
    """
    stop_fits_on()  # a served run cancelled by Prefect (SIGTERM) stops its fits at their next step
    tasks.configure_tracking(tracking_uri, experiment)
    model_name = model_name or registry.model_name_for(data, table)
    model, used, df, _, _ = _registered_model_and_data(
        data, table, id_col, time_col, target_col, model_name, version
    )
    season_length = season_length or model.season_length_
    name = describe.run_name("backtest", data, version=used)
    with runs.run(name, tags={"forecast.flow": "backtest", "forecast.data": data}) as run:
        publish.link_runs(run.run_id)
        model_bt = tasks.run_backtest(
            tasks.unfitted(model, max_epochs=max_epochs),
            df,
            n_windows,
            season_length,
            metric,
            name=f"champion-{model_name}-v{used}",
        )
        naive_bt = tasks.run_backtest(
            tasks.seasonal_naive(model.horizon, season_length),
            df,
            n_windows,
            season_length,
            metric,
            name="seasonal-naive",
        )
        tasks.log_params(
            {
                "data": data,
                "model_name": model_name,
                "model_version": used,
                "n_windows": n_windows,
                "season_length": season_length,
                "max_epochs": max_epochs or model.max_epochs_,
            },
            run.run_id,
        )
        tasks.log_backtest(model_bt, "backtest", run.run_id)
        tasks.log_backtest(naive_bt, "naive_backtest", run.run_id)
        out = {
            "version": used,
            "metric": metric,
            "model": tasks.holdout_score(model_bt, naive_bt, metric),
            "seasonal_naive": tasks.holdout_score(naive_bt, naive_bt, metric),
            "n_windows": n_windows,
            "season_length": season_length,
            "run_id": run.run_id,
        }
        publish.describe_backtest(
            run.run_id,
            model_name,
            used,
            data,
            n_windows,
            metric,
            out["model"],
            out["seasonal_naive"],
        )
    print(
        f"backtest of {model_name} v{used} over {n_windows} windows: {metric} {out['model']:.4g} "
        f"(seasonal naive {out['seasonal_naive']:.4g})"
    )
    return out


FLOWS = {"train": train, "forecast": forecast, "backtest": backtest}


def task_runner(kind="threads", workers=2, address=None):
    """A task runner by name: ``threads`` (ThreadPoolTaskRunner) or ``dask`` (prefect-dask).

    Dask uses the scheduler at ``address`` when given, else a local cluster of ``workers``
    single-threaded worker processes.
    """
    if kind == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if address:
            return DaskTaskRunner(address=address)
        return DaskTaskRunner(
            cluster_class="distributed.LocalCluster",
            cluster_kwargs={
                "n_workers": workers,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": ":0",
            },
        )  # any free port
    raise ValueError(f"task runner must be {' or '.join(map(repr, config.RUNNERS))}, got {kind!r}")


def with_runner(flow_obj, *args, **kwargs):
    """``flow_obj`` with the task runner of :func:`task_runner` (the arguments are that function's)."""
    return flow_obj.with_options(task_runner=task_runner(*args, **kwargs))
