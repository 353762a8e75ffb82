"""MLflow records of a model selection: a child run per candidate (opened live as its evaluation
starts, completed when it ends), the leaderboard on the flow's run as CSV, table and markdown.

``start_candidate(parent_run_id, name) -> run id``, ``finish_candidate(result, run_id)``: a
candidate's run, live. ``log_selection(result, run_id=None, prefix="backtest", metric=None) ->
dict candidate -> child run id``. Like :mod:`pipelines.runs`, every function logs nothing when
tracking is off; mlflow is imported inside the functions.
"""

from __future__ import annotations

import json

import pandas as pd

from . import store
from .runs import current_run_id, log_figure, log_frame, log_metrics, log_params, now_ms, set_note
from .tracking import backtest_metrics, log_backtest_files, log_history

NOT_METRICS = ("candidate", "params", "rank", "reference", "error")


def start_candidate(parent_run_id, name):
    """A child run of ``parent_run_id`` for candidate ``name``, RUNNING from now (None: tracking
    off).

    The train flow opens it as the candidate's evaluation begins, so the run's duration is the
    candidate's fit and backtest, and the UI shows it running meanwhile."""
    if current_run_id(parent_run_id) is None:
        return None
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    client = store.client()
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    return client.create_run(
        experiment_id,
        run_name=name,
        start_time=now_ms(),
        tags={MLFLOW_PARENT_RUN_ID: parent_run_id, "forecast.candidate": name},
    ).info.run_id


def finish_candidate(result, run_id, prefix="backtest"):
    """Log a candidate's evaluation (``forecast.evaluation.selection.CandidateResult``) into its
    run and end it: parameters, backtest metrics and tables, the training curves of its fit
    (val_loss included when it held back a validation tail), FINISHED, or FAILED with the error
    as tag ``forecast.error``."""
    if run_id is None:
        return
    client = store.client()
    log_params(result.params, run_id)
    if result.error:
        client.set_tag(run_id, "forecast.error", str(result.error)[:5000])
        client.set_terminated(run_id, "FAILED", end_time=now_ms())
        return
    started = client.get_run(run_id).info.start_time
    _log_candidate_backtest(result.backtest, prefix, run_id, start_ms=started)
    log_metrics({"fit_seconds": result.fit_seconds, "seconds": result.seconds}, run_id=run_id)
    client.set_terminated(run_id, "FINISHED", end_time=now_ms())


def candidate_runs(parent_run_id):
    """{candidate name: run id} of the candidate runs already under ``parent_run_id``."""
    client = store.client()
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    found = client.search_runs(
        [experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}'", max_results=1000
    )
    return {
        r.data.tags["forecast.candidate"]: r.info.run_id
        for r in found
        if "forecast.candidate" in r.data.tags
    }


def log_selection(result, run_id=None, prefix="backtest", metric=None):
    """Log a model selection: leaderboard on the parent run, one child run per candidate.

    ``result`` is a ``forecast.evaluation.selection.SelectionResult`` (read by attribute:
    ``leaderboard`` with columns [candidate, params (JSON), metrics..., fit_seconds, rank],
    ``best_name`` and, when present, per-candidate ``backtests`` {name: BacktestResult}). Each
    child run holds the candidate's parameters, its backtest metrics (``<prefix>_<metric>``) and
    its ``rank`` as metrics (sorting the runs table by ``metrics.backtest_<metric>`` or
    ``metrics.rank`` gives the leaderboard), tags ``forecast.rank``/``forecast.best``, a
    description, its backtest tables and training curves. Candidate runs already opened by
    :func:`start_candidate` are completed, not duplicated. ``metric``: the ranking metric (None:
    the first metric column).

    Returns
    -------
    dict candidate name -> child run id ({} when tracking is off).
    """
    parent = current_run_id(run_id)
    if parent is None:
        return {}
    from . import describe, links

    client = store.client()
    board = result.leaderboard.reset_index(drop=True)
    backtests = _backtests(result)
    metric_cols = [
        c for c in board.columns if c not in NOT_METRICS and pd.api.types.is_numeric_dtype(board[c])
    ]
    metric = metric or (metric_cols[0] if metric_cols else None)
    existing = candidate_runs(parent)
    parent_name, experiment_id = (
        client.get_run(parent).info.run_name,
        client.get_run(parent).info.experiment_id,
    )
    chosen = str(
        getattr(result, "best", None) or result.best_name
    )  # the reference row is never trained
    children = {}
    for row in board.to_dict("records"):
        name = str(row["candidate"])
        child_id = existing.get(name)
        if child_id is None:
            child_id = start_candidate(parent, name)
            _log_new_candidate(row, backtests.get(name), prefix, child_id)
        log_metrics(
            {
                f"{prefix}_{c}" if c not in ("fit_seconds", "seconds") else c: row[c]
                for c in metric_cols
            }
            | {"rank": row.get("rank")},
            run_id=child_id,
        )
        client.set_tag(child_id, "forecast.rank", str(row.get("rank")))
        client.set_tag(child_id, "forecast.best", str(name == chosen).lower())
        curves = (
            None
            if row.get("reference")
            else links.curves_url([child_id], experiment_id=experiment_id)
        )
        set_note(
            child_id, describe.candidate_description(name, row, metric, chosen, parent_name, curves)
        )
        children[name] = child_id
    log_leaderboard(board, describe.leaderboard_table(board, metric), parent)
    client.set_tag(parent, "forecast.best_candidate", chosen)
    if getattr(result, "best_params", None) is not None:
        client.log_text(
            parent,
            json.dumps(result.best_params, indent=1, default=str),
            "selection/best_params.json",
        )
    return children


def _backtests(result):
    backtests = dict(getattr(result, "backtests", None) or {})
    for name, cand in (
        getattr(result, "results", None) or {}
    ).items():  # forecast.evaluation.selection.SelectionResult
        if getattr(cand, "backtest", None) is not None:
            backtests.setdefault(name, cand.backtest)
    return backtests


def _log_new_candidate(row, backtest, prefix, run_id):
    """A candidate run opened after the fact (no :func:`start_candidate` while it ran)."""
    client = store.client()
    try:
        params = row.get("params")
        log_params(json.loads(params) if isinstance(params, str) else dict(params or {}), run_id)
        _log_candidate_backtest(backtest, prefix, run_id)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")


def _log_candidate_backtest(backtest, prefix, run_id, start_ms=None):
    if backtest is None:
        return
    log_metrics(backtest_metrics(backtest, prefix), run_id=run_id)
    log_backtest_files(backtest, prefix, run_id)
    history = _candidate_history(backtest)
    if history is not None:
        log_history(history, run_id, start_ms=start_ms)
        from . import plots

        log_figure(
            plots.curves_figure({"fit": history.to_frame()}, title="training curves by epoch"),
            "training/curves.png",
            run_id,
        )


def log_leaderboard(board, table, parent, folder="selection", name="leaderboard"):
    """The leaderboard as CSV (as selected, params as JSON), as a table with the parameters as
    columns (``<folder>/<name>.json``, shown as a table by the UI) and as markdown."""
    from . import describe

    log_frame(board, f"{folder}/{name}.csv", parent)
    store.client().log_table(
        parent,
        data=table.astype({c: str for c in table.columns if table[c].dtype == object}),
        artifact_file=f"{folder}/{name}.json",
    )
    store.client().log_text(parent, describe.markdown_table(table) + "\n", f"{folder}/{name}.md")


def _candidate_history(backtest):
    """Training curves of a candidate's last fit, when its backtest kept them."""
    history = getattr(backtest, "history", None)
    if history is None:
        histories = getattr(backtest, "histories", None)
        history = histories[-1] if histories else None
    if history is None:
        est = getattr(backtest, "estimator", None)
        history = getattr(est, "history_", None)
    return history if hasattr(history, "records") else None
