"""The candidates of a model selection as Prefect tasks: one task run (and one MLflow run) each,
on the flow's task runner (threads or Dask workers), its MLflow run tagged with the process that ran
it (``forecast.worker``: ``host:pid``).
"""

from __future__ import annotations

import os
import socket

from prefect import task

from . import selection_log, store
from .retries import compute_options, retried


def worker_label():
    """``host:pid`` of this process: the ``forecast.worker`` tag of what it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


@task(name="evaluate-candidate", task_run_name="evaluate-{name}", **compute_options())
def evaluate_candidate(job, name, estimator, df, args, parent_run_id=None):
    """One candidate's backtest: ``job`` is the callable that
    ``forecast.evaluation.selection.select_model`` hands out. With ``parent_run_id`` the
    candidate's MLflow run is open while it runs (timed over its fit and backtest) and holds its
    parameters, backtest and training curves when it ends."""
    child = selection_log.start_candidate(parent_run_id, name) if parent_run_id else None
    if child:
        retried(store.client().set_tag, child, "forecast.worker", worker_label())
    try:
        result = job(name, estimator, df, args)
    except BaseException as exc:
        if child:  # KILLED when stopped by a signal (``forecast.training.stopping.Interrupted``)
            killed = isinstance(exc, KeyboardInterrupt)
            store.client().set_terminated(child, "KILLED" if killed else "FAILED")
        raise
    retried(selection_log.finish_candidate, result, child)
    return result


class TaskExecutor:
    """The ``executor`` of ``select_model``: every ``submit`` becomes a Prefect task on the flow's
    runner, so candidates run concurrently on threads or Dask workers, each visible as its own task
    run nested under the selection (and, with ``parent_run_id``, as its own MLflow run)."""

    def __init__(self, parent_run_id=None):
        self.parent_run_id = parent_run_id

    def submit(self, fn, name, estimator, df, args):
        return evaluate_candidate.submit(fn, name, estimator, df, args, self.parent_run_id)
