"""The ``forecast`` command: train, forecast, backtest, serve, server, ui, serve-model, datasets.

Exit codes a scheduler can act on: 0 success; 2 bad arguments, configuration or parameters
(nothing ran); 1 the flow ran and failed — the cause is printed on one line (``error: ...``),
with the traceback only under ``--debug``; 130 / 143 stopped by SIGINT / SIGTERM
(``pipelines.signals``).

The options are in ``pipelines.options``, the checks before a flow runs in
``pipelines.preflight``; offline settings (``pipelines.environment``) are set, unless already
set, before prefect or mlflow is imported.
"""

from __future__ import annotations

import os
import sys
import traceback

from forecast.training.stopping import Interrupted

from . import config, environment, io, preflight, secrets, signals
from .options import build_parser
from .parameters import COLUMN_FIELDS, Source
from .summary import relative, season, self_command, train_summary  # noqa: F401 - re-exported

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_FORECAST = (
    0,
    1,
    2,
    3,
)  # 3: trained and registered, no forecasts


class UsageError(Exception):
    """Bad arguments, configuration or parameters: exit code 2."""


FLOW_SECTIONS = {"train": "train", "forecast": "forecast", "backtest": "backtest"}
NOT_PARAMS = {"command", "debug", "config", "kind", "workers", "address"}


def _load_config(args):
    try:
        return config.load(args.config)
    except config.ConfigError as exc:
        raise UsageError(str(exc)) from None


def _flow_params(flow_obj, cfg, section, args):
    from prefect.exceptions import ParameterTypeError

    overrides = {k: v for k, v in vars(args).items() if k not in NOT_PARAMS}
    from . import search

    try:
        params = config.flow_parameters(flow_obj, cfg, section, overrides)
        params = flow_obj.validate_parameters(params)
        if section == "train":
            search.check(params)
        return params
    except config.ConfigError as exc:
        raise UsageError(str(exc)) from None
    except ParameterTypeError as exc:
        raise UsageError(f"invalid parameters for the {section} flow: {_one_line(exc)}") from None
    except ValueError as exc:  # parameters that do not go together (search.check)
        raise UsageError(f"invalid parameters for the {section} flow: {exc}") from None


def _run_flow(name, args):
    cfg = _load_config(args)
    preflight.check_sources(args, cfg, FLOW_SECTIONS[name])
    from . import flows, runners

    environment.quiet_prefect_errors(getattr(args, "debug", False))
    runner = config.section(
        cfg, "runner", {k: getattr(args, k, None) for k in ("kind", "workers", "address")}
    )
    try:
        flow_obj = runners.with_runner(flows.FLOWS[name], **runner)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"[runner]: {exc}") from None
    params = _by_reference(_flow_params(flow_obj, cfg, FLOW_SECTIONS[name], args), name)
    if name == "train":
        found = preflight.check_training_data(params)
        if found is not None:
            print(
                f"[forecast] from the data: {found[0].describe(params['horizon'])}\n[forecast] "
                f"training plan: {found[1].describe()}",
                flush=True,
            )
    if not params.get("model_name"):
        params["model_name"] = Source.model_validate(params["source"]).model_name()
        print(
            f"[forecast] registered model: {params['model_name']} (named after the data; "
            f"--model-name to choose another)",
            flush=True,
        )
    print(f"[forecast] running the {name} flow: {shown(params, name != 'train')}", flush=True)
    with signals.prefect_api():  # a temporary server that dies with this command, unless one is set
        state = signals.run_stoppable(lambda: flow_obj(**params, return_state=True))
    if not state.is_completed():
        exc = state.result(raise_on_failure=False)
        if isinstance(exc, BaseException):
            raise exc
        raise RuntimeError(state.message or f"{name} flow ended {state.type.value}")
    return state.result()


def _by_reference(params, command):
    """``params`` with no literal password for Prefect to store (``pipelines.secrets``): one in
    --data or --sql-url is moved into a variable of this process, with a warning; one in a URL
    that MLflow or Optuna read is a usage error."""
    try:
        params, warnings = secrets.parameters_by_reference(params)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for warning in warnings:
        print(f"forecast {command}: warning: {warning}", file=sys.stderr, flush=True)
    return params


def shown(params, registered=False):
    """``k=v, ...`` of flow parameters as a user gave them (the source's fields flat), passwords
    hidden; ``registered`` (forecast, backtest): column names left at their defaults read "as
    trained" (``parameters.as_trained``: the registered version's, where the data has them)."""
    flat = dict(params)
    if "source" in flat:
        dumped, default = Source.model_validate(flat.pop("source")).model_dump(), Source()
        unset = [f for f in COLUMN_FIELDS if registered and dumped[f] == getattr(default, f)]
        flat = dumped | {f: f"as trained (else {dumped[f]})" for f in unset} | flat
    return ", ".join(f"{k}={io.redact(v) if isinstance(v, str) else v}" for k, v in flat.items())


def cmd_train(args):
    result = _run_flow("train", args)
    print("\n".join(train_summary(result)))
    return EXIT_OK if result.get("forecast_path") else EXIT_NOT_FORECAST


def cmd_forecast(args):
    result = _run_flow("forecast", args)
    print(f"forecasts of v{result['version']}: {result['rows']} rows written to {result['path']}")
    return EXIT_OK


def cmd_backtest(args):
    r = _run_flow("backtest", args)
    print(
        f"v{r['version']}: {r['metric']} {r['model']:.4g} vs seasonal naive{season(r)} "
        f"{r['seasonal_naive']:.4g} over {r['n_windows']} windows "
        f"({relative(r['model'], r['seasonal_naive'])})"
    )
    return EXIT_OK


def cmd_serve(args):
    from prefect.settings import PREFECT_API_URL

    from . import schedules

    if not PREFECT_API_URL.value():
        raise UsageError(
            "schedules need a Prefect server: start one with `forecast server` (or "
            "scripts/prefect-server.sh) and export PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    cfg = _load_config(args)  # served runs inherit this process' variables: passwords moved here
    cfg = {k: _by_reference(v, "serve") if isinstance(v, dict) else v for k, v in cfg.items()}
    overrides = {
        k: getattr(args, k) for k in ("train_cron", "forecast_cron", "forecast_interval_seconds")
    }
    try:
        deployments = schedules.deployments(cfg, config.section(cfg, "serve", overrides))
    except (config.ConfigError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    schedules.serve(deployments)
    return EXIT_OK


def cmd_server(args):
    from . import schedules

    _replace_process(
        *schedules.server_command(args.port),
        f"[forecast] Prefect server on http://127.0.0.1:{args.port}; in another shell:\n  export "
        f"PREFECT_API_URL=http://127.0.0.1:{args.port}/api && forecast serve",
    )


def cmd_ui(args):
    from . import server, store

    (store.store_dir() / "artifacts").mkdir(parents=True, exist_ok=True)
    experiment = config.load().get("common", {}).get("experiment", "forecast")
    url = store.runs_url(store.local_experiment_id(experiment), port=args.port)
    _replace_process(
        *server.ui_command(args.port),
        f"[forecast] MLflow UI on http://127.0.0.1:{args.port} over {store.store_dir()} (Ctrl-C "
        f"stops it); runs: {url}",
    )


def cmd_serve_model(args):
    from . import serving

    try:
        version = serving.resolve(args.model_name, args.version, args.tracking_uri)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    argv, env = serving.serve_command(
        args.model_name, args.version, args.host, args.port, args.tracking_uri
    )
    _replace_process(argv, env, serving.banner(args, version))


def _replace_process(argv, env, message):
    """Print ``message``, then become the server ``argv`` (Ctrl-C ends it)."""
    print(message, flush=True)
    os.execvpe(argv[0], argv, env)


def cmd_datasets(args):
    from forecast.datasets import list_datasets

    table = list_datasets()
    for row in table.itertuples():
        print(f"{row.name:<14} {row.frequency:<6} {row.n_series:>4} series  {row.description}")
    return EXIT_OK


COMMANDS = {
    "train": cmd_train,
    "forecast": cmd_forecast,
    "backtest": cmd_backtest,
    "serve": cmd_serve,
    "server": cmd_server,
    "ui": cmd_ui,
    "serve-model": cmd_serve_model,
    "datasets": cmd_datasets,
}


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
    except Interrupted as exc:  # SIGINT/SIGTERM: fits stopped, flow run crashed, MLflow runs KILLED
        print(f"forecast {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
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
