"""The pieces of the ``forecast`` command's parser: what each command does (:data:`ABOUT`), and the
value types (numbers in a range, comma-separated lists from a set of choices, directions): a bad
value exits 2 with a message saying what was expected."""

from __future__ import annotations

import argparse

from .parameters import SEARCHES, SPACES

# name: (what `forecast --help` says of it, its own --help's description)
ABOUT = {
    "train": (
        "select, train, register and promote a model; forecast with the champion",
        "Model selection over the candidate grid, hold-out score against seasonal naive, final fit "
        "on all data, MLflow logging, registration and promotion, then the forecast flow with the "
        "champion.",
    ),
    "forecast": (
        "forecast the next horizon with the registered champion",
        "Load the latest data and the champion (or --version), check they match, predict every "
        "series and write the forecasts atomically.",
    ),
    "backtest": (
        "rolling-origin backtest of the champion's settings vs seasonal naive",
        "Refit the champion's settings (or --version's) at each of --n-windows forecast origins at "
        "the end of every series, score each window against seasonal naive, and log the metrics "
        "and per-window tables to MLflow. The registry is unchanged.",
    ),
    "serve": (
        "serve the train and forecast flows as scheduled deployments",
        "Needs a Prefect server: start one with `forecast server` (or scripts/prefect-server.sh) "
        "and export PREFECT_API_URL it prints.",
    ),
    "server": ("start a local Prefect server on 127.0.0.1 (for `forecast serve`)", None),
    "ui": ("start the MLflow UI over the local store (mlflow/store)", None),
    "datasets": ("list the bundled data sets", None),
}


def number(kind, ok, expected):
    """An argparse type: ``kind(text)`` that must satisfy ``ok``, else an error saying
    ``expected``."""

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


positive = number(int, lambda v: v >= 1, "a positive integer")
non_negative = number(int, lambda v: v >= 0, "an integer >= 0")
positive_float = number(float, lambda v: v > 0, "a positive number")
non_negative_float = number(float, lambda v: v >= 0, "a number of seconds >= 0")
quantile = number(float, lambda v: 0 < v < 1, "a quantile level in (0, 1)")
percent = number(float, lambda v: 0 < v < 100, "an interval level in (0, 100) percent")


def csv_list(kind, choices=None):
    def parse(text):
        try:
            values = [kind(v.strip()) for v in text.split(",") if v.strip()]
        except (ValueError, argparse.ArgumentTypeError) as exc:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list, got {text!r} ({exc})"
            ) from None
        bad = [v for v in values if choices is not None and v not in choices]
        if bad or not values:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list from {','.join(choices or ())}, got {text!r}"
                if choices
                else f"expected a non-empty list, got {text!r}"
            )
        return values

    return parse


def directions(text):
    table = {"uni": False, "bi": True}
    values = csv_list(str)(text)
    bad = [v for v in values if v not in table]
    if bad or not values:
        raise argparse.ArgumentTypeError(f"expected uni, bi or uni,bi, got {text!r}")
    return [table[v] for v in values]


def search_options(p):
    """``forecast train``'s flags of the Optuna search (``pipelines.search``)."""
    p.add_argument(
        "--search",
        choices=SEARCHES,
        help="model selection: the candidate grid (the default; --cells, --directions, ...), or an "
        "Optuna search of the library's space (cell, directions, hidden size, layers, lookback, "
        "window norm, learning rate, dropout) scored by MASE on the last horizon before the "
        "hold-out",
    )
    p.add_argument(
        "--trials",
        type=positive,
        metavar="N",
        help="trials of --search optuna (default: as many as its share of --max-time allows; "
        "10 without a budget); with --runner dask they are split over the workers",
    )
    p.add_argument(
        "--search-space",
        choices=SPACES,
        help="the space of --search optuna: compact (the default: the network and the optimiser) "
        "or full (also the training loss, MAE or sMAPE, and a log target, log or log(1 + y), on "
        "data without negative values: in place of --loss and --scaler)",
    )
    p.add_argument(
        "--study-storage",
        metavar="URL",
        help="the Optuna study the search's workers share: a database URL (sqlite:///study.db, "
        "postgresql://...) or a file path ending in .journal (default: a journal file in a "
        "temporary folder on this machine; an external --dask-address cluster needs one its "
        "workers reach)",
    )
