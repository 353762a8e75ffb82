"""The flows' task runners: Prefect's thread pool (the default) or Dask (prefect-dask), by name."""

from __future__ import annotations

from .config import RUNNERS


def task_runner(kind="threads", workers=2, address=None):
    """A task runner by name: ``threads`` (ThreadPoolTaskRunner) or ``dask`` (prefect-dask).

    Dask uses the scheduler at ``address`` when given, else a local cluster of ``workers``
    single-threaded worker processes; its stop requests reach the fits in the workers
    (:mod:`pipelines.remote_stop`).
    """
    if kind == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "dask":
        from .remote_stop import DaskTaskRunner

        if address:
            return DaskTaskRunner(address=address)
        cluster = {"n_workers": workers, "threads_per_worker": 1, "processes": True}
        cluster["dashboard_address"] = ":0"  # any free port
        return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs=cluster)
    raise ValueError(f"task runner must be {' or '.join(map(repr, RUNNERS))}, got {kind!r}")


def with_runner(flow_obj, *args, **kwargs):
    """``flow_obj`` with the task runner of :func:`task_runner` (arguments: that function's)."""
    return flow_obj.with_options(task_runner=task_runner(*args, **kwargs))
