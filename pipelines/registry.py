"""The model registry: registration, champion promotion, descriptions, loading a registered model.

The logged pyfunc model is :mod:`pipelines.logged_model` (``split_pyfunc_input`` stays importable
here: models logged before the split read it from this module). Built on :mod:`pipelines.store`
(where MLflow tracks) and :mod:`pipelines.runs` (run basics).
mlflow is imported inside the functions.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import store
from .describe import wrap
from .logged_model import model_uri_of, split_pyfunc_input  # noqa: F401 - models logged before
from .runs import finite
from .secrets import redact

CHAMPION = "champion"


@dataclass(frozen=True)
class PromotionResult:
    version: str
    promoted: bool
    reason: str
    comparable: bool = True  # False: the champion was scored on other series


SCOPE_TAG = "forecast.scope"


def series_scope(estimator):
    """A short fingerprint of the series a fitted model covers (ids and frequencies).

    Two hold-out metrics are comparable only between models of the same series: a champion
    scored on other data is never displaced (nor kept) on the strength of its number.
    """
    import hashlib

    items = sorted((str(uid), str(freq)) for uid, freq in estimator.freqs_.items())
    return hashlib.sha256(repr(items).encode()).hexdigest()[:16]


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
    champion was first scored on. The candidate's run gets tags ``forecast.promoted`` /
    ``forecast.promotion_reason`` and a ``promotion.txt`` artifact saying why.

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
    model_uri, run_id = model_uri_of(run_id_or_uri)
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
                f"not promoted: champion v{champion.version} covers other series (scope {other} vs "
                f"{scope}), so {metric_name} values are not comparable; train other data under "
                f"another model name, or move the alias by hand: "
                f"MlflowClient().set_registered_model_alias({model_name!r}, {CHAMPION!r}, "
                f"{version!r})"
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
        f"not promoted: {metric_name}={value:.6g} does not beat champion "
        f"v{champion.version}{where} ({champ:.6g}, {word} is better)"
    )


def _champion_metric(client, champion, metric_name):
    if champion.run_id:
        value = client.get_run(champion.run_id).data.metrics.get(metric_name)
        if value is not None:
            return value
    tag = (champion.tags or {}).get(metric_name)
    return float(tag) if tag not in (None, "None") else None


COLUMNS_TAG = "forecast.columns"


def scope_tags(estimator, data_name=None, columns=None):
    """Readable companions of the ``forecast.scope`` hash on a version: the data set's name, how
    many series and at which frequencies, the horizon, and the data's id/time/target column names
    (``columns``: {field: name}, read back by :func:`trained_columns`)."""
    freqs = sorted({str(f) for f in estimator.freqs_.values()})
    tags = {
        "forecast.n_series": str(len(estimator.freqs_)),
        "forecast.frequency": ",".join(freqs),
        "forecast.horizon": str(estimator.horizon),
    }
    if columns:
        tags[COLUMNS_TAG] = json.dumps(dict(columns), sort_keys=True)
    return tags | ({"forecast.data": str(data_name)} if data_name is not None else {})


def trained_columns(model_name, version=None, alias=CHAMPION):
    """{field: name} of the id/time/target columns a registered version (or the alias's) was
    trained on ({} when tracking is off, there is no such version, or it predates the tag)."""
    mv = _model_version(model_name, version, alias)  # None: loading the model says so, later
    try:
        found = json.loads(((mv.tags or {}) if mv else {}).get(COLUMNS_TAG) or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def describe(model_name, version, model_description, version_description, tags=None):
    """Set the registered model's and a version's descriptions (markdown in the UI) and version
    tags.
    """
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
    mv = _model_version(model_name, version, alias)
    return None if mv is None else mv.run_id


def _model_version(model_name, version=None, alias=CHAMPION):
    """The registered ``version`` (the ``alias`` one when None), or None: tracking off, no such
    version, or no champion yet."""
    if not store.active_config():
        return None
    from mlflow.exceptions import MlflowException

    client = store.client()
    try:
        return (
            client.get_model_version(model_name, str(version))
            if version is not None
            else client.get_model_version_by_alias(model_name, alias)
        )
    except MlflowException:
        return None


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
