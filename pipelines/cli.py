"""The ``forecast`` command: train, forecast, backtest, serve, server, ui, datasets.

Exit codes a scheduler can act on: 0 success; 2 bad arguments, configuration or parameters
(nothing ran); 1 the flow ran and failed — the cause is printed on one line (``error: ...``),
with the traceback only under ``--debug``.

Offline settings (``pipelines.environment``) are set, unless already set, before prefect or
mlflow is imported; the checks before a flow runs are in ``pipelines.preflight``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import traceback
from pathlib import Path

from . import environment
from .store import UI_PORT

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_FORECAST = 0, 1, 2, 3  # 3: trained and registered, no forecasts


class UsageError(Exception):
    """Bad arguments, configuration or parameters: exit code 2."""


# ---------------------------------------------------------------------------------- parser
# Checked here so that a bad value exits 2 at once, not after the Prefect server has started.
CELLS, HEADS, METRICS = ("rnn", "lstm", "gru"), ("direct", "seq2seq", "recursive"), ("mae", "rmse", "smape", "mase", "owa")
WINDOW_NORMS, FILLS, SCALERS = ("none", "last", "standard", "es"), ("ffill", "interpolate", "zero"), ("standard", "robust", "none")
LOSSES = ("mae", "mse", "huber", "mase", "smape")


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _csv(kind, choices=None):
    def parse(text):
        try:
            values = [kind(v.strip()) for v in text.split(",") if v.strip()]
        except (ValueError, argparse.ArgumentTypeError) as exc:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r} ({exc})") from None
        bad = [v for v in values if choices is not None and v not in choices]
        if bad or not values:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list from {','.join(choices or ())}, "
                                             f"got {text!r}" if choices else f"expected a non-empty list, got {text!r}")
        return values
    return parse


def _directions(text):
    table = {"uni": False, "bi": True}
    values = _csv(str)(text)
    bad = [v for v in values if v not in table]
    if bad or not values:
        raise argparse.ArgumentTypeError(f"expected uni, bi or uni,bi, got {text!r}")
    return [table[v] for v in values]


def _common(p, data=True, output=False):
    p.add_argument("--config", metavar="TOML", help="configuration file laid over pipelines/default.toml (its values are the defaults)")
    if data:
        p.add_argument("--data", help="bundled data set name, CSV/Parquet path, or SQLAlchemy URL")
        p.add_argument("--table", help="table name when --data is a SQLAlchemy URL")
        p.add_argument("--id-col", help="series id column of the data (renamed to unique_id on load; a file "
                                        "without it is one series named after the file)")
        p.add_argument("--time-col", help="time column of the data (renamed to ds)")
        p.add_argument("--target-col", help="target column of the data (renamed to y)")
        p.add_argument("--tracking-uri", help="MLflow tracking URI (default: the local SQLite store mlflow/store/mlflow.db)")
        p.add_argument("--experiment", help="MLflow experiment")
        p.add_argument("--model-name", help="MLflow registered model name")
    if output:
        p.add_argument("--output-dir", help="forecast folder")
        p.add_argument("--format", dest="output_format", choices=("parquet", "csv"), help="forecast file format")
    _debug(p)


def _debug(p):
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="print tracebacks on failure")


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
    from . import config

    cfg = config.load()

    def defaults(*sections):
        return {k: v for name in sections for k, v in cfg.get(name, {}).items()}

    parser = _Parser(prog="forecast", description=(
        "Recurrent forecasting pipelines (Prefect flows, MLflow tracking). "
        "Start with `forecast train`; see `forecast <command> --help`."))
    parser.add_argument("--debug", action="store_true", help="print tracebacks on failure")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    _train_command(sub, defaults("common", "train", "runner"))
    _forecast_command(sub, defaults("common", "forecast"))
    _backtest_command(sub, defaults("common", "backtest"))
    _serve_commands(sub, defaults("serve"))
    p = sub.add_parser("ui", help="start the MLflow UI over the local store (mlflow/store)")
    p.add_argument("--port", type=_positive, default=UI_PORT, help="port of the MLflow UI (default: %(default)s)")
    _debug(p)
    _debug(sub.add_parser("datasets", help="list the bundled data sets"))
    return parser


def _train_command(sub, defaults):
    p = sub.add_parser("train", defaults=defaults,
                       help="select, train, register and promote a model; forecast with the champion",
                       description="Model selection over the candidate grid, hold-out score against seasonal "
                                   "naive, final fit on all data, MLflow logging, registration and promotion, "
                                   "then the forecast flow with the champion.")
    _common(p, output=True)
    p.add_argument("--lookback", type=_positive, help="input window, in steps")
    p.add_argument("--horizon", type=_positive, help="forecast length, in steps")
    p.add_argument("--cells", type=_csv(str, CELLS), metavar="CELLS", help=f"comma-separated from {','.join(CELLS)}")
    p.add_argument("--directions", dest="bidirectional", type=_directions, metavar="uni,bi",
                   help="uni, bi or uni,bi (one candidate per direction)")
    p.add_argument("--hidden-sizes", type=_csv(_positive), metavar="SIZES", help="comma-separated hidden sizes")
    p.add_argument("--heads", type=_csv(str, HEADS), metavar="HEADS", help=f"comma-separated from {','.join(HEADS)}")
    p.add_argument("--window-norms", type=_csv(str, WINDOW_NORMS), metavar="NORMS",
                   help=f"comma-separated from {','.join(WINDOW_NORMS)}: per-window target normalisation, one "
                        "candidate each (last/standard help trending series; es: the ES-RNN-style hybrid)")
    p.add_argument("--past-covariates", type=_csv(str), help="comma-separated data columns known up to each origin")
    p.add_argument("--future-covariates", type=_csv(str),
                   help="comma-separated data columns known ahead (the forecast takes their horizon values from "
                        "rows with an empty target after each series' end, or --future-data)")
    p.add_argument("--static-covariates", type=_csv(str), help="comma-separated data columns constant per series")
    p.add_argument("--calendar", action=argparse.BooleanOptionalAction, help="sin/cos calendar features of ds")
    p.add_argument("--fill", choices=FILLS, help="fill NaN targets per series (default: a NaN target is an error)")
    p.add_argument("--scaler", choices=SCALERS, help="per-series scaling")
    p.add_argument("--max-epochs", type=_positive, help="epochs per fit")
    p.add_argument("--max-time", type=_positive_float, metavar="SECONDS",
                   help="training time budget of the whole job, split evenly over its fits (candidates x windows + 2)")
    p.add_argument("--loss", choices=LOSSES, help="training loss")
    p.add_argument("--learning-rate", type=_positive_float, help="Adam learning rate")
    p.add_argument("--batch-size", type=_positive, help="windows per training batch")
    p.add_argument("--n-windows", type=_positive, help="backtest windows per candidate")
    p.add_argument("--season-length", type=_positive, help="season of seasonal naive and MASE")
    p.add_argument("--metric", choices=METRICS, help="selection metric")
    p.add_argument("--device", help="auto | cpu | cuda")
    p.add_argument("--seed", type=int, help="random seed of weight initialisation and batch order")
    p.add_argument("--runner", dest="kind", choices=("threads", "dask"), help="task runner")
    p.add_argument("--workers", type=_positive, help="threads, or local Dask worker processes")
    p.add_argument("--dask-address", dest="address", help="address of an existing Dask scheduler")


def _forecast_command(sub, defaults):
    p = sub.add_parser("forecast", defaults=defaults, help="forecast the next horizon with the registered champion",
                       description="Load the latest data and the champion (or --version), check they match, "
                                   "predict every series and write the forecasts atomically.")
    _common(p, output=True)
    p.add_argument("--version", type=_positive, help="registered model version")
    p.add_argument("--sql-url", help="also append the forecasts to a table at this SQLAlchemy URL")
    p.add_argument("--sql-table", help="table for --sql-url (default: forecasts)")
    p.add_argument("--future-data", help="CSV/Parquet file [id, time, future covariates] for the horizon, for "
                                         "a model with future covariates (default: the data's rows after each "
                                         "series' end whose target is empty)")


def _backtest_command(sub, defaults):
    p = sub.add_parser("backtest", defaults=defaults,
                       help="rolling-origin backtest of the champion's settings vs seasonal naive",
                       description="Refit the champion's settings (or --version's) at each of --n-windows forecast "
                                   "origins at the end of every series, score each window against seasonal naive, "
                                   "and log the metrics and per-window tables to MLflow. The registry is unchanged.")
    _common(p)
    p.add_argument("--version", type=_positive, help="registered model version")
    p.add_argument("--n-windows", type=_positive, help="forecast origins per series")
    p.add_argument("--max-epochs", type=_positive, help="epochs per refit (default: the champion's)")
    p.add_argument("--season-length", type=_positive, help="season of seasonal naive and MASE")
    p.add_argument("--metric", choices=METRICS, help="ranking metric")


def _serve_commands(sub, defaults):
    p = sub.add_parser("serve", defaults=defaults, help="serve the train and forecast flows as scheduled deployments",
                       description="Needs a Prefect server: start one with `forecast server` (or "
                                   "scripts/prefect-server.sh) and export PREFECT_API_URL it prints.")
    _common(p, data=False)
    p.add_argument("--train-cron", help="cron of the retraining deployment")
    p.add_argument("--forecast-cron", help="cron of the forecast deployment (instead of the interval)")
    p.add_argument("--forecast-interval", dest="forecast_interval_seconds", type=_positive,
                   help="seconds between forecasts")
    p = sub.add_parser("server", help="start a local Prefect server on 127.0.0.1 (for `forecast serve`)")
    p.add_argument("--port", type=_positive, default=4200, help="port of the server and its UI (default: %(default)s)")
    _common(p, data=False)


# ---------------------------------------------------------------------------------- commands
FLOW_SECTIONS = {"train": "train", "forecast": "forecast", "backtest": "backtest"}
NOT_PARAMS = {"command", "debug", "config", "kind", "workers", "address"}


def _load_config(args):
    from . import config

    try:
        return config.load(args.config)
    except config.ConfigError as exc:
        raise UsageError(str(exc)) from None


def _flow_params(flow_obj, cfg, section, args):
    from prefect.exceptions import ParameterTypeError

    from . import config

    overrides = {k: v for k, v in vars(args).items() if k not in NOT_PARAMS}
    try:
        params = config.flow_parameters(flow_obj, cfg, section, overrides)
        return flow_obj.validate_parameters(params)
    except config.ConfigError as exc:
        raise UsageError(str(exc)) from None
    except ParameterTypeError as exc:
        raise UsageError(f"invalid parameters for the {section} flow: {_one_line(exc)}") from None


def _run_flow(name, args):
    from . import preflight

    cfg = _load_config(args)
    preflight.check_sources(args, cfg, FLOW_SECTIONS[name])
    from . import config, flows

    environment.quiet_prefect_errors(getattr(args, "debug", False))
    runner = config.section(cfg, "runner", {k: getattr(args, k, None) for k in ("kind", "workers", "address")})
    try:
        flow_obj = flows.with_runner(flows.FLOWS[name], **runner)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"[runner]: {exc}") from None
    params = _flow_params(flow_obj, cfg, FLOW_SECTIONS[name], args)
    if name == "train":
        preflight.check_training_data(params)
    print(f"[forecast] running the {name} flow: " + ", ".join(f"{k}={v}" for k, v in params.items()), flush=True)
    state = flow_obj(**params, return_state=True)
    if not state.is_completed():
        exc = state.result(raise_on_failure=False)
        if isinstance(exc, BaseException):
            raise exc
        raise RuntimeError(state.message or f"{name} flow ended {state.type.value}")
    return state.result()


def cmd_train(args):
    result = _run_flow("train", args)
    print("\n".join(train_summary(result)))
    return EXIT_OK if result.get("forecast_path") else EXIT_NOT_FORECAST


def train_summary(result):
    """The lines ``forecast train`` ends with, from the train flow's result."""
    metric, ho = result["metric"], result["holdout"]
    lines = [f"\nleaderboard ({metric} of the selection backtest before the hold-out; lower is better):"]
    width = max([len(row["candidate"]) for row in result["leaderboard"]] + [16])
    lines += [f"  {rank:>2}. {row['candidate']:<{width}} {row.get(metric, float('nan')):.4g}"
              for rank, row in enumerate(result["leaderboard"], 1)]
    lines += [f"best candidate: {result['best']}; hold-out {metric}: {ho['model']:.4g} "
              f"vs seasonal naive {ho['seasonal_naive']:.4g} ({_relative(ho['model'], ho['seasonal_naive'])})",
              f"{result['reason']}  (MLflow run {result['run_id']})",
              f"champion: v{result['champion_version']}  (MLflow run {result['champion_run_id']})",
              f"forecasts (v{result.get('forecast_version', result['champion_version'])}) written to "
              f"{result['forecast_path']}" if result.get("forecast_path") else
              f"forecasts NOT written: {result.get('forecast_error')}",
              f"open the MLflow UI: {self_command()} ui   then {result['runs_url']}"]
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


def _relative(model, naive):
    if not naive:
        return "n/a"
    change = (model - naive) / naive * 100
    return f"{abs(change):.1f}% {'better' if change < 0 else 'worse'}"


def cmd_forecast(args):
    result = _run_flow("forecast", args)
    print(f"forecasts of v{result['version']}: {result['rows']} rows written to {result['path']}")
    return EXIT_OK


def cmd_backtest(args):
    r = _run_flow("backtest", args)
    print(f"v{r['version']}: {r['metric']} {r['model']:.4g} vs seasonal naive {r['seasonal_naive']:.4g} "
          f"over {r['n_windows']} windows ({_relative(r['model'], r['seasonal_naive'])})")
    return EXIT_OK


def cmd_serve(args):
    from prefect.settings import PREFECT_API_URL

    from . import config, schedules

    if not PREFECT_API_URL.value():
        raise UsageError("schedules need a Prefect server: start one with `forecast server` (or "
                         "scripts/prefect-server.sh) and export PREFECT_API_URL=http://127.0.0.1:4200/api")
    cfg = _load_config(args)
    overrides = {k: getattr(args, k) for k in ("train_cron", "forecast_cron", "forecast_interval_seconds")}
    try:
        deployments = schedules.deployments(cfg, config.section(cfg, "serve", overrides))
    except (config.ConfigError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    schedules.serve(deployments)
    return EXIT_OK


def cmd_server(args):
    from . import schedules

    argv, env = schedules.server_command(args.port)
    print(f"[forecast] Prefect server on http://127.0.0.1:{args.port}; in another shell:\n"
          f"  export PREFECT_API_URL=http://127.0.0.1:{args.port}/api && forecast serve", flush=True)
    os.execvpe(argv[0], argv, env)


def cmd_ui(args):
    from . import config, server, store

    argv, env = server.ui_command(args.port)
    (store.store_dir() / "artifacts").mkdir(parents=True, exist_ok=True)
    experiment = config.load().get("common", {}).get("experiment", "forecast")
    url = store.runs_url(store.local_experiment_id(experiment), port=args.port)
    print(f"[forecast] MLflow UI on http://127.0.0.1:{args.port} over {store.store_dir()} (Ctrl-C stops it); "
          f"runs: {url}", flush=True)
    os.execvpe(argv[0], argv, env)


def cmd_datasets(args):
    from forecast.datasets import list_datasets

    table = list_datasets()
    for row in table.itertuples():
        print(f"{row.name:<14} {row.frequency:<6} {row.n_series:>4} series  {row.description}")
    return EXIT_OK


COMMANDS = {"train": cmd_train, "forecast": cmd_forecast, "backtest": cmd_backtest, "serve": cmd_serve,
            "server": cmd_server, "ui": cmd_ui, "datasets": cmd_datasets}


def _one_line(exc):
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return " ".join(text.split())


def main(argv=None):
    """Entry point of the ``forecast`` console script; returns the exit code."""
    environment.set_defaults()
    args = build_parser().parse_args(argv)  # exits 2 on bad arguments
    debug = getattr(args, "debug", False)
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"forecast {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"forecast {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns any failure into exit code 1
        if debug:
            traceback.print_exc()
        print(f"forecast {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
