"""The logged model and the model registry: pyfunc logging, champion promotion, loading.

Built on :mod:`pipelines.store` (where MLflow tracks) and :mod:`pipelines.runs` (run basics).
mlflow is imported inside the functions.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import io, store
from .describe import wrap
from .runs import current_run_id, finite, versions
from .secrets import redact

CHAMPION = "champion"
FUTURE_FLAG = "is_future"  # pyfunc input: True on the horizon rows that carry future covariates
MODEL_URI_TAG = "forecast.model_uri"


@dataclass(frozen=True)
class ModelRef:
    model_uri: str
    run_id: str
    model_id: str | None
    version: object = None  # mlflow ModelVersion when registered


@dataclass(frozen=True)
class PromotionResult:
    version: str
    promoted: bool
    reason: str
    comparable: bool = (
        True  # False: the champion was scored on other series, its metric says nothing here
    )


SCOPE_TAG = "forecast.scope"
MODEL_PREFIX = "forecaster"


def model_name_for(data, table=None):
    """The registered model a flow uses when none is named: ``forecaster-<data name>``.

    The data name is a bundled set's name (``forecaster-airpassengers``), a file's name without
    its suffixes (``forecaster-sales`` for ``/data/sales.csv.gz``) or a SQL table's name; characters
    other than letters, digits, ``.``, ``_`` and ``-`` become ``-``. So ``forecast train --data X``
    then ``forecast forecast --data X`` meet the same model for any X, and another data set never
    competes with it for the champion alias. Two files of the same name in different folders share
    a model name: their series differ, so the second is registered but never promoted over the first
    (:func:`register_and_promote`); name one with ``--model-name``.
    """
    text = str(data)
    kind = io.source_kind(text)
    if kind == "sql":
        name = str(table or "table")
    elif kind == "dataset":
        name = text.strip().lower().replace("-", "_")
    else:
        name = Path(text).name.split(".")[0] or "data"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "data"
    return f"{MODEL_PREFIX}-{slug[:80]}"


def series_scope(estimator):
    """A short fingerprint of the series a fitted model covers (ids and frequencies).

    Two hold-out metrics are comparable only between models of the same series: a champion
    scored on other data is never displaced (nor kept) on the strength of its number.
    """
    import hashlib

    items = sorted((str(uid), str(freq)) for uid, freq in estimator.freqs_.items())
    return hashlib.sha256(repr(items).encode()).hexdigest()[:16]


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
                f"the model uses future covariates {list(estimator.layout_.future)}: add the horizon "
                f"rows with a boolean {FUTURE_FLAG!r} column (see pipelines.registry.pyfunc_input)"
            )
        return frame, None
    flag = frame[FUTURE_FLAG].astype(bool).to_numpy()
    history = frame.loc[~flag].drop(columns=FUTURE_FLAG).reset_index(drop=True)
    if not estimator.layout_.future:
        return history, None
    cols = [spec.id_col, spec.time_col, *estimator.layout_.future]
    return history, frame.loc[flag, cols].reset_index(drop=True)


def example_history(estimator, n_series=3):
    """A small history frame rebuilt from the fitted tail (last ``lookback`` rows of a few series)."""
    from forecast.data.frames import ID, TARGET, TIME
    from forecast.data.frequencies import future_dates, past_dates

    tail, layout = estimator.tail_, estimator.layout_
    cols = [TARGET, *layout.past, *layout.future]
    parts = []
    for s in range(min(n_series, tail.n_series)):
        ds = past_dates(tail.last_ds[s], tail.freqs[s], estimator.lookback_)
        part = pd.DataFrame(tail.data[s, :, : len(cols)].astype("float64"), columns=cols)
        parts.append(part.assign(**{ID: str(tail.ids[s]), TIME: ds})[[ID, TIME, *cols]])
    frame = pd.concat(parts, ignore_index=True)
    spec = estimator.spec_
    frame = frame.rename(columns={ID: spec.id_col, TIME: spec.time_col, TARGET: spec.target_col})
    if not layout.future:
        return frame
    # Placeholder horizon rows so the example shows the shape; callers should pass real X_future.
    last = frame.groupby(spec.id_col, sort=False)[spec.time_col].max()
    xf = pd.concat(
        [
            pd.DataFrame(
                {
                    spec.id_col: uid,
                    spec.time_col: future_dates(t, estimator.freqs_[uid], estimator.horizon),
                }
            )
            for uid, t in last.items()
        ],
        ignore_index=True,
    )
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
    signature = infer_signature(example, output)
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


def _model_uri(run_id_or_uri):
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


def register_and_promote(
    run_id_or_uri,
    model_name,
    metric_name,
    metric_value=None,
    lower_is_better=True,
    scope=None,
    champion_score=None,
):
    """Register the candidate; give it the ``champion`` alias only if it beats the champion.

    The comparison uses ``metric_name`` from the champion version's run (the same backtest
    metric). With ``scope`` (:func:`series_scope`), a champion tagged with another scope was
    scored on other series: the candidate is not promoted, and the reason says how to proceed.
    ``champion_score`` = (version, value): the champion re-scored on the candidate's own hold-out
    (its settings refitted on the same training part), which replaces the champion's logged value
    when that version still holds the alias: a like-for-like comparison, whatever data the
    champion was first scored on. The candidate's run gets tags ``forecast.promoted`` / ``forecast.promotion_reason``
    and a ``promotion.txt`` artifact saying why.

    Parameters
    ----------
    run_id_or_uri : run id with a model logged by :func:`log_model`, or its model URI.
    metric_value : candidate's value (None: read ``metric_name`` from the candidate's run).

    Returns
    -------
    PromotionResult(version, promoted, reason) or None when tracking is off.
    """
    if not store.active_config():
        return None
    from mlflow.exceptions import MlflowException

    client = store.client()
    model_uri, run_id = _model_uri(run_id_or_uri)
    if metric_value is None:
        metric_value = client.get_run(run_id).data.metrics.get(metric_name)
    version = _register(client, model_uri, model_name, run_id)
    client.set_model_version_tag(model_name, version, metric_name, str(metric_value))
    if scope:
        client.set_model_version_tag(model_name, version, SCOPE_TAG, scope)
    try:
        champion = client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        champion = None
    other = (champion.tags or {}).get(SCOPE_TAG) if champion is not None else None
    comparable = not (scope and other and other != scope)
    if comparable:
        rescored = (
            champion_score[1]
            if champion is not None
            and champion_score is not None
            and str(champion_score[0]) == str(champion.version)
            else None
        )
        promoted, reason = _decide(
            client, champion, metric_name, metric_value, lower_is_better, rescored
        )
    else:
        promoted, reason = (
            False,
            (
                f"not promoted: champion v{champion.version} covers other series (scope {other} vs {scope}), so "
                f"{metric_name} values are not comparable; train other data under another model name, or move the "
                f"alias by hand: MlflowClient().set_registered_model_alias({model_name!r}, {CHAMPION!r}, {version!r})"
            ),
        )
    if promoted:
        client.set_registered_model_alias(model_name, CHAMPION, version)
    reason = f"{model_name} v{version}: {reason}"
    if run_id:
        client.set_tag(run_id, "forecast.promoted", str(promoted).lower())
        client.set_tag(run_id, "forecast.promotion_reason", reason)
        client.log_text(
            run_id, wrap(reason), "promotion.txt"
        )  # wrapped: the UI's text view does not
    return PromotionResult(version, promoted, reason, comparable)


def _register(client, model_uri, model_name, run_id):
    """An existing version of this model from the same source, else a new one."""
    import mlflow

    for mv in client.search_model_versions(f"name='{model_name}'"):
        if mv.source == model_uri or (
            model_uri.startswith("models:/m-") and mv.model_id == model_uri[8:]
        ):
            return str(mv.version)
    return str(mlflow.register_model(model_uri, model_name).version)


def _decide(client, champion, metric_name, value, lower_is_better, rescored=None):
    if value is None or not finite(value):
        return False, f"not promoted: candidate has no finite {metric_name} ({value})"
    if champion is None:
        return True, f"promoted: first champion ({metric_name}={value:.6g})"
    fresh = rescored is not None and finite(rescored)
    champ = rescored if fresh else _champion_metric(client, champion, metric_name)
    where = " (its settings re-scored on this hold-out)" if fresh else ""
    if champ is None:
        return True, f"promoted: champion v{champion.version} has no {metric_name} to compare"
    better = value < champ if lower_is_better else value > champ
    word = "lower" if lower_is_better else "higher"
    if better:
        return True, (
            f"promoted: {metric_name}={value:.6g} beats champion v{champion.version}{where} "
            f"({champ:.6g}, {word} is better)"
        )
    return False, (
        f"not promoted: {metric_name}={value:.6g} does not beat champion v{champion.version}{where} "
        f"({champ:.6g}, {word} is better)"
    )


def _champion_metric(client, champion, metric_name):
    if champion.run_id:
        value = client.get_run(champion.run_id).data.metrics.get(metric_name)
        if value is not None:
            return value
    tag = (champion.tags or {}).get(metric_name)
    return float(tag) if tag not in (None, "None") else None


def scope_tags(estimator, data_name=None):
    """Readable companions of the ``forecast.scope`` hash on a version: the data set's name, how many
    series and at which frequencies, and the horizon."""
    freqs = sorted({str(f) for f in estimator.freqs_.values()})
    tags = {
        "forecast.n_series": str(len(estimator.freqs_)),
        "forecast.frequency": ",".join(freqs),
        "forecast.horizon": str(estimator.horizon),
    }
    return tags | ({"forecast.data": str(data_name)} if data_name is not None else {})


def describe(model_name, version, model_description, version_description, tags=None):
    """Set the registered model's and a version's descriptions (markdown in the UI) and version tags."""
    if not store.active_config():
        return
    client = store.client()
    client.update_registered_model(model_name, description=redact(model_description))
    client.update_model_version(model_name, str(version), description=redact(version_description))
    for key, value in (tags or {}).items():
        client.set_model_version_tag(model_name, str(version), key, redact(str(value)))


def _registry_uri(model_name, version=None, alias=CHAMPION):
    return (
        f"models:/{model_name}/{version}"
        if version is not None
        else f"models:/{model_name}@{alias}"
    )


def load_champion(model_name, version=None, alias=CHAMPION):
    """The registered estimator (the champion, or ``version``) as an RNNForecaster.

    Returns
    -------
    (RNNForecaster, version str)
    """
    import mlflow
    from forecast import RNNForecaster

    store.active_config()
    client = store.client()
    mv = (
        client.get_model_version(model_name, str(version))
        if version is not None
        else client.get_model_version_by_alias(model_name, alias)
    )
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=_registry_uri(model_name, mv.version),
                dst_path=tmp,
                tracking_uri=store.active_config().uri,
            )
        )
        folder = next(p.parent for p in local.glob("artifacts/**/config.json"))
        return RNNForecaster.load(folder), str(mv.version)


def champion_version(model_name, alias=CHAMPION):
    """The version string the alias points at (None when tracking is off or there is none)."""
    if not store.active_config():
        return None
    from mlflow.exceptions import MlflowException

    try:
        return str(store.client().get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        return None


def version_run_id(model_name, version=None, alias=CHAMPION):
    """The run that logged a registered version (the ``alias`` one when ``version`` is None)."""
    if not store.active_config():
        return None
    from mlflow.exceptions import MlflowException

    client = store.client()
    try:
        mv = (
            client.get_model_version(model_name, str(version))
            if version is not None
            else client.get_model_version_by_alias(model_name, alias)
        )
    except MlflowException:
        return None  # no such version, or no champion yet
    return mv.run_id


def load_pyfunc(model_name_or_uri, version=None, alias=CHAMPION):
    """The logged pyfunc model: a registered name (champion or ``version``) or any model URI."""
    import mlflow

    store.active_config()
    uri = (
        model_name_or_uri
        if ":/" in model_name_or_uri
        else _registry_uri(model_name_or_uri, version, alias)
    )
    return mlflow.pyfunc.load_model(uri)
