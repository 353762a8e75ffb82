"""Where MLflow tracks: the store's location, the tracking URI and experiment, set explicitly.

``configure(uri=None, experiment="forecast", required=True) -> TrackingConfig`` Point MLflow at
``uri`` (else ``$MLFLOW_TRACKING_URI``, else the local store
``sqlite:///<home>/mlflow/store/mlflow.db``), create/get the experiment, probe an http(s) server
within ~3 s. Unreachable -> ``TrackingUnavailable`` naming the URI, or, with ``required=False``,
a disabled config (falsy, ``.reason`` says why): nothing is logged then. ``active_config()``,
``client()``: what the logging modules (``runs``, ``tracking``, ``registry``) use.
``experiment_id()``, ``runs_url(experiment_id=None, uri=None, port=5000)``,
``ui_base(uri=None)``, ``leaderboard_view(metric, run_id)``, ``local_experiment_id(name)``,
``home()``, ``store_dir()``, ``default_uri()``.

mlflow is imported inside the functions that need it (MLflow 3 otherwise writes ``mlflow.db``
into the current directory: the URI is never left implicit).
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from . import environment

PROBE_TIMEOUT = 3.0
UI_PORT = 5000  # `forecast ui` and the links to it
# MLflow 3's UI opens experiments without this tag on its GenAI overview; this value (the UI's
# "custom model development") opens the runs table instead.
KIND_TAG, KIND_ML = "mlflow.experimentKind", "custom_model_development"


class TrackingUnavailable(RuntimeError):
    """The tracking server or store cannot be reached; the message names the URI."""


@dataclass(frozen=True)
class TrackingConfig:
    uri: str | None
    experiment: str
    experiment_id: str | None = None
    artifact_location: str | None = None
    enabled: bool = True
    reason: str | None = None  # why tracking is off (enabled=False)

    def __bool__(self):
        return self.enabled


@dataclass
class Active:
    """The process's tracking configuration: set by :func:`configure`, read through
    :func:`active_config`.
    """

    config: TrackingConfig | None = None


ACTIVE = Active()


# ---------------------------------------------------------------------------------- where
def home():
    """Project home: ``$FORECAST_HOME``, else the checkout this package sits in, else the cwd."""
    if os.environ.get("FORECAST_HOME"):
        return Path(os.environ["FORECAST_HOME"]).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / "mlflow").is_dir():
        return checkout
    return Path.cwd()


def store_dir():
    """The embedded local store (gitignored): ``<home>/mlflow/store``."""
    return home() / "mlflow" / "store"


def default_uri():
    return f"sqlite:///{store_dir() / 'mlflow.db'}"


# ---------------------------------------------------------------------------------- configure
def configure(uri=None, experiment="forecast", required=True):
    """Set the tracking URI explicitly and get-or-create ``experiment``.

    Parameters
    ----------
    uri : None ($MLFLOW_TRACKING_URI, else :func:`default_uri`) | "sqlite:///..." | "http(s)://..."
    required : False -> an unreachable store gives a disabled (falsy) config instead of raising.

    Returns
    -------
    TrackingConfig (falsy when tracking is off)
    """
    environment.set_defaults(prefect=False)
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or default_uri()
    try:
        _probe(uri)
        import mlflow

        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        # Subprocesses (Dask workers, the `mlflow` CLI) see the same store and experiment.
        os.environ["MLFLOW_TRACKING_URI"], os.environ["MLFLOW_EXPERIMENT_NAME"] = uri, experiment
        exp_id, location = _experiment(uri, experiment)
        mlflow.set_experiment(experiment_id=exp_id)
    except TrackingUnavailable as exc:
        return _unavailable(uri, experiment, str(exc), required)
    except Exception as exc:  # any MLflow/store error: say which URI, keep the cause
        msg = f"MLflow tracking at {uri} is unavailable: {type(exc).__name__}: {exc}"
        if required:
            raise TrackingUnavailable(msg) from exc
        return _unavailable(uri, experiment, msg, required)
    ACTIVE.config = TrackingConfig(uri, experiment, exp_id, location)
    return ACTIVE.config


def _unavailable(uri, experiment, msg, required):
    if required:
        raise TrackingUnavailable(msg)
    ACTIVE.config = TrackingConfig(
        uri, experiment, enabled=False, reason=f"tracking skipped: {msg}"
    )
    return ACTIVE.config


def _probe(uri):
    """Fail within ~PROBE_TIMEOUT seconds when an http(s) server does not answer; make local
    dirs."""
    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https"):
        url = uri.rstrip("/") + "/health"
        try:
            urllib.request.urlopen(url, timeout=PROBE_TIMEOUT).close()
        except urllib.error.HTTPError:
            pass  # it answered (auth, proxy, no /health): reachable
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TrackingUnavailable(
                f"MLflow tracking server at {uri} is unreachable ({reason}); "
                "start it (mlflow/server.sh) or set MLFLOW_TRACKING_URI"
            ) from None
    elif parsed.scheme == "sqlite":
        db = uri[len("sqlite:///") :]
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)


def _experiment(uri, name):
    from mlflow.tracking import MlflowClient

    mlflow_client = MlflowClient(uri, registry_uri=uri)  # never the process-wide registry
    exp = mlflow_client.get_experiment_by_name(name)
    if exp is not None:
        if KIND_TAG not in exp.tags:
            mlflow_client.set_experiment_tag(exp.experiment_id, KIND_TAG, KIND_ML)
        return exp.experiment_id, exp.artifact_location
    location = None
    if uri.startswith("sqlite:///"):
        # Next to the database, never the cwd (MLflow's default for a bare sqlite store).
        location = (Path(uri[len("sqlite:///") :]).parent / "artifacts" / name).resolve().as_uri()
    return mlflow_client.create_experiment(
        name, artifact_location=location, tags={KIND_TAG: KIND_ML}
    ), location


def active_config():
    """The active config; configures the default store on first use so the URI is never implicit."""
    if ACTIVE.config is None:
        return configure(experiment=os.environ.get("MLFLOW_EXPERIMENT_NAME", "forecast"))
    return ACTIVE.config


def client():
    """An ``MlflowClient`` of the active store."""
    from mlflow.tracking import MlflowClient

    uri = active_config().uri
    return MlflowClient(uri, registry_uri=uri)  # never the process-wide registry


# ---------------------------------------------------------------------------------- the UI's links
def experiment_id():
    """Id of the configured experiment (None when tracking is off)."""
    return active_config().experiment_id


def runs_url(experiment_id=None, uri=None, port=UI_PORT):
    """The UI page of an experiment's runs table (MLflow 3 otherwise opens its GenAI overview).

    ``uri`` an http(s) tracking server: its own UI; anything else: ``forecast ui`` on ``port``.
    """
    base = ui_base(uri, port)
    return f"{base}/#/experiments/{experiment_id}/runs" if experiment_id is not None else base


def ui_base(uri=None, port=UI_PORT):
    """The MLflow UI's address: an http(s) tracking server's own, else ``forecast ui``'s on
    ``port``.
    """
    return (
        uri.rstrip("/")
        if uri and uri.startswith(("http://", "https://"))
        else f"http://127.0.0.1:{port}"
    )


VIEW_TAG = "mlflow.sharedViewState."  # the UI's "share view" state, stored as an experiment tag


def leaderboard_view(metric, run_id, experiment=None, uri=None, score=None):
    """Set up the runs table as the leaderboard of train run ``run_id`` and return its link: that
    run's candidates sorted by ``score`` (default ``backtest_<metric>``; an Optuna search's trials:
    ``val_mase``), with the columns a comparison needs (that score, the hold-out metric, last
    validation and train loss, rank, seconds). It is the UI's own shared view
    (``?viewStateShareKey=``, stored as an experiment tag), so the link works in any browser
    without choosing columns by hand."""
    exp = experiment if experiment is not None else experiment_id()
    score = score or f"backtest_{metric}"
    seconds = "fit_seconds" if score.startswith("backtest_") else "seconds"
    columns = [score, f"holdout_{metric}", "val_loss", "train_loss", "rank", seconds]
    state = {
        "searchFilter": f"tags.mlflow.parentRunId = '{run_id}'",
        "orderByKey": f"metrics.`{score}`",
        "orderByAsc": True,
        "selectedColumns": [f"metrics.`{c}`" for c in columns],
    }
    key = f"leaderboard-{run_id}"
    client().set_experiment_tag(exp, VIEW_TAG + key, json.dumps(state))
    return f"{runs_url(exp, uri or active_config().uri)}?viewStateShareKey={key}"


def local_experiment_id(name, store=None):
    """Id of experiment ``name`` in the local store without importing mlflow (None if absent)."""
    import sqlite3

    db = Path(store or store_dir()) / "mlflow.db"
    if not db.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            row = conn.execute(
                "SELECT experiment_id FROM experiments WHERE name = ? AND lifecycle_stage = "
                "'active'",
                (name,),
            ).fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None
