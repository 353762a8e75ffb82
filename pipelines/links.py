"""Links between the two UIs: MLflow pages by URL, the Prefect flow run a task runs in, and tags
that point each side at the other (the MLflow run id on the Prefect flow run, the Prefect flow
run on the MLflow run).

Outside a Prefect flow run (a script, a test calling ``task.fn``) the Prefect side is simply absent:
:func:`prefect_run` returns None and :func:`tag_prefect_run` does nothing.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode
from uuid import UUID

from . import store

PREFECT_TAGS = {
    "id": "forecast.prefect.flow_run_id",
    "name": "forecast.prefect.flow_run_name",
    "url": "forecast.prefect.flow_run_url",
}


# ---------------------------------------------------------------------------------- MLflow pages
def run_url(run_id, experiment_id=None, uri=None):
    """The run's page in the MLflow UI (``forecast ui``, or the tracking server's own)."""
    exp = experiment_id if experiment_id is not None else store.experiment_id()
    return f"{store.ui_base(uri or store.active_config().uri)}/#/experiments/{exp}/runs/{run_id}"


def artifact_url(run_id, path, experiment_id=None, uri=None):
    """The run's artifact ``path`` shown in the MLflow UI (an HTML file renders there)."""
    return f"{run_url(run_id, experiment_id, uri)}/artifacts/{quote(path)}"


def curves_url(run_ids, keys=("train_loss", "val_loss"), experiment_id=None, uri=None):
    """MLflow's metric page: ``keys`` of ``run_ids`` against step (= epoch), one chart."""
    exp = experiment_id if experiment_id is not None else store.experiment_id()
    query = {
        "runs": json.dumps(list(run_ids)),
        "metric": json.dumps(keys[0]),
        "experiments": json.dumps([str(exp)]),
        "plot_metric_keys": json.dumps(list(keys)),
        "plot_layout": "{}",
        "x_axis": "step",
        "y_axis_scale": "linear",
        "line_smoothness": "1",
        "show_point": "true",
        "deselected_curves": "[]",
        "last_linear_y_axis_range": "[]",
    }
    base = store.ui_base(uri or store.active_config().uri)
    return f"{base}/#/metric?{urlencode(query, quote_via=quote)}"


def version_url(model_name, version, uri=None):
    """A registered model version's page."""
    base = store.ui_base(uri or store.active_config().uri)
    return f"{base}/#/models/{quote(model_name)}/versions/{version}"


# ---------------------------------------------------------------------------------- Prefect
def prefect_run():
    """{id, name, url} of the Prefect flow run this code runs in (url None without a UI), else
    None."""
    from prefect.runtime import flow_run

    run_id = flow_run.get_id()
    if not run_id:
        return None
    url = flow_run.get_flow_run_ui_url()  # "None/flow-runs/..." when no UI address is set
    return {
        "id": str(run_id),
        "name": flow_run.get_name(),
        "url": url if str(url).startswith("http") else None,
    }


def tag_prefect_run(*tags):
    """Add ``tags`` to the current Prefect flow run (kept with its own); nothing outside a flow
    run."""
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    run_id = flow_run.get_id()
    if not run_id:
        return None
    with get_client(sync_client=True) as client:
        current = client.read_flow_run(UUID(str(run_id))).tags or []
        merged = list(dict.fromkeys([*current, *tags]))
        client.update_flow_run(UUID(str(run_id)), tags=merged)
    return merged


def mlflow_run_tag(run_id):
    """The Prefect tag naming an MLflow run: ``mlflow-run:<id>`` (searchable in Prefect's
    filters)."""
    return f"mlflow-run:{run_id}"


def link_runs(run_id, client=None):
    """Tag the MLflow run with its Prefect flow run (id, name, URL) and the flow run with the
    MLflow run id. Returns the Prefect run's {id, name, url} (None outside Prefect or with
    tracking off)."""
    prefect = prefect_run()
    if prefect is None or run_id is None:
        return prefect
    client = client or store.client()
    for key, tag in PREFECT_TAGS.items():
        if prefect.get(key):
            client.set_tag(run_id, tag, prefect[key])
    tag_prefect_run(mlflow_run_tag(run_id))
    return prefect
