"""What ``forecast train`` prints when the flow ends: the leaderboard (or the Optuna search's
trials), the hold-out beside seasonal naive, the promotion, where the forecasts went, and how to
open the UI. Plain text from the train flow's result; nothing here imports prefect or mlflow."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

SEARCH_ROWS = 10  # trials printed (the run's search/trials.md has them all)


def train_summary(result):
    """The lines ``forecast train`` ends with, from the train flow's result."""
    metric, ho = result["metric"], result["holdout"]
    search = result.get("search")
    lines = search_lines(result) if search else board_lines(result)
    lines += [
        f"{'chosen trial' if search else 'best candidate'}: {result['best']}; hold-out {metric}: "
        f"{ho['model']:.4g} vs seasonal naive{season(result)} {ho['seasonal_naive']:.4g} "
        f"({relative(ho['model'], ho['seasonal_naive'])})",
        f"{result['reason']}  (MLflow run {result['run_id']})",
        f"champion: v{result['champion_version']}  (MLflow run {result['champion_run_id']})",
        f"forecasts (v{result.get('forecast_version', result['champion_version'])}) written to "
        f"{result['forecast_path']}"
        if result.get("forecast_path")
        else f"forecasts NOT written: {result.get('forecast_error')}",
        f"open the MLflow UI: {self_command()} ui   then {result['runs_url']}",
    ]
    if result.get("leaderboard_url"):
        what = "trials" if search else "candidates"
        lines.append(
            f"this run's leaderboard ({what} ranked, curves and hold-out columns): "
            f"{result['leaderboard_url']}"
        )
    return lines


def board_lines(result):
    metric = result["metric"]
    lines = [
        f"\nleaderboard ({metric} of the selection backtest before the hold-out; lower is better):"
    ]
    width = max([len(row["candidate"]) for row in result["leaderboard"]] + [16])
    lines += [
        f"  {rank:>2}. {row['candidate']:<{width}} {row.get(metric, float('nan')):.4g}"
        for rank, row in enumerate(result["leaderboard"], 1)
    ]
    return lines


def search_lines(result):
    """The search's trials, best first (seasonal naive ranked among them), and its verdict."""
    s = result["search"]
    rows = result["leaderboard"]
    lines = [
        f"\nOptuna search: {s['trials']} trials ({s['complete']} complete, {s['pruned']} pruned, "
        f"{s['failed']} failed) in {s['seconds']:.0f} s on {s['workers']} worker(s)"
        + (f", {len(s['processes'])} processes" if len(s["processes"]) > 1 else "")
        + f"; validation {s['metric']} on the last horizon before the hold-out, lower is better:"
    ]
    width = max([len(row["candidate"]) for row in rows] + [16])
    for rank, row in enumerate(rows[:SEARCH_ROWS], 1):
        state = row.get("state", "")
        mark = "  <- chosen" if row["candidate"] == result["best"] else ""
        value = row.get(s["metric"], float("nan"))
        value = f"{value:.4g}" if value == value else "–"  # a pruned or failed trial: no MASE
        lines.append(f"  {rank:>2}. {row['candidate']:<{width}} {value:<6} {state}{mark}")
    if len(rows) > SEARCH_ROWS:
        lines.append(f"  ... {len(rows) - SEARCH_ROWS} more (search/trials.md in the run)")
    verdict = "beats" if s["best_value"] < s["naive_value"] else "does NOT beat"
    lines.append(
        f"validation {s['metric']}: chosen trial {s['best_value']:.4g} {verdict} seasonal naive "
        f"{s['naive_value']:.4g} ({relative(s['best_value'], s['naive_value'])})"
    )
    return lines


def self_command():
    """How to run ``forecast`` again from the user's shell.

    ``scripts/main.sh`` puts .venv/bin on PATH only for itself, so a script close under the
    current folder is shown by its relative path (``.venv/bin/forecast``); else the bare name
    when it is the one on PATH; else the absolute path.
    """
    argv0 = Path(sys.argv[0])
    exe = argv0 if argv0.name == "forecast" else Path(sys.executable).with_name("forecast")
    exe = exe.absolute()
    try:
        rel = exe.relative_to(Path.cwd())
        if len(rel.parts) <= 3:  # .venv/bin/forecast from the repository root
            return str(rel)
    except ValueError:
        pass
    found = shutil.which("forecast")
    return "forecast" if found and Path(found).absolute() == exe else str(exe)


def season(result):
    return f" (season {result['season_length']})" if result.get("season_length") else ""


def relative(model, naive):
    if not naive:
        return "n/a"
    change = (model - naive) / naive * 100
    return f"{abs(change):.1f}% {'better' if change < 0 else 'worse'}"
