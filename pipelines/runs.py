"""MLflow runs: open and end them, log parameters, metrics, tables, figures and files into them.

``run(name, params=None, tags=None, nested=False, parent_run_id=None)`` -> context manager
yielding ``RunHandle(run_id, skipped, reason)``; the run ends FINISHED, or FAILED (KILLED on
Ctrl-C) on any exception (tag ``forecast.error``), never left RUNNING. With tracking off
(``store.configure(required=False)`` on an unreachable store) it yields ``skipped=True``.
``log_params``, ``log_metrics``, ``log_frame``, ``log_figure``, ``log_file``, ``set_note``: each
takes ``run_id=None`` (the active run of this thread) so that Prefect tasks running in worker
threads, where MLflow's thread-local active run is not visible, can log into the flow's run by
id; each logs nothing when tracking is off.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass

from . import store
from .orphans import owner_tags
from .secrets import redact


@dataclass(frozen=True)
class RunHandle:
    run_id: str | None
    skipped: bool = False
    reason: str | None = None


def current_run_id(run_id=None):
    """Explicit id, else this thread's active run; None when tracking is off."""
    if not store.active_config():
        return None
    if run_id:
        return run_id
    import mlflow

    active = mlflow.active_run()
    if active is None:
        raise RuntimeError("no active MLflow run: call inside `with runs.run(...)` or pass run_id=")
    return active.info.run_id


@contextlib.contextmanager
def run(name, params=None, tags=None, nested=False, parent_run_id=None):
    """Open a run; end it FINISHED, or FAILED (tag ``forecast.error``) when the block raises.

    With tracking off it yields ``RunHandle(None, skipped=True, reason=...)`` and logs nothing.
    """
    cfg = store.active_config()
    if not cfg:
        yield RunHandle(None, True, cfg.reason)
        return
    import mlflow

    active = mlflow.start_run(
        run_name=name,
        nested=nested,
        parent_run_id=parent_run_id,
        experiment_id=cfg.experiment_id,
        tags=_strings({**owner_tags(), **(tags or {})}),
    )
    run_id = active.info.run_id
    try:
        if params:
            log_params(params, run_id)
        yield RunHandle(run_id)
    except BaseException as exc:
        # The store may be down too: raise the cause all the same; the next flow ends the run
        # (orphans).
        with contextlib.suppress(Exception):
            store.client().set_tag(
                run_id, "forecast.error", redact(f"{type(exc).__name__}: {exc}")[:5000]
            )
        with contextlib.suppress(
            Exception
        ):  # end_run drops the run from this thread first: never left active
            mlflow.end_run("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    else:
        mlflow.end_run("FINISHED")


def log_params(params, run_id=None):
    """Log a dict of parameters (values made plain strings; tuples as lists)."""
    from mlflow.entities import Param

    run_id = current_run_id(run_id)
    if run_id is None:
        return
    items = [Param(k, _plain(v)) for k, v in params.items()]
    client = store.client()
    for i in range(0, len(items), 100):  # MLflow's per-batch parameter limit
        client.log_batch(run_id, params=items[i : i + 100])


def log_metrics(metrics, step=0, run_id=None, timestamp=None):
    """Log a dict name -> number at ``step`` (non-finite and None values are skipped); ``timestamp``
    in ms since the epoch (None: now), for values measured earlier than they are logged."""
    from mlflow.entities import Metric

    run_id = current_run_id(run_id)
    if run_id is None:
        return
    now = int(time.time() * 1000) if timestamp is None else int(timestamp)
    items = [Metric(k, float(v), now, int(step)) for k, v in metrics.items() if finite(v)]
    client = store.client()
    for i in range(0, len(items), 1000):
        client.log_batch(run_id, metrics=items[i : i + 1000])


def finite(v):
    """Whether ``v`` is a finite number (None, NaN, inf and non-numbers are not logged as
    metrics)."""
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def set_note(run_id, markdown):
    """The run's description in the MLflow UI (the ``mlflow.note.content`` tag, rendered as
    markdown).
    """
    run_id = current_run_id(run_id)
    if run_id is not None:
        from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE

        store.client().set_tag(run_id, MLFLOW_RUN_NOTE, redact(markdown))


def now_ms():
    return int(time.time() * 1000)


def _plain(v):  # passwords of database URLs never reach MLflow (pipelines.secrets)
    if isinstance(v, tuple):
        v = list(v)
    return redact(v if isinstance(v, str) else json.dumps(v, default=str))


def _strings(d):
    return {str(k): redact(str(v)) for k, v in d.items()}


def log_frame(frame, artifact_file, run_id=None):
    """Write ``frame`` as CSV into the run's artifacts at ``artifact_file``."""
    run_id = current_run_id(run_id)
    if run_id is not None:
        store.client().log_text(run_id, frame.to_csv(index=False), artifact_file)


def log_figure(fig, artifact_file, run_id=None):
    run_id = current_run_id(run_id)
    if run_id is not None:
        store.client().log_figure(run_id, fig, artifact_file)


def log_file(path, artifact_path=None, run_id=None):
    """Copy the file at ``path`` into the run's artifacts (under the folder ``artifact_path``)."""
    run_id = current_run_id(run_id)
    if run_id is not None:
        store.client().log_artifact(run_id, str(path), artifact_path)


def versions():
    """Installed versions of the packages a logged model depends on ("absent" when not
    installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist, key in (
        ("recurrent-forecast", "forecast"),
        ("torch", "torch"),
        ("pandas", "pandas"),
        ("numpy", "numpy"),
        ("scikit-learn", "sklearn"),
        ("mlflow", "mlflow"),
    ):
        try:
            out[key] = version(dist)
        except PackageNotFoundError:
            out[key] = "absent"
    return out
