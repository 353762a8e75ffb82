"""What an entry point sets up in its own process: offline environment defaults; and logging: the
Prefect log filter of the CLI, the logger that tasks and flows write to.

The defaults are set (unless already set) before prefect or mlflow is imported: no telemetry,
http calls that fail fast, a project-local Prefect home, a patient ephemeral-server start. The
CLI applies all of them; ``store.configure`` applies the MLflow ones, since a library user may
reach MLflow without the CLI (and after Prefect has read its own settings).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

TELEMETRY_OFF = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
}  # MLflow ignores DO_NOT_TRACK=1
# http calls to a tracking server fail fast instead of retrying for minutes; no progress bars in
# logs
MLFLOW = {
    **TELEMETRY_OFF,
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
PREFECT_ANALYTICS_OFF = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false"
}  # not silenced by CI or DO_NOT_TRACK


def checkout():
    """The repository this package sits in (it has pyproject.toml), else the current folder."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def prefect_defaults():
    return {
        **PREFECT_ANALYTICS_OFF,
        "PREFECT_HOME": str(checkout() / ".prefect"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }  # the default 20 s is tight on 2 cores


def set_defaults(prefect=True):
    """Set the offline defaults that are not set yet: MLflow's, and Prefect's unless
    ``prefect=False``.
    """
    for key, value in {**MLFLOW, **(prefect_defaults() if prefect else {})}.items():
        os.environ.setdefault(key, value)


class _NoTracebacks(logging.Filter):
    """Drop the tracebacks Prefect logs for failed task and flow runs (the CLI prints one line)."""

    def filter(self, record):
        return not (record.exc_info or record.levelno >= logging.ERROR)


def quiet_prefect_errors(debug):
    """Unless ``debug``, keep Prefect's INFO progress lines but not its failure tracebacks."""
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logger = logging.getLogger(name)
        for f in [f for f in logger.filters if isinstance(f, _NoTracebacks)]:
            logger.removeFilter(f)
        if not debug:
            logger.addFilter(_NoTracebacks())


def run_logger():
    """The run logger inside a flow or task run, a plain logger when called outside one
    (``task.fn`` in tests).
    """
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("pipelines")
