"""The registered model over HTTP: MLflow's scoring server (``mlflow models serve``) in front of
the logged pyfunc model (``forecast serve-model``).

What MLflow 3's scoring server does with a request (``mlflow.pyfunc.scoring_server``), and what
this module does about it:

* ``dataframe_split`` / ``dataframe_records`` JSON becomes a DataFrame cast to the signature's
  types: ``ds`` strings are parsed by ``pd.to_datetime``, a ``y`` that is not numeric is refused
  (400, naming the column). Columns absent from the signature are dropped with a warning (static
  covariates come from the fit anyway); *required* columns that are missing are refused with
  MLflow's message, so :func:`permissive_signature` makes every input optional and the library
  names what is missing.
* An ``MlflowException`` raised by the model keeps its error code (``INVALID_PARAMETER_VALUE``
  -> 400), its message prefixed by ``Failed to predict data '<the frame>'``; any other exception
  becomes a 400 "unexpected error" carrying the traceback. :func:`answer` therefore turns the
  library's input errors into :func:`request_error` (400, the library's message) and anything
  else into an ``INTERNAL_ERROR`` (500) without the traceback.

mlflow is imported inside the functions; the server is a subprocess.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import sys
from pathlib import Path

from . import arguments, environment, store

DEFAULT_PORT = 5001  # next to the UI's 5000
ABOUT = (
    "serve the registered champion (or --version) over HTTP with MLflow's model server "
    "(POST /invocations)"
)
INPUT_ERRORS = (ValueError, TypeError, KeyError)  # what the library raises for bad input
# torch's intra-op threads in the server (read by torch at import): a request is a few windows, and
# two threads on two shared cores made a 100-series request 3x slower at p50 and 10x at p95
# (benchmarks/RESULTS-serving.md, load average 13-16)
SERVER_THREADS = "1"
SERVER_FLAG = "FORECAST_MODEL_SERVER"  # "1" in the process serve_command starts (see _settle)


@functools.cache
def _request_error_class():
    from mlflow.exceptions import MlflowException

    class RequestError(MlflowException, ValueError):
        """Bad input to the served model: HTTP 400 through MLflow's scoring server, and still a
        ValueError for Python callers of the pyfunc model."""

    return RequestError


def request_error(message):
    """An exception MLflow's scoring server answers with 400 and ``message`` (no traceback)."""
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    return _request_error_class()(message, error_code=INVALID_PARAMETER_VALUE)


def answer(estimator, frame):
    """The pyfunc model's predict: ``estimator.predict`` of a ``logged_model.pyfunc_input`` frame,
    with the library's input errors as :func:`request_error` (400) and other failures as an
    internal error (500) that names the exception without its traceback. The first call in the
    model server settles its heap (:func:`_settle`)."""
    from mlflow.exceptions import MlflowException

    from .logged_model import split_pyfunc_input

    _settle()
    try:
        history, x_future = split_pyfunc_input(estimator, frame)
        return estimator.predict(history, X_future=x_future)
    except MlflowException:
        raise
    except INPUT_ERRORS as exc:
        raise request_error(str(exc).strip("'\"")) from exc
    except Exception as exc:
        raise MlflowException(f"forecast failed: {type(exc).__name__}: {exc}") from exc


@functools.cache
def _settle():
    """Once, in the model server only (:data:`SERVER_FLAG`): move every object loaded so far
    (torch, pandas, MLflow, the model: ~450,000 tracked objects) out of the garbage collector's
    full collections (``gc.freeze``). Each full collection traversed them all: a 450 ms pause
    every few dozen requests of 100 series (benchmarks/RESULTS-serving.md). A Python caller of the
    pyfunc model keeps its collector as it is."""
    if os.environ.get(SERVER_FLAG) == "1":
        gc.freeze()


def permissive_signature(signature):
    """``signature`` with every input column optional: a request without ``y`` (or a covariate)
    reaches the library, whose message names the column, instead of MLflow's schema error. The
    types stay: they are how MLflow parses JSON (``ds`` to datetime, ``y`` to float)."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    inputs = Schema([ColSpec(c.type, c.name, required=False) for c in signature.inputs.inputs])
    return ModelSignature(inputs, signature.outputs, signature.params)


# ---------------------------------------------------------------------------------- the server
def model_uri(model_name, version=None):
    return (
        f"models:/{model_name}/{version}"
        if version is not None
        else f"models:/{model_name}@champion"
    )


def resolve(model_name, version=None, uri=None):
    """The version string that ``model_uri(model_name, version)`` serves; a ValueError naming the
    model, the version or alias, and the store when there is none."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(uri)
    client = MlflowClient(uri, registry_uri=uri)
    try:
        mv = (
            client.get_model_version(model_name, str(version))
            if version is not None
            else client.get_model_version_by_alias(model_name, "champion")
        )
    except MlflowException as exc:
        which = f"version {version}" if version is not None else "'champion' alias"
        raise ValueError(
            f"--model-name {model_name!r} has no {which} in the MLflow store {uri} "
            f"({exc.message.splitlines()[0]}); train it first (`forecast train`) or pass "
            f"--tracking-uri"
        ) from None
    return str(mv.version)


def tracking_uri(uri=None):
    """The store the server reads: ``uri``, else $MLFLOW_TRACKING_URI, else the local store."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or store.default_uri()


def serve_command(model_name, version=None, host="127.0.0.1", port=DEFAULT_PORT, uri=None):
    """(argv, env) of ``mlflow models serve`` for the champion (or ``version``) of ``model_name``:
    this interpreter's environment (``--env-manager local``), one worker, the same store as
    tracking and registry URI, telemetry off, this interpreter's bin folder first on PATH
    (MLflow starts ``uvicorn`` by name), torch on one intra-op thread unless $OMP_NUM_THREADS
    says otherwise (:data:`SERVER_THREADS`), and :data:`SERVER_FLAG` (see :func:`answer`)."""
    uri = tracking_uri(uri)
    bin_dir = str(Path(sys.executable).parent)
    env = dict(
        os.environ,
        **environment.MLFLOW,
        MLFLOW_TRACKING_URI=uri,
        MLFLOW_REGISTRY_URI=uri,
        OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", SERVER_THREADS),
        **{SERVER_FLAG: "1"},
        PATH=os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
    )
    argv = [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        model_uri(model_name, version),
        "--env-manager",
        "local",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    return argv, env


def example_payload(model_name, version, uri=None):
    """The model's logged ``serving_input_example.json`` (a ``dataframe_split`` request), as text;
    None when the model was logged without one."""
    from mlflow.tracking import MlflowClient

    import mlflow

    uri = tracking_uri(uri)
    source = MlflowClient(uri, registry_uri=uri).get_model_version_download_uri(
        model_name, str(version)
    )
    try:
        text = mlflow.artifacts.load_text(f"{source.rstrip('/')}/serving_input_example.json")
    except Exception:  # noqa: BLE001 - an older model without the file: no example
        return None
    return json.dumps(json.loads(text), separators=(",", ":"))


def banner(args, version):
    """What ``forecast serve-model`` prints before it becomes the server: the URL, and a curl of
    the model's own example request (written to ``<store>/serving/<name>-v<version>.json``)."""
    uri = tracking_uri(args.tracking_uri)
    what = f"v{version}" + (" (champion)" if args.version is None else "")
    url = f"http://{args.host}:{args.port}"
    lines = [f"[forecast] serving {args.model_name} {what} from {uri} on {url} (Ctrl-C stops it)"]
    payload = example_payload(args.model_name, version, uri)
    if payload is not None:
        path = _examples_dir(uri) / f"{Path(args.model_name).name}-v{version}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(payload)
        tmp.replace(path)  # atomic
        lines.append(
            f"[forecast] health: curl {url}/ping\n[forecast] forecast a history (unique_id, ds, y, "
            f"covariates) as dataframe_split or dataframe_records JSON:\n  curl -s "
            f"{url}/invocations -H 'Content-Type: application/json' -d @{path}"
        )
    return "\n".join(lines)


def _examples_dir(uri):
    """``serving/`` beside a SQLite store's database, else in the local store folder."""
    db = uri[len("sqlite:///") :] if uri.startswith("sqlite:///") else None
    return (Path(db).parent if db else store.store_dir()) / "serving"


def add_options(p):
    """The options of ``forecast serve-model`` (``pipelines.options``)."""
    p.add_argument("--model-name", required=True, help="MLflow registered model name")
    p.add_argument(
        "--version", type=arguments.positive, help="registered version (default: the champion)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    p.add_argument(
        "--port", type=arguments.positive, default=DEFAULT_PORT, help="port (default: %(default)s)"
    )
    p.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI (default: the local SQLite store mlflow/store/mlflow.db)",
    )
    p.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print tracebacks on failure",
    )
