"""The options of the ``forecast`` command: one argparse parser, its help showing the configured
defaults (value types: :mod:`pipelines.arguments`).

Choices are checked here too, so that a bad value exits 2 at once, not after the Prefect server
has started; the lists are the library's (``forecast.choices``), as in the flows' parameter types.
Nothing here imports prefect or mlflow.
"""

from __future__ import annotations

import argparse

from forecast import choices

from . import arguments, config, io, serving
from .store import UI_PORT

NORMS = choices.names(choices.WINDOW_NORMS)  # "none" for None: TOML and command lines have no null


def _common(p, data=True, output=False):
    p.add_argument(
        "--config",
        metavar="TOML",
        help="configuration file laid over pipelines/default.toml (its values are the defaults)",
    )
    if data:
        p.add_argument("--data", help="bundled data set name, CSV/Parquet path, or SQLAlchemy URL")
        p.add_argument("--table", help="table name when --data is a SQLAlchemy URL")
        p.add_argument(
            "--id-col",
            help="series id column of the data (renamed to unique_id on load; a file "
            "without it is one series named after the file)",
        )
        p.add_argument("--time-col", help="time column of the data (renamed to ds)")
        p.add_argument("--target-col", help="target column of the data (renamed to y)")
        p.add_argument(
            "--tracking-uri",
            help="MLflow tracking URI (default: the local SQLite store mlflow/store/mlflow.db)",
        )
        p.add_argument("--experiment", help="MLflow experiment")
        p.add_argument(
            "--model-name",
            help="MLflow registered model name (default: forecaster-<data name>, "
            "e.g. forecaster-sales for sales.csv)",
        )
    if output:
        p.add_argument("--output-dir", help="forecast folder")
        p.add_argument(
            "--format", dest="output_format", choices=io.FORMATS, help="forecast file format"
        )
    _debug(p)


def _debug(p):
    p.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print tracebacks on failure",
    )


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose options' help ends with their configured default (``defaults``:
    option dest -> value, from the sections of default.toml the command reads)."""

    def __init__(self, *args, defaults=None, **kwargs):
        self.defaults = defaults or {}  # before argparse adds -h through add_argument
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs):
        action = super().add_argument(*args, **kwargs)
        if action.help and action.dest in self.defaults:
            shown = self.defaults[action.dest]
            if action.dest == "bidirectional":
                shown = [("bi" if b else "uni") for b in shown]
            shown = ",".join(map(str, shown)) if isinstance(shown, list) else shown
            action.help += f" (default: {shown})"
        return action


def build_parser():
    cfg = config.load()
    parser = _Parser(
        prog="forecast",
        description=(
            "Recurrent forecasting pipelines (Prefect flows, MLflow tracking). Start with "
            "`forecast train`; see `forecast <command> --help`."
        ),
    )
    parser.add_argument("--debug", action="store_true", help="print tracebacks on failure")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, sections, add_options in (
        ("train", ("common", "train", "runner"), _train_options),
        ("forecast", ("common", "forecast"), _forecast_options),
        ("backtest", ("common", "backtest"), _backtest_options),
        ("serve", ("serve",), _serve_options),
        ("server", (), _server_options),
        ("ui", (), _ui_options),
        ("datasets", (), _debug),
    ):
        summary, description = arguments.ABOUT[name]
        defaults = {k: v for section in sections for k, v in cfg.get(section, {}).items()}
        add_options(sub.add_parser(name, defaults=defaults, help=summary, description=description))
    # issue 24: MLflow's model server (its options are in pipelines.serving)
    serving.add_options(
        sub.add_parser("serve-model", help=serving.ABOUT, description=serving.ABOUT)
    )
    return parser


def _choice_list(p, flag, options, more=""):
    """``flag`` takes a comma-separated list from ``options``."""
    p.add_argument(
        flag,
        type=arguments.csv_list(str, options),
        metavar=flag.split("-")[-1].upper(),  # CELLS, HEADS, NORMS
        help=f"comma-separated from {','.join(options)}{more}",
    )


def _train_options(p):
    _common(p, output=True)
    p.add_argument(
        "--lookback",
        type=arguments.positive,
        help="input window, in steps (default: inferred from the horizon and the season, as the "
        "estimator does)",
    )
    p.add_argument("--horizon", type=arguments.positive, help="forecast length, in steps")
    _choice_list(p, "--cells", choices.CELLS)
    p.add_argument(
        "--directions",
        dest="bidirectional",
        type=arguments.directions,
        metavar="uni,bi",
        help="uni, bi or uni,bi (one candidate per direction)",
    )
    p.add_argument(
        "--hidden-sizes",
        type=arguments.csv_list(arguments.positive),
        metavar="SIZES",
        help="comma-separated hidden sizes",
    )
    _choice_list(p, "--heads", choices.HEADS)
    _choice_list(
        p,
        "--window-norms",
        NORMS,
        ": per-window target normalisation, one candidate each (last/standard help trending "
        "series; es: the ES-RNN-style hybrid)",
    )
    for kind, what in (
        ("past", "known up to each origin"),
        (
            "future",
            "known ahead (the forecast takes their horizon values from rows with an empty target "
            "after each series' end, or --future-data)",
        ),
        ("static", "constant per series"),
    ):
        p.add_argument(
            f"--{kind}-covariates",
            type=arguments.csv_list(str),
            help=f"comma-separated data columns {what}",
        )
    p.add_argument(
        "--calendar", action=argparse.BooleanOptionalAction, help="sin/cos calendar features of ds"
    )
    p.add_argument(
        "--fill",
        choices=[c for c in choices.FILLS if c is not None],
        help="fill NaN targets per series (default: a NaN target is an error)",
    )
    p.add_argument("--scaler", choices=choices.SCALERS, help="per-series scaling")
    p.add_argument("--max-epochs", type=arguments.positive, help="epochs per fit")
    budget = (
        "training time budget of the whole job, in shares: one per candidate (model selection fits "
        "each once) or per search trial, three each for the hold-out and the final fit; 0: none "
        "(default: none for a small job, else 600 s or more for a large grid; printed with the "
        "plan)"
    )
    seconds = arguments.non_negative_float
    p.add_argument("--max-time", type=seconds, metavar="SECONDS", help=budget)
    p.add_argument("--loss", choices=choices.LOSSES, help="training loss")
    p.add_argument("--learning-rate", type=arguments.positive_float, help="Adam learning rate")
    p.add_argument("--batch-size", type=arguments.positive, help="windows per training batch")
    p.add_argument("--n-windows", type=arguments.positive, help="backtest windows per candidate")
    arguments.search_options(p)
    p.add_argument(
        "--val-size",
        type=arguments.non_negative,
        metavar="POINTS",
        help="validation tail of each candidate fit, for its val_loss curve (default: the horizon; "
        "0: none); the final fit of the chosen settings always trains on all data",
    )
    p.add_argument(
        "--season-length",
        type=arguments.positive,
        help="season of the models, seasonal naive and MASE (default: inferred from the data's "
        "frequency: 24 hourly, 7 daily, 12 monthly, ...)",
    )
    quantiles = (
        "comma-separated quantile levels in (0, 1), e.g. 0.1,0.5,0.9: quantile heads (pinball "
        "loss); forecast files get y_q10, y_q90, ... columns"
    )
    levels = (
        "comma-separated interval levels in percent, e.g. 80,95: split-conformal intervals "
        "(y_lo80, y_hi80, ...) calibrated on each series' last points, held out of training"
    )
    for flag, kind, metavar, text in (
        ("--quantiles", arguments.quantile, "Q", quantiles),
        ("--level", arguments.percent, "L", levels),
    ):
        p.add_argument(flag, type=arguments.csv_list(kind), metavar=metavar, help=text)
    p.add_argument("--metric", choices=choices.RANKING_METRICS, help="selection metric")
    p.add_argument("--device", help="auto | cpu | cuda")
    p.add_argument(
        "--nproc",
        type=arguments.positive,
        metavar="N",
        help="train the final model across N local processes (torch DDP, torchrun; with --device "
        "cuda one GPU each); default 1",
    )
    p.add_argument("--seed", type=int, help="random seed of weight initialisation and batch order")
    p.add_argument("--runner", dest="kind", choices=config.RUNNERS, help="task runner")
    p.add_argument(
        "--workers", type=arguments.positive, help="threads, or local Dask worker processes"
    )
    p.add_argument("--dask-address", dest="address", help="address of an existing Dask scheduler")


def _forecast_options(p):
    _common(p, output=True)
    p.add_argument("--version", type=arguments.positive, help="registered model version")
    p.add_argument("--sql-url", help="also append the forecasts to a table at this SQLAlchemy URL")
    p.add_argument("--sql-table", help="table for --sql-url (default: forecasts)")
    p.add_argument(
        "--future-data",
        help="CSV/Parquet file [id, time, future covariates] for the horizon, for "
        "a model with future covariates (default: the data's rows after each series' end whose "
        "target is empty)",
    )


def _backtest_options(p):
    _common(p)
    p.add_argument("--version", type=arguments.positive, help="registered model version")
    p.add_argument("--n-windows", type=arguments.positive, help="forecast origins per series")
    p.add_argument(
        "--max-epochs", type=arguments.positive, help="epochs per refit (default: the champion's)"
    )
    p.add_argument(
        "--season-length",
        type=arguments.positive,
        help="season of seasonal naive and MASE (default: the model's own)",
    )
    p.add_argument("--metric", choices=choices.RANKING_METRICS, help="ranking metric")


def _serve_options(p):
    _common(p, data=False)
    p.add_argument("--train-cron", help="cron of the retraining deployment")
    p.add_argument(
        "--forecast-cron", help="cron of the forecast deployment (instead of the interval)"
    )
    p.add_argument(
        "--forecast-interval",
        dest="forecast_interval_seconds",
        type=arguments.positive,
        help="seconds between forecasts",
    )


def _server_options(p):
    p.add_argument(
        "--port",
        type=arguments.positive,
        default=4200,
        help="port of the server and its UI (default: %(default)s)",
    )
    _common(p, data=False)


def _ui_options(p):
    p.add_argument(
        "--port",
        type=arguments.positive,
        default=UI_PORT,
        help="port of the MLflow UI (default: %(default)s)",
    )
    _debug(p)
