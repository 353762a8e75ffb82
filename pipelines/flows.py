"""Prefect flows: they only sequence the steps of ``pipelines.tasks`` and their neighbours.

``train``     load -> validate -> select (a task per candidate, nested, run concurrently) ->
              hold-out backtest against seasonal naive -> final fit -> register (promoted past
              the champion re-scored on the same hold-out) -> publish -> forecast.
``forecast``  load the latest data and the champion -> validate the data for it -> predict ->
              write the forecasts atomically (and optionally to SQL) -> publish.
``backtest``  load the data and the champion -> validate -> rolling-origin backtest of its
              settings (refitted per window) against seasonal naive -> publish.

Each step keeps its own MLflow record; ``publish`` writes the run's description, report, links.
The data source is one parameter (``parameters.Source``, one form in the Prefect UI); all are
validated at the flow boundary. Task runners: :func:`pipelines.runners.with_runner`.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from pydantic import Field

from forecast.training.stopping import stop_fits_on

from . import budget, ddp_fit, io, io_tasks, openings, publish, tasks
from . import search as optuna
from .data_tasks import split_holdout
from .parameters import (
    Cell,
    Fill,
    Format,
    Head,
    Loss,
    Metric,
    Name,
    NonEmpty,
    Percent,
    Positive,
    PositiveFloat,
    Quantile,
    Scaler,
    Search,
    SearchSpace,
    Seconds,
    Source,
    WindowNorm,
    column_fields,
)

# the train flow's parameters logged as they are (``flow.<name>`` in MLflow), beside resolved ones
LOGGED = ("horizon", "n_windows", "heads", "window_norms", "calendar", "fill", "scaler", "metric")
LOGGED += ("past_covariates", "future_covariates", "static_covariates", "search", "trials")
LOGGED += ("search_space", "nproc")


@flow(name="train", flow_run_name=publish.flow_run_name_train, log_prints=True)
def train(
    source: Source = Source(),  # noqa: B008 - frozen; one form in the Prefect UI
    lookback: Positive | None = None,  # None: inferred from the data (pipelines.budget.windows)
    horizon: Positive = 12,
    cells: Annotated[list[Cell], NonEmpty] = ["lstm", "gru"],  # noqa: B006 - Prefect copies them
    bidirectional: Annotated[list[bool], NonEmpty] = [False, True],  # noqa: B006
    hidden_sizes: Annotated[list[Positive], NonEmpty] = [16],  # noqa: B006
    heads: Annotated[list[Head], NonEmpty] = ["direct"],  # noqa: B006
    window_norms: Annotated[list[WindowNorm], NonEmpty] = ["last", "es"],  # noqa: B006
    past_covariates: list[str] = [],  # noqa: B006 - columns known up to each origin
    future_covariates: list[str] = [],  # noqa: B006 - known ahead (prices, promotions, holidays)
    static_covariates: list[str] = [],  # noqa: B006 - columns constant within each series
    calendar: bool = False,
    fill: Fill = None,  # NaN targets: an error unless filled per series
    scaler: Scaler = "standard",
    max_epochs: Positive | None = None,  # None: scaled to the data (about 2,000 steps a fit)
    max_time: Seconds | None = None,  # the job's training seconds; None: picked, 0: none
    loss: Loss = "mae",
    learning_rate: PositiveFloat | None = None,  # None: the estimator's default
    batch_size: Positive | None = None,  # None: scaled to the data (16 to 256)
    n_windows: Positive = 2,
    search: Search | None = None,  # None or "grid": the candidate grid; "optuna": an Optuna search
    trials: Positive | None = None,  # the search's trials; None: until its share of max_time
    search_space: SearchSpace | None = None,  # "full": loss and log target searched too
    study_storage: str | None = None,  # the search's shared study; None: a temporary journal file
    val_size: Annotated[int, Field(ge=0)] | None = None,  # candidates' tail; None: horizon
    season_length: Positive | None = None,  # None: inferred from the data's frequency
    quantiles: list[Quantile] = [],  # noqa: B006 - quantile heads (pinball loss)
    level: list[Percent] = [],  # noqa: B006 - conformal interval levels, percent
    metric: Metric = "mase",
    device: str = "auto",
    nproc: Positive | None = None,  # > 1: the final fit across that many local DDP processes
    seed: Annotated[int, Field(ge=0)] = 0,
    tracking_uri: str | None = None,
    experiment: Name = "forecast",
    model_name: Name | None = None,  # None: forecaster-<data name> (Source.model_name)
    output_dir: Name = "outputs/forecasts",
    output_format: Format = "parquet",
) -> dict:
    """Select, train, evaluate, register and promote a recurrent forecaster; forecast with the
    champion.

    Selection is the candidate grid (``search`` None or "grid": ``cells`` x ``bidirectional`` x
    ``hidden_sizes`` x ``heads`` x ``window_norms``, backtested over ``n_windows``), or an Optuna
    search (``search="optuna"``: ``trials`` of the library's search space, scored by MASE on the
    last horizon before the hold-out; :mod:`pipelines.search`), whose grid lists go unused;
    ``search_space="full"`` searches the loss and a log target too, in place of ``loss`` and
    ``scaler`` (not the pinball loss of ``quantiles``).

    Every candidate fit holds back the last ``val_size`` points of each series (default: the
    horizon) to log a validation loss per epoch; the hold-out fit and the final fit of the chosen
    settings train on all the data they are given (``val_size=0``), as the registered model does.

    Returns
    -------
    dict: run_id, version, promoted, reason, champion_version, champion_run_id (the run that
    logged the champion, not necessarily this one), forecast_version (the champion's, or this
    run's version when the champion covers other series), runs_url (the UI's runs table), best,
    leaderboard (list of {candidate, <metric>}; a search's: {candidate, mase, state}), holdout
    ({model, seasonal_naive} by metric), forecast_path (None, with forecast_error saying why,
    when the forecast step failed after registration), search (None, or the search's summary:
    trials, complete, pruned, failed, seconds, workers, processes, best, best_value, naive_value).
    """
    parameters = dict(locals())  # the flow's parameters, before any other name is bound
    ddp_fit.check(nproc, device)
    stop_fits_on()  # a served run cancelled by Prefect (SIGTERM) stops its fits at their next step
    uri = io_tasks.configure_tracking(tracking_uri, experiment)  # an unreachable server: seconds
    model_name = model_name or source.model_name()
    df, win = openings.training_history(parameters)
    lookback, season_length = win.lookback, win.season_length
    print(f"from the data: {win.describe(horizon)}")
    val_size = horizon if val_size is None else val_size
    seen = split_holdout(df, horizon)  # the last horizon of each series stays unseen by selection
    job = budget.announce(openings.job_plan(parameters, seen, win))
    common = openings.model_settings(parameters, win, val_size, job.candidate_seconds)
    searching, grid = search == "optuna", {}
    if not searching:
        grid = tasks.make_candidates(
            cells, bidirectional, hidden_sizes, heads, window_norms, **common
        )
    # The flow's own parameters live under "flow." in MLflow: the estimator's (logged by the
    # final fit into the same run) keep their bare names, so a per-fit value never clashes.
    facts = {k: parameters[k] for k in LOGGED} | {
        "data": source.data,
        "columns": column_fields(source),  # remembered by the registered version
        "lookback": lookback,
        "lookback_inferred": win.lookback_inferred,
        "frequency": win.freq,
        "max_time": job.max_time,
        "max_time_chosen": job.chosen,
        "candidate_val_size": val_size,
        "season_length": season_length,
        "season_inferred": win.season_inferred,
        "model_name": model_name,
    }
    logged = openings.flow_keys(facts | ({} if searching else {"candidates": list(grid)}))
    with publish.open_run("train", source.data, logged, horizon=horizon) as run:
        if searching:
            name = f"train-{run.run_id}"
            spec = openings.search_spec(parameters, win, job, common, name, seen)
            chosen = optuna.search(spec, common, seen, run.run_id)
        else:
            chosen = tasks.select(grid, seen, n_windows, season_length, metric, run.run_id)
        # the hold-out and final fits use all their data, and the larger share of the budget
        estimator = tasks.unfitted(chosen.estimator, val_size=0, max_time=job.final_seconds)
        holdout = tasks.compare_with_naive(
            estimator, df, 1, season_length, metric, run.run_id, "holdout", chosen.best
        )
        fitted = tasks.fit(estimator, df, run.run_id, source.data, nproc)
        promotion = tasks.register(
            fitted.model, run.run_id, model_name, metric, holdout, df, season_length
        )
        freqs = sorted({str(f) for f in fitted.model.freqs_.values()})
        facts |= {
            "run_id": run.run_id,
            "n_series": int(df["unique_id"].nunique()),
            "best": chosen.best,
        }
        facts |= {"val_size": val_size, "frequency": ",".join(freqs)}
        where = publish.describe_train(
            run.run_id, facts, chosen, holdout, fitted, promotion, seen, df, model_name
        )
    print(promotion.reason)
    forecasted = _forecast_after_training(source, promotion, parameters, model_name)
    return openings.train_result(
        facts, chosen, holdout, promotion, forecasted, job, where or {}, uri
    )


def _forecast_after_training(source, promotion, parameters, model_name):
    """The forecast flow with the champion, unless it covers other series: then with this run's own
    version. The model is trained and registered by now: a forecast that cannot be made (e.g. no
    future covariate rows yet) fails its own flow run and is reported, not this one."""
    p = parameters
    state = forecast(
        source=source,
        version=None if promotion.comparable else int(promotion.version),
        tracking_uri=p["tracking_uri"],
        experiment=p["experiment"],
        model_name=model_name,
        output_dir=p["output_dir"],
        output_format=p["output_format"],
        return_state=True,
    )
    if state.is_completed():
        return state.result()
    print(f"forecast step failed (the model is registered): {state.message}")
    return {"version": None, "path": None, "error": state.message}


@flow(name="forecast", flow_run_name=publish.flow_run_name_forecast, log_prints=True)
def forecast(
    source: Source = Source(),  # noqa: B008 - frozen; one form in the Prefect UI
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
    io_tasks.configure_tracking(tracking_uri, experiment)
    model_name = model_name or source.model_name()
    opened = openings.registered_model_and_data(source, model_name, version)
    model, used, found, future, source = opened  # source: column names as at training if unset
    if future_data:
        future = io_tasks.load_future(future_data, model, source)
    fc = tasks.predict(model, found.frame, future)
    path = io_tasks.write_forecasts(fc, output_dir, stamp, output_format, found.names)
    if sql_url:
        rows = fc.assign(run=stamp, model_version=used)
        io_tasks.write_sql(rows, sql_url, sql_table, found.names)
    with publish.open_run("forecast", source.data, None, version=used) as run:
        publish.describe_forecast(run.run_id, model_name, used, source.data, found.frame, fc, path)
    print(f"forecast with {model_name} v{used}: {len(fc)} rows -> {path}")
    return {"version": used, "path": path, "rows": len(fc), "run_id": run.run_id}


@flow(name="backtest", flow_run_name=publish.flow_run_name_backtest, log_prints=True)
def backtest(
    source: Source = Source(),  # noqa: B008 - frozen; one form in the Prefect UI
    version: Positive | None = None,
    n_windows: Positive = 3,
    season_length: Positive | None = None,  # None: the model's own (from its data's frequency)
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
    io_tasks.configure_tracking(tracking_uri, experiment)
    model_name = model_name or source.model_name()
    model, used, found, _, source = openings.registered_model_and_data(source, model_name, version)
    season_length = season_length or model.season_length_
    settings = tasks.unfitted(model, max_epochs=max_epochs)
    with publish.open_run("backtest", source.data, None, version=used) as run:
        name = f"{model_name}-v{used}"
        compared = tasks.compare_with_naive(
            settings, found.frame, n_windows, season_length, metric, run.run_id, "backtest", name
        )
        params = {"data": source.data, "n_windows": n_windows, "season_length": season_length}
        params["max_epochs"] = max_epochs or model.max_epochs_
        publish.describe_backtest(
            run.run_id, model_name, used, params, metric, compared.score, compared.naive_score
        )
    print(
        f"backtest of {model_name} v{used} over {n_windows} windows: {metric} {compared.score:.4g} "
        f"(seasonal naive {compared.naive_score:.4g})"
    )
    return {
        "version": used,
        "metric": metric,
        "model": compared.score,
        "seasonal_naive": compared.naive_score,
        "n_windows": n_windows,
        "season_length": season_length,
        "run_id": run.run_id,
    }


FLOWS = {"train": train, "forecast": forecast, "backtest": backtest}
