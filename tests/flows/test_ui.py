"""What a user sees in the MLflow and Prefect UIs: run names, descriptions, validation curves per
epoch, each candidate's figures and rank, the HTML report, registry descriptions, Prefect names,
tags and artifacts linking to MLflow, and plots that show every line they name.

The end-to-end checks read the session's one train flow run (``trained`` in conftest) back through
MlflowClient and Prefect's client; the plot, table and report checks render on small frames.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from uuid import UUID

import numpy as np
import pandas as pd
import pytest

from forecast.training.loop import EpochRecord, History
from pipelines import describe, flows, options, plots, report


def history(epochs, val=True):
    return History(
        [
            EpochRecord(e, 10, 1.0 / e, (1.2 / e) if val else None, 0.5, 0.9, 0.0, 1e-3, 0.25)
            for e in range(1, epochs + 1)
        ]
    )


def lines_by_label(ax):
    return {
        line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")
    }


def legend_labels(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


# ---------------------------------------------------------------------------------- plots
def test_forecast_plot_shows_history_then_actuals_and_forecast_apart():
    ds = pd.date_range("2020-01-01", periods=48, freq="MS")
    full = pd.DataFrame({"unique_id": "a", "ds": ds, "y": np.arange(48.0)})
    fc = pd.DataFrame({"unique_id": "a", "ds": ds[-12:], "y_pred": np.arange(36.0, 48.0) + 1})
    ax = plots.forecast_figure(full.iloc[:36], fc, actuals=full).axes[0]
    lines = lines_by_label(ax)
    assert set(lines) == {"history", "actual", "forecast"} and legend_labels(ax) == [
        "history",
        "actual",
        "forecast",
    ]
    assert all(len(line.get_xdata()) for line in lines.values())
    hist_x, act_x = lines["history"].get_xdata(), lines["actual"].get_xdata()
    assert len(act_x) == 12 and max(hist_x) < min(
        act_x
    )  # the full frame as actuals does not cover the history
    assert lines["history"].get_color() != lines["actual"].get_color()
    assert lines["actual"].get_linestyle() != lines["forecast"].get_linestyle()


def test_horizon_plot_keeps_a_metric_equal_to_another_visible():
    table = pd.DataFrame(
        {"step": [1, 2, 3], "mae": [1.0, 2.0, 3.0], "rmse": [1.0, 2.0, 3.0], "n": 1}
    )
    ax = plots.horizon_figure(table).axes[0]
    lines = lines_by_label(ax)
    assert set(lines) == {"MAE", "RMSE"} and legend_labels(ax) == ["MAE", "RMSE"]
    mae, rmse = lines["MAE"], lines["RMSE"]
    assert (mae.get_linestyle(), mae.get_marker()) != (rmse.get_linestyle(), rmse.get_marker())
    assert (
        rmse.get_markersize() > mae.get_markersize() and mae.get_zorder() > rmse.get_zorder()
    )  # MAE on top, RMSE wider


def test_curves_plot_draws_train_and_validation_per_run_by_epoch():
    fig = plots.curves_figure(
        {"gru": history(3).to_frame(), "final": history(4, val=False).to_frame()}
    )
    ax = fig.axes[0]
    lines = lines_by_label(ax)
    assert set(lines) == {"gru train", "gru val", "final train"} and set(legend_labels(ax)) == set(
        lines
    )
    assert (
        list(lines["gru val"].get_xdata()) == [1, 2, 3] and lines["gru val"].get_linestyle() == "--"
    )
    assert ax.get_xlabel() == "epoch"


# ---------------------------------------------------------------------------------- tables, words, report
def board():
    params = [
        {
            "cell": "gru",
            "bidirectional": True,
            "hidden_size": 8,
            "head": "direct",
            "window_norm": w,
            "lookback": 24,
            "val_size": 12,
        }
        for w in ("last", None)
    ]
    return pd.DataFrame(
        {
            "candidate": ["gru-bi-h8-wlast", "seasonal_naive", "gru-bi-h8"],
            "params": [json.dumps(params[0]), json.dumps({"horizon": 12}), json.dumps(params[1])],
            "mase": [0.9, 1.0, 1.4],
            "mae": [9.0, 10.0, 14.0],
            "owa": [0.95, 1.0, 1.3],
            "fit_seconds": [3.0, 0.01, 3.1],
            "reference": [False, True, False],
            "error": [None, None, None],
            "rank": [1, 2, 3],
        }
    )


def test_leaderboard_table_has_the_settings_as_columns():
    table = describe.leaderboard_table(board(), "mase")
    assert list(table.columns) == [
        "rank",
        "candidate",
        "cell",
        "bidirectional",
        "hidden_size",
        "head",
        "window_norm",
        "mase",
        "mae",
        "owa",
        "fit_seconds",
    ]  # lookback, val_size: same for all
    assert table.loc[0, "window_norm"] == "last" and table.loc[2, "window_norm"] == "–"
    md = describe.markdown_table(table, max_rows=2).splitlines()
    assert len(md) == 4 and md[2].startswith(
        "| 1 | gru-bi-h8-wlast | gru | true | 8 | direct | last | 0.9 |"
    )


def test_run_names_say_what_ran():
    from datetime import datetime, timezone

    when = datetime(2026, 11, 29, 10, 2, tzinfo=timezone.utc)
    assert (
        describe.run_name("train", "airpassengers", 12, when=when)
        == "train airpassengers h12 · 2026-11-29 10:02"
    )
    assert (
        describe.run_name("forecast", "/data/shop sales.csv", version=3, when=when)
        == "forecast shop sales v3 · 2026-11-29 10:02"
    )
    assert describe.data_label("postgresql+psycopg://u@h/db") == "postgresql"


def test_train_description_has_leaderboard_holdout_decision_and_the_validation_note():
    table = describe.leaderboard_table(board(), "mase")
    holdout = describe.holdout_table(
        "gru-bi-h8-wlast", {"mase": 0.8, "mae": 8.0}, {"mase": 1.0, "mae": 10.0}
    )
    assert holdout.loc[holdout.metric == "mase", "ratio"].item() == pytest.approx(0.8)
    facts = {
        "data": "airpassengers",
        "n_series": 1,
        "horizon": 12,
        "metric": "mase",
        "best": "gru-bi-h8-wlast",
        "val_size": 12,
        "n_windows": 2,
    }
    text = describe.train_description(
        facts, table, holdout, "forecaster v2: promoted: ...", {"report": "http://x/r"}
    )
    first = text.split("\n\n")[0]  # what the UI shows before "Show more"
    assert (
        first.startswith(
            "**gru-bi-h8-wlast** for `airpassengers` (1 series, horizon 12): hold-out `mase` 0.8 vs "
            "seasonal naive 1. forecaster v2: promoted"
        )
        and "[report](http://x/r)" in first
    )
    assert "last 12 points" in text and "chosen candidate's run" in text
    assert "| 1 | gru-bi-h8-wlast |" in text and "| mase | 0.8 | 1 | 0.8 |" in text
    assert "forecaster v2: promoted" in text and "- [report](http://x/r)" in text
    assert "val_size 0" in describe.train_description(
        facts | {"val_size": 0}, table, holdout, "p", {}
    )


def test_report_is_one_self_contained_html_file():
    table = describe.leaderboard_table(board(), "mase")
    holdout = describe.holdout_table("gru-bi-h8-wlast", {"mase": 0.8}, {"mase": 1.0})
    figures = {"curves": plots.curves_figure({"gru": history(3).to_frame()}), "missing": None}
    facts = {
        "data": "air",
        "n_series": 1,
        "horizon": 12,
        "metric": "mase",
        "best": "gru-bi-h8-wlast",
        "val_size": 12,
    }
    page = report.train_report(
        "train air h12", facts, table, holdout, "promoted", figures, {"MLflow run": "http://m/r"}
    )

    class Parse(HTMLParser):
        tags, srcs, rows = [], [], 0

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)
            self.srcs += [
                v for k, v in attrs if k in ("src", "href") and tag in ("img", "script", "link")
            ]
            self.rows += tag == "tr"

    parsed = Parse()
    parsed.feed(page)
    assert "script" not in parsed.tags and all(
        s.startswith("data:image/png;base64,") for s in parsed.srcs
    )
    assert (
        len(parsed.srcs) == 1 and parsed.rows == 1 + 3 + 1 + 1
    )  # leaderboard + hold-out tables, header rows
    assert '<tr class="best"><td>gru-bi-h8-wlast</td>' in page and 'href="http://m/r"' in page


# ---------------------------------------------------------------------------------- the option
def test_val_size_option_reaches_the_flow_and_zero_turns_it_off():
    args = options.build_parser().parse_args(["train", "--val-size", "0"])
    assert args.val_size == 0
    with pytest.raises(SystemExit):
        options.build_parser().parse_args(["train", "--val-size", "-1"])
    with pytest.raises(Exception, match="val_size"):
        flows.train.validate_parameters({"val_size": -1})


# ---------------------------------------------------------------------------------- the train run in the UIs
def mlflow_view(trained):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(
        trained.uri, registry_uri=trained.uri
    )  # other tests move the process's registry URI
    parent = client.get_run(trained.result["run_id"])
    children = client.search_runs(
        [parent.info.experiment_id],
        f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        order_by=["metrics.backtest_mase ASC"],
    )
    return client, parent, children


def test_train_run_is_named_described_and_links_its_report(trained):
    client, parent, _ = mlflow_view(trained)
    assert re.fullmatch(
        r"train airpassengers h12 · \d{4}-\d\d-\d\d \d\d:\d\d", parent.info.run_name
    )
    note = parent.data.tags["mlflow.note.content"]
    assert (
        note.startswith(f"**{trained.result['best']}** for `airpassengers`")
        and "### Hold-out" in note
    )
    assert "### Leaderboard" in note and "viewStateShareKey=leaderboard-" in note
    assert trained.result["reason"] in note and "/artifacts/report.html" in note
    html = client.download_artifacts(parent.info.run_id, "report.html")
    page = Path(html).read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 4 and trained.result["best"] in page
    fc_runs = client.search_runs([parent.info.experiment_id], "tags.`forecast.flow` = 'forecast'")
    assert fc_runs and all(
        r.info.run_name.startswith("forecast airpassengers v1 · ") for r in fc_runs
    )
    assert "forecaster-airpassengers v1" in fc_runs[0].data.tags["mlflow.note.content"]


def test_every_candidate_has_validation_curves_rank_and_is_timed_over_its_fit(trained):
    client, _, children = mlflow_view(trained)
    board = trained.result["leaderboard"]
    assert [c.data.tags["forecast.candidate"] for c in children] == [
        row["candidate"] for row in board
    ]
    for run in children:
        m = run.data.metrics
        assert m["rank"] == int(run.data.tags["forecast.rank"]) and "backtest_mase" in m
        assert run.data.tags["mlflow.note.content"].startswith(f"**{run.info.run_name}**: rank ")
        assert (run.info.end_time - run.info.start_time) / 1000 >= m["fit_seconds"]
        if run.info.run_name == "seasonal_naive":
            assert "holdout_mase" in m  # the reference's hold-out beside the chosen candidate's
            continue
        val = client.get_metric_history(run.info.run_id, "val_loss")
        assert [p.step for p in val] == [1, 2]  # step = epoch, a validation tail by default
        stamps = [p.timestamp for p in client.get_metric_history(run.info.run_id, "train_loss")]
        assert stamps == sorted(stamps) and run.info.start_time <= stamps[0] <= run.info.end_time
    chosen = [r for r in children if r.data.tags["forecast.best"] == "true"]
    assert [r.info.run_name for r in chosen] == [
        trained.result["best"]
    ] and "holdout_mase" in chosen[0].data.metrics


def test_final_fit_trains_on_all_data_and_the_registry_says_what_it_holds(trained):
    client, parent, _ = mlflow_view(trained)
    assert (
        parent.data.params["val_size"] == "0"
        and parent.data.params["flow.candidate_val_size"] == "12"
    )
    assert not client.get_metric_history(parent.info.run_id, "val_loss")
    model = client.get_registered_model("forecaster-airpassengers")
    assert "champion" in model.description and "holdout_mase" in model.description
    version = client.get_model_version("forecaster-airpassengers", "1")
    assert version.description.startswith(f"{trained.result['best']} on `airpassengers` (1 series")
    assert {
        "forecast.data": "airpassengers",
        "forecast.n_series": "1",
        "forecast.horizon": "12",
    }.items() <= version.tags.items()


def test_prefect_runs_are_named_tagged_and_link_to_mlflow(trained):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    _, parent, _ = mlflow_view(trained)
    flow_run_id = parent.data.tags["forecast.prefect.flow_run_id"]
    assert parent.data.tags["forecast.prefect.flow_run_name"] == "train-airpassengers-h12"
    only = FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)]))
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(flow_run_id))
        task_runs = client.read_task_runs(flow_run_filter=only)
        artifacts = client.read_artifacts(flow_run_filter=only)
    # a task run without its own run name is "<task>-<3 hex digits>"
    names = {re.sub(r"-[0-9a-f]{3}$", "", t.name) for t in task_runs}
    assert run.name == "train-airpassengers-h12" and f"mlflow-run:{parent.info.run_id}" in run.tags
    # the graph reads as the pipeline: load -> validate -> select (candidates nested) -> hold-out
    # backtest -> final fit -> register -> publish; the MLflow records are kept inside those steps
    steps = ["configure-tracking", "load-data", "validate-data", "select-model"]
    steps += [f"holdout-{trained.result['best']}", "fit-final", "register", "describe-train-run"]
    evaluated = {n for n in names if n.startswith("evaluate-")}  # nested under select-model
    assert evaluated == {
        f"evaluate-{c}" for c in ("gru-bi-h8", "gru-bi-h8-wlast", "seasonal_naive")
    }
    assert set(steps) <= names and not [n for n in names if n.startswith(("log-", "link-"))]
    assert len(task_runs) == len(steps) + len(evaluated) + 1, sorted(names)  # + the forecast flow
    summary = [a for a in artifacts if a.key == "train-summary"]
    assert summary and summary[0].type == "markdown"
    assert (
        f"/runs/{parent.info.run_id}" in summary[0].data
        and "#/models/forecaster-airpassengers/versions/1" in summary[0].data
    )
