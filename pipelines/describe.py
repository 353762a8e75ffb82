"""Words and tables for the UIs: run names, markdown descriptions, the leaderboard as a table.

Pure functions on plain values and DataFrames (no mlflow, no prefect), so what a user reads in
the MLflow and Prefect UIs is tested like any other output. :mod:`pipelines.publish` puts them
in place: MLflow run notes (``mlflow.note.content``), registry descriptions, Prefect artifacts.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

# Settings every candidate names (the grid's swept ones) before those that vary across the grid.
SWEPT = ("cell", "bidirectional", "hidden_size", "head", "window_norm")
METRIC_COLUMNS = ("mae", "rmse", "smape", "mase", "owa")
LEADERBOARD = "leaderboard (runs table)"  # the label of the link to a train run's leaderboard view


def data_label(data):
    """A short name for a data source: a bundled name as is, a file by its stem, a SQL URL by its
    scheme.
    """
    text = str(data)
    if "://" in text:
        return text.split("://", 1)[0].split("+")[0]
    return Path(text).stem if ("/" in text or "." in text) else text


def stamp(when=None):
    """UTC time to the minute, as run names show it."""
    return (when or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M")


def run_name(flow, data, horizon=None, version=None, when=None):
    """``train airpassengers h12 · 2026-11-29 10:02`` (``forecast … v3 · …`` with a version)."""
    parts = [flow, data_label(data)]
    if horizon is not None:
        parts.append(f"h{horizon}")
    if version is not None:
        parts.append(f"v{version}")
    return f"{' '.join(parts)} · {stamp(when)}"


def number(value, digits=4):
    """A metric as text: 4 significant digits, '–' for missing or non-finite values."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "–" if value is None else str(value)
    return f"{value:.{digits}g}" if math.isfinite(value) else "–"


# ---------------------------------------------------------------------------------- tables
def leaderboard_table(board, metric):
    """The selection leaderboard with its parameters as columns: rank, candidate, the swept
    settings, any other setting that differs between candidates, the metrics, fit seconds and any
    error.

    ``board``: ``SelectionResult.leaderboard`` [candidate, params (JSON), metrics...,
    fit_seconds, rank].
    """
    params = [
        json.loads(p) if isinstance(p, str) else dict(p or {})
        for p in board.get("params", [{}] * len(board))
    ]
    recurrent = [
        p for p, ref in zip(params, board.get("reference", [False] * len(board))) if not ref and p
    ]
    keys = [k for k in SWEPT if any(k in p for p in recurrent)]
    keys += sorted(
        k
        for k in {k for p in recurrent for k in p} - set(keys)
        if len({json.dumps(p.get(k), default=str) for p in recurrent}) > 1
    )
    out = pd.DataFrame(
        {
            "rank": board["rank"].to_numpy() if "rank" in board else range(1, len(board) + 1),
            "candidate": board["candidate"].astype(str).to_numpy(),
        }
    )
    for k in keys:
        out[k] = [_plain(p.get(k)) if p else "" for p in params]
    metrics = [metric, *[m for m in METRIC_COLUMNS if m != metric]]
    for col in [m for m in metrics if m in board] + [c for c in ("fit_seconds",) if c in board]:
        out[col] = board[col].to_numpy()
    if "error" in board and board["error"].notna().any():
        out["error"] = board["error"].fillna("").astype(str).to_numpy()
    return out


def _plain(value):
    return (
        "–"
        if value is None
        else value
        if isinstance(value, (str, int, float, bool))
        else json.dumps(value)
    )


def markdown_table(frame, max_rows=None):
    """A DataFrame as a GitHub-style markdown table (numbers to 4 significant digits)."""
    frame = frame if max_rows is None else frame.head(max_rows)
    cells = [[_cell(v) for v in row] for row in frame.itertuples(index=False)]
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    return "\n".join([head, rule, *("| " + " | ".join(row) + " |" for row in cells)])


def _cell(value):
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return number(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def holdout_table(model_name, model_scores, naive_scores):
    """Hold-out metrics of the model beside seasonal naive, one row per metric, with their ratio."""
    names = [m for m in METRIC_COLUMNS if m in model_scores or m in naive_scores]
    rows = []
    for m in names:
        a, b = model_scores.get(m, float("nan")), naive_scores.get(m, float("nan"))
        ratio = a / b if b and math.isfinite(b) and math.isfinite(a) else float("nan")
        rows.append({"metric": m, model_name: a, "seasonal naive": b, "ratio": ratio})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------- descriptions
def train_description(facts, board, holdout, promotion, links):
    """The train run's note. Its first paragraph says it all (the UI shows only that much before
    "Show more"): the chosen model, its hold-out figure beside seasonal naive, the promotion
    decision, links to the report and the leaderboard; then the leaderboard's top rows, the
    hold-out table and every link (report, leaderboard, curves, registered version, Prefect run).

    ``facts``: dict data, n_series, horizon, metric, best, val_size (0: no validation tail);
    ``board``: :func:`leaderboard_table`; ``holdout``: :func:`holdout_table`; ``links``: {label:
    url}.
    """
    f = facts
    row = holdout[holdout["metric"] == f["metric"]]
    vs = (
        f": hold-out `{f['metric']}` {number(row.iloc[0, 1])} vs seasonal naive "
        f"{number(row.iloc[0, 2])}"
        if len(row)
        else ""
    )
    quick = " · ".join(
        f"[{label}]({url})"
        for label, url in (links or {}).items()
        if url and label in ("report", LEADERBOARD)
    )
    val = (
        f"Each candidate held back the last {f['val_size']} points of every series for validation "
        f"(its run has `val_loss` per epoch); the final fit trained on all data, so this run's "
        f"curve is `train_loss` only and the chosen candidate's run holds its validation curve."
        if f.get("val_size")
        else "No validation tail (val_size 0): the curves are `train_loss` only."
    )
    lines = [
        f"**{f['best']}** for `{f['data']}` ({f['n_series']} series, horizon {f['horizon']}){vs}. "
        f"{promotion}" + (f" {quick}" if quick else ""),
        "",
        f"### {f.get('board_title', 'Leaderboard (selection backtest)')}",
        "",
        markdown_table(board, max_rows=f.get("board_rows", 5)),
        "",
        f.get("board_note")
        or f"Ranked by backtest `{f['metric']}` over {f.get('n_windows', '?')} window(s). {val}",
        "",
        "### Hold-out (last horizon of every series, unseen by selection)",
        "",
        markdown_table(holdout),
        "",
    ]
    if links:
        lines += [
            "### Links",
            "",
            *[f"- [{label}]({url})" for label, url in links.items() if url],
            "",
        ]
    return "\n".join(lines)


def candidate_description(name, row, metric, best, parent_name=None, curves_url=None):
    """A candidate run's note: its rank and backtest figures, whether it was chosen, and a link to
    its train and validation curves on one chart."""
    rank = row.get("rank")
    head = f"**{name}**: rank {rank} by backtest `{metric}` = {number(row.get(metric))}" + (
        " — **chosen**" if name == best else ""
    )
    figures = ", ".join(f"{m} {number(row[m])}" for m in METRIC_COLUMNS if m in row and m != metric)
    parts = [
        head,
        "",
        f"Backtest: {figures}." if figures else "",
        f"Fit took {number(row.get('fit_seconds'), 3)} s." if "fit_seconds" in row else "",
    ]
    if curves_url:
        parts.append(f"[Train and validation loss by epoch]({curves_url})")
    if parent_name:
        parts.append(f"Part of `{parent_name}`.")
    if row.get("error"):
        parts.append(f"Failed: `{row['error']}`")
    return "\n\n".join(p for p in parts if p) + "\n"


def forecast_description(model_name, version, data, rows, path, n_series, horizon, links=None):
    lines = [
        f"Forecast of `{data}` by **{model_name} v{version}**: {rows} rows ({n_series} series x "
        f"{horizon} steps) written to `{path}`.",
        "",
    ]
    lines += [f"- [{label}]({url})" for label, url in (links or {}).items() if url]
    return "\n".join(lines) + "\n"


def backtest_description(
    model_name, version, data, n_windows, metric, model_score, naive_score, links=None
):
    verdict = "beats" if model_score < naive_score else "does not beat"
    lines = [
        f"Rolling-origin backtest of **{model_name} v{version}**'s settings on `{data}` over "
        f"{n_windows} window(s), refitted per window: `{metric}` {number(model_score)} {verdict} "
        f"seasonal naive ({number(naive_score)}).",
        "",
    ]
    lines += [f"- [{label}]({url})" for label, url in (links or {}).items() if url]
    return "\n".join(lines) + "\n"


def registry_description(model_name, metric, champion_rule):
    """The registered model's description: what its versions are and how the champion is chosen."""
    return (
        f"Recurrent forecasters (RNN/LSTM/GRU) trained by the `train` flow. Each version is the "
        f"best candidate of one train run, refitted on all its data; its run's description has the "
        f"leaderboard and hold-out figures, and `report.html` the plots. The `champion` alias "
        f"(what the forecast flow uses) {champion_rule}. Compare versions by the tag "
        f"`holdout_{metric}` and the scope tags `forecast.data` / `forecast.n_series` (a hold-out "
        f"metric only compares models of the same series).\n"
    )


def version_description(facts, holdout, promotion):
    f = facts
    return (
        f"{f['best']} on `{f['data']}` ({f['n_series']} series, frequency "
        f"{f.get('frequency', '?')}, horizon {f['horizon']}), refitted on all data.\n\nHold-out "
        f"`{f['metric']}` {number(holdout.get('model'))} vs seasonal naive "
        f"{number(holdout.get('seasonal_naive'))}. {promotion}\n"
    )


def wrap(text, width=100):
    """Plain text wrapped to ``width`` columns, paragraph by paragraph (for .txt artifacts)."""
    import textwrap

    return (
        "\n".join(textwrap.fill(p, width) if p.strip() else "" for p in str(text).split("\n"))
        + "\n"
    )
