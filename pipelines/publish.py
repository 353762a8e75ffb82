"""What a user reads of a run in the MLflow and Prefect UIs: names, descriptions, the HTML report,
links both ways. Prefect tasks, each one call into :mod:`pipelines.describe` (words and tables),
:mod:`pipelines.report` (the HTML file), :mod:`pipelines.links` and the MLflow adapter.

``flow_run_name_*``: the flows' ``flow_run_name`` callables (``train-airpassengers-h12``).
``open_run``: a flow's MLflow run, opened with its parameters, each side tagged with the other.
``describe_train``, ``describe_forecast``, ``describe_backtest``: each flow's one publish step: the
run's description (MLflow note), the train run's ``report.html``, registry descriptions, the
forecast flow's parameters and plot, and a Prefect markdown artifact.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from prefect import task

from forecast.evaluation.selection import REFERENCE
from forecast.metrics import relative

from . import describe, links, plots, registry, report, runs, search_board, store, tracking
from .retries import io_options, retried
from .secrets import redact

REPORT = "report.html"


# ---------------------------------------------------------------------------------- Prefect names
def _parameters():
    from prefect.runtime import flow_run

    return flow_run.get_parameters() or {}


def _data_label(p):
    source = p.get("source") or {}
    data = getattr(source, "data", None) or (
        source.get("data") if isinstance(source, dict) else None
    )
    return describe.data_label(data or "data")


def flow_run_name_train():
    p = _parameters()
    return f"train-{_data_label(p)}-h{p.get('horizon', '?')}"


def flow_run_name_forecast():
    p = _parameters()
    version = p.get("version")
    return f"forecast-{_data_label(p)}" + (f"-v{version}" if version else "")


def flow_run_name_backtest():
    p = _parameters()
    return f"backtest-{_data_label(p)}-{p.get('n_windows', '?')}w"


@contextlib.contextmanager
def open_run(flow, data, params, **name):
    """A flow's MLflow run (``runs.run``) named ``describe.run_name(flow, data, **name)``, with
    ``params`` and the tags ``forecast.flow``/``forecast.data``, linked both ways to the Prefect
    flow run (``links.link_runs``) as soon as it opens."""
    tags = {"forecast.flow": flow, "forecast.data": data}
    with runs.run(describe.run_name(flow, data, **name), params=params, tags=tags) as run:
        retried(links.link_runs, run.run_id)
        yield run


# ---------------------------------------------------------------------------------- tasks
@task(name="describe-train-run", **io_options())
def describe_train(run_id, facts, selected, holdout, fitted, promotion, seen, df, model_name):
    """The train run's description, ``report.html``, the hold-out forecast plot, the hold-out
    figures on the chosen candidate's and the reference's runs, the registry's descriptions and a
    Prefect artifact. Returns the links ({label: url}; the runs table set up as a leaderboard
    under ``describe.LEADERBOARD``).

    ``facts``: data, n_series, horizon, metric, best, val_size, n_windows; ``selected``,
    ``holdout``, ``fitted``: ``tasks.Selected`` / ``Compared`` / ``Fitted``; ``promotion``:
    ``registry.PromotionResult``.
    """
    if run_id is None:
        return None
    best, metric = facts["best"], facts["metric"]
    selection, children, model = selected.result, selected.children, fitted.model
    model_bt, naive_bt = holdout.model, holdout.naive
    tracking.log_forecast_plot(
        seen, model_bt.forecasts, df, run_id=run_id, artifact_file="holdout_forecast.png"
    )
    model_scores, naive_scores = _scores(model_bt, naive_bt), _scores(naive_bt, naive_bt)
    for name, scores in ((best, model_scores), (REFERENCE, naive_scores)):
        if name in children:
            runs.log_metrics({f"holdout_{k}": v for k, v in scores.items()}, run_id=children[name])
    board = getattr(selection, "table", None)  # an Optuna search's trials (pipelines.search)
    if board is None:
        board = describe.leaderboard_table(selection.leaderboard, metric)
    search = getattr(selection, "summary", None)
    if search:
        note = search_board.note(search)
        facts = facts | {"board_title": SEARCH_TITLE, "board_note": note, "board_rows": 10}
    holdout = describe.holdout_table(best, model_scores, naive_scores)
    where = _links(run_id, model_name, promotion.version if promotion else None)
    score = f"val_{search['metric']}" if search else None
    where[describe.LEADERBOARD] = store.leaderboard_view(metric, run_id, score=score)
    if facts.get("val_size"):
        recurrent = [rid for name, rid in children.items() if name != REFERENCE]
        where["validation curves of every candidate"] = links.curves_url(recurrent, ("val_loss",))
    reason = promotion.reason if promotion else "not registered (tracking off)"
    figures = _train_figures(selection, model_bt, naive_bt, model, fitted.grad, seen, df, best)
    figures |= getattr(selection, "figures", {})  # a search's history and importances
    html = report.train_report(runs_run_name(run_id), facts, board, holdout, reason, figures, where)
    store.client().log_text(run_id, html, REPORT)
    note = describe.train_description(facts, board, holdout, reason, where)
    runs.set_note(run_id, note)
    if promotion is not None:
        registry.describe(
            model_name,
            promotion.version,
            describe.registry_description(model_name, metric, CHAMPION_RULE),
            describe.version_description(
                facts,
                {"model": model_scores.get(metric), "seasonal_naive": naive_scores.get(metric)},
                reason,
            ),
            registry.scope_tags(model, facts["data"], facts.get("columns")),
        )
    _artifact(
        "train-summary", f"## {runs_run_name(run_id)}\n\n{note}", f"train run of {facts['data']}"
    )
    return where


SEARCH_TITLE = (
    "Optuna search: trials by validation MASE, best first (seasonal naive ranked among them)"
)
CHAMPION_RULE = (
    "moves to a new version only when its hold-out metric beats the champion's, re-scored on the "
    "same hold-out, and only between models of the same series"
)


@task(name="describe-forecast-run", **io_options())
def describe_forecast(run_id, model_name, version, data, history, fc, path):
    """The forecast run's parameters, forecast plot (the end of ``history``, then ``fc``),
    description and a Prefect artifact."""
    if run_id is None:
        return None
    params = {
        "data": data,
        "model_name": model_name,
        "model_version": version,
        "path": path,
        "rows": len(fc),
    }
    runs.log_params(params, run_id)
    tracking.log_forecast_plot(history, fc, run_id=run_id)
    from forecast.data.frames import ID

    n_series = int(fc[ID].nunique())
    where = _version_links(run_id, model_name, version)
    note = describe.forecast_description(
        model_name, version, data, len(fc), path, n_series, len(fc) // max(n_series, 1), where
    )
    return _publish_note(run_id, note, "forecast-summary", f"forecast of {data}")


@task(name="describe-backtest-run", **io_options())
def describe_backtest(run_id, model_name, version, params, metric, model_score, naive_score):
    """The backtest run's parameters (``params``: data, n_windows, season_length, max_epochs),
    description and a Prefect artifact."""
    if run_id is None:
        return None
    data, n_windows = params["data"], params["n_windows"]
    runs.log_params({"model_name": model_name, "model_version": version} | params, run_id)
    where = _version_links(run_id, model_name, version)
    note = describe.backtest_description(
        model_name, version, data, n_windows, metric, model_score, naive_score, where
    )
    return _publish_note(run_id, note, "backtest-summary", f"backtest of {data}")


# ---------------------------------------------------------------------------------- helpers
def _version_links(run_id, model_name, version):
    return {
        "MLflow run": links.run_url(run_id),
        f"{model_name} v{version}": links.version_url(model_name, version),
    }


def _publish_note(run_id, note, key, what):
    """``note`` as the run's description and as a Prefect markdown artifact ``key``."""
    runs.set_note(run_id, note)
    _artifact(key, f"## {runs_run_name(run_id)}\n\n{note}", what)
    return note


def runs_run_name(run_id):
    return store.client().get_run(run_id).info.run_name


def _scores(result, reference):
    """The aggregate metrics of a backtest, OWA against ``reference`` included."""
    scores = {k: float(v) for k, v in result.aggregate.items()}
    with contextlib.suppress(KeyError):  # sMAPE or MASE not scored
        scores["owa"] = float(relative("owa", result.aggregate, reference.aggregate))
    return scores


def _links(run_id, model_name, version):
    out = {"report": links.artifact_url(run_id, REPORT), "MLflow run": links.run_url(run_id)}
    if version is not None:
        out[f"{model_name} v{version}"] = links.version_url(model_name, version)
    prefect = links.prefect_run()
    if prefect and prefect.get("url"):
        out[f"Prefect flow run {prefect['name']}"] = prefect["url"]
    return out


def _train_figures(selection, model_bt, naive_bt, model, grad, seen, df, best):
    """{caption: figure} of the report, in the order shown."""
    comparison = plots.by_step_table(model_bt.by_step, model_bt.forecasts)
    naive_steps = plots.by_step_table(naive_bt.by_step, naive_bt.forecasts)
    if comparison is not None and naive_steps is not None:
        comparison = (
            comparison[["step", "mae"]]
            .rename(columns={"mae": f"{best} MAE"})
            .merge(
                naive_steps[["step", "mae"]].rename(columns={"mae": "seasonal naive MAE"}),
                on="step",
            )
        )
    curves = {
        name: r.backtest.histories[-1].to_frame()
        for name, r in selection.results.items()
        if r.backtest is not None and r.backtest.histories
    } | dict(getattr(selection, "curves", {}))  # a search's best trials'
    if getattr(model, "history_", None) is not None:
        curves[f"{best} (final, all data)"] = model.history_.to_frame()
    return {
        "Hold-out forecast (history, actual, forecast)": plots.forecast_figure(
            seen, model_bt.forecasts, df
        ),
        "Hold-out error by horizon: the model's MAE beside seasonal naive's": plots.horizon_figure(
            comparison, title="hold-out", metrics=(f"{best} MAE", "seasonal naive MAE")
        )
        if comparison is not None
        else None,
        "Training curves by epoch (solid: train loss, dashed: validation "
        "loss)": plots.curves_figure(curves),
        "Gradient through time (vanishing gradients fall toward early steps)": _gradient_png(
            grad, model
        ),
    }


def _gradient_png(grad, model):
    if grad is None:
        return None
    from forecast.evaluation.diagnostics import plot_gradient_through_time

    with tempfile.TemporaryDirectory() as tmp:
        path = plot_gradient_through_time(
            {model.cell: grad}, Path(tmp) / "g.png", title="gradient through time"
        )
        return Path(path).read_bytes()


def _artifact(key, markdown, description):
    """A Prefect markdown artifact on the current flow run (none outside Prefect)."""
    if links.prefect_run() is None:
        return None
    from prefect.artifacts import create_markdown_artifact

    return create_markdown_artifact(markdown=redact(markdown), key=key, description=description)
