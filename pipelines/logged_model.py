"""The logged model: an MLflow pyfunc model around a fitted RNNForecaster (``pyfunc_model.py``),
its input frame, and the example it is logged with (rebuilt from the fitted tail by the library).

mlflow is imported inside the functions.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import serving, store
from .runs import current_run_id, versions

FUTURE_FLAG = "is_future"  # pyfunc input: True on the horizon rows that carry future covariates
MODEL_URI_TAG = "forecast.model_uri"


@dataclass(frozen=True)
class ModelRef:
    model_uri: str
    run_id: str
    model_id: str | None
    version: object = None  # mlflow ModelVersion when registered


def pyfunc_input(history, X_future=None):
    """The frame the logged pyfunc model takes: history rows, plus horizon rows when needed.

    Parameters
    ----------
    history : long DataFrame [unique_id, ds, y, *past, *future] (the model's column names).
    X_future : long DataFrame [unique_id, ds, *future] for the horizon (models with future
        covariates only); its rows are appended with ``y`` NaN and ``is_future`` True.

    Returns
    -------
    DataFrame with ``y`` and covariates as float64 (the signature is strict about dtype) and,
    when ``X_future`` is given, a boolean ``is_future`` column.
    """
    frame = history.copy()
    if X_future is not None:
        frame = pd.concat(
            [frame.assign(**{FUTURE_FLAG: False}), X_future.assign(**{FUTURE_FLAG: True})],
            ignore_index=True,
        )
    for col in frame.columns:
        if (
            col != FUTURE_FLAG
            and pd.api.types.is_numeric_dtype(frame[col])
            and not pd.api.types.is_bool_dtype(frame[col])
        ):
            frame[col] = frame[col].astype("float64")
    return frame


def split_pyfunc_input(estimator, frame):
    """Inverse of :func:`pyfunc_input` for ``estimator``: (history, X_future or None)."""
    spec = estimator.spec_
    if FUTURE_FLAG not in frame.columns:
        if estimator.layout_.future:
            raise ValueError(
                f"the model uses future covariates {list(estimator.layout_.future)}: add the "
                f"horizon rows with a boolean {FUTURE_FLAG!r} column (see "
                f"pipelines.registry.pyfunc_input)"
            )
        return frame, None
    flag = frame[FUTURE_FLAG].astype(bool).to_numpy()
    history = frame.loc[~flag].drop(columns=FUTURE_FLAG).reset_index(drop=True)
    if not estimator.layout_.future:
        return history, None
    cols = [spec.id_col, spec.time_col, *estimator.layout_.future]
    return history, frame.loc[flag, cols].reset_index(drop=True)


def example_history(estimator, n_series=3):
    """A small history frame rebuilt from the fitted tail (last ``lookback`` rows of a few series,
    ``forecast.data.history.tail_frame``) under the model's column names; with future covariates,
    placeholder horizon rows show the shape (callers pass real ``X_future``)."""
    from forecast.data.calendar import future_dates
    from forecast.data.history import tail_frame

    layout, spec = estimator.layout_, estimator.spec_
    columns = [spec.target_col, *layout.past, *layout.future]
    names = {"unique_id": spec.id_col, "ds": spec.time_col}
    frame = tail_frame(estimator.tail_, columns, estimator.lookback_, names, n_series)
    if not layout.future:
        return frame
    last = frame.groupby(spec.id_col, sort=False)[spec.time_col].max()
    horizon = [
        pd.DataFrame(
            {
                spec.id_col: uid,
                spec.time_col: future_dates(t, estimator.freqs_[uid], estimator.horizon),
            }
        )
        for uid, t in last.items()
    ]
    xf = pd.concat(horizon, ignore_index=True)
    return pyfunc_input(frame, xf.assign(**{c: 0.0 for c in layout.future}))


def _pip_requirements():
    v = versions()
    reqs = [
        f"{dist}=={v[key]}"
        for dist, key in (
            ("torch", "torch"),
            ("pandas", "pandas"),
            ("numpy", "numpy"),
            ("scikit-learn", "sklearn"),
            ("mlflow", "mlflow"),
        )
    ]
    return reqs + [f"recurrent-forecast=={v['forecast']}"]


def log_model(estimator, name="model", registered_model_name=None, input_example=None, run_id=None):
    """Log a fitted RNNForecaster as an MLflow pyfunc model (``pipelines/pyfunc_model.py``).

    The model takes :func:`pyfunc_input` frames — recent history of known series (plus flagged
    horizon rows with future covariates when the model uses them) — and returns the forecast
    frame [unique_id, ds, y_pred], exactly ``estimator.predict(history, X_future)``: validation,
    scaling and inverse scaling happen inside the saved estimator (logged as artifact
    ``estimator``, the folder written by ``RNNForecaster.save``).

    Parameters
    ----------
    input_example : pyfunc input frame (None: rebuilt from the training tail of 3 series).
    registered_model_name : also register a version under this name (no alias is set here;
        see :func:`register_and_promote`).

    Returns
    -------
    ModelRef(model_uri, run_id, model_id, version) or None when tracking is off.
    """
    run_id = current_run_id(run_id)
    if run_id is None:
        return None
    from mlflow.models import infer_signature

    import mlflow

    example = (
        pyfunc_input(*split_pyfunc_input(estimator, input_example))
        if input_example is not None
        else example_history(estimator)
    )
    output = estimator.predict(*split_pyfunc_input(estimator, example))
    signature = serving.permissive_signature(infer_signature(example, output))
    with tempfile.TemporaryDirectory() as tmp:
        folder = estimator.save(Path(tmp) / "estimator")
        # Model.log takes run_id (mlflow.pyfunc.log_model only logs into this thread's active run).
        info = mlflow.models.Model.log(
            artifact_path=None,
            name=name,
            flavor=mlflow.pyfunc,
            run_id=run_id,
            python_model=str(Path(__file__).with_name("pyfunc_model.py")),
            artifacts={"estimator": str(folder)},
            signature=signature,
            input_example=example,
            pip_requirements=_pip_requirements(),
            registered_model_name=registered_model_name,
        )
    store.client().set_tag(run_id, MODEL_URI_TAG, info.model_uri)
    version = None
    if registered_model_name:
        version = store.client().get_model_version(
            registered_model_name, str(info.registered_model_version)
        )
    return ModelRef(info.model_uri, run_id, getattr(info, "model_id", None), version)


def model_uri_of(run_id_or_uri):
    """(model_uri, run_id) from a run id (its logged model) or a models:/ or runs:/ URI."""
    client = store.client()
    if run_id_or_uri.startswith("models:/m-"):
        model = client.get_logged_model(run_id_or_uri[len("models:/") :].split("/")[0])
        return run_id_or_uri, model.source_run_id
    if run_id_or_uri.startswith("runs:/"):
        return run_id_or_uri, run_id_or_uri[len("runs:/") :].split("/")[0]
    uri = client.get_run(run_id_or_uri).data.tags.get(MODEL_URI_TAG)
    if uri is None:
        raise ValueError(
            f"run {run_id_or_uri} has no logged model (tag {MODEL_URI_TAG!r}); call log_model first"
        )
    return uri, run_id_or_uri
