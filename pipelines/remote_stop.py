"""Stop requests that reach fits running in Dask worker processes.

A SIGINT/SIGTERM to the ``forecast`` command, or a Prefect cancellation of a served flow run (a
SIGTERM to its process, ``forecast.training.stopping.stop_fits_on``), sets the stop flag of the
flow's own process only (``forecast.training.stopping.STOP``). Fits that Dask runs in its worker
processes would run on to their end. The flows' Dask task runner (:class:`DaskTaskRunner`) therefore
watches that flag from a thread while the flow runs; once it is set, the runner asks every worker of
its cluster (``Client.run``) to set the worker process's own flag, and each fit there stops at its
next step, as a local one does (``Interrupted``: its candidate's MLflow run ends KILLED). In a
worker the task then fails with :class:`Stopped`, an ordinary exception: a ``KeyboardInterrupt``
would end the worker process itself (distributed lets it through to shut the worker down).

The runner's tasks also carry the flow's MLflow store and experiment to the workers (an external
cluster's workers do not share the flow's environment): the store must be one they reach, a
tracking server or a database on a shared path.

A worker clears the flag by itself :data:`CLEAR_AFTER` seconds later (the fits have stopped by
then): a long-lived worker of an external cluster is left ready for the next flow run even when the
stopped command died before saying anything more. The flag is per process: fits of another flow
run that share those workers during that window stop too.
"""

from __future__ import annotations

import copy
import functools
import sys
import threading
import uuid

from prefect_dask import DaskTaskRunner as _PrefectDaskTaskRunner

from forecast.training.stopping import STOP, Interrupted

from .candidates import worker_label

POLL = 0.2  # seconds between two looks at this process's stop flag
CLEAR_AFTER = 30.0  # seconds a worker keeps a pushed stop request
_PUSHED = {}  # in a worker: token -> signum of the stop requests pushed to this process


class Stopped(RuntimeError):
    """A task in a Dask worker stopped by a stop request (``Interrupted`` there)."""


def in_dask_worker():
    """Whether this code runs in a Dask worker's task."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return False
    try:
        distributed.get_worker()
    except ValueError:
        return False
    return True


def guarded(task):
    """A copy of the Prefect ``task`` for a Dask worker: there it first points MLflow at this
    process's store and experiment (a worker of an external cluster has its own environment), and
    its ``Interrupted`` becomes :class:`Stopped`."""
    fn, tracking = task.fn, _tracking()

    @functools.wraps(fn)
    def run(*args, **kwargs):
        if not in_dask_worker():
            return fn(*args, **kwargs)
        _track(tracking)
        try:
            return fn(*args, **kwargs)
        except Interrupted as exc:
            raise Stopped(f"{exc} (passed to Dask worker {worker_label()})") from None

    copied = copy.copy(task)
    copied.fn = run
    return copied


def _tracking():
    """(uri, experiment) of this process's MLflow store, or None when none is configured."""
    from . import store

    config = store.ACTIVE.config
    return (config.uri, config.experiment) if config else None


def _track(tracking):
    from . import store

    if tracking is not None and _tracking() != tracking:
        store.configure(*tracking, required=True)


def request_stop(signum, token, clear_after=CLEAR_AFTER):
    """Run in a Dask worker by ``Client.run``: stop this process's fits (``STOP``), and clear that
    request ``clear_after`` seconds later unless another one came since. Returns the worker's
    label."""
    _PUSHED[token] = int(signum)
    STOP.request(signum)
    timer = threading.Timer(clear_after, clear_stop, args=(token,))
    timer.daemon = True
    timer.start()
    return worker_label()


def clear_stop(token):
    """Forget the stop request ``token``; clear the flag once no pushed request is left (a flag
    set by this process's own signal is left alone)."""
    signum = _PUSHED.pop(token, None)
    if signum is not None and not _PUSHED and STOP.signum == signum:
        STOP.clear()


class Bridge:
    """A thread that pushes this process's stop request to the workers of ``runner``'s client."""

    def __init__(self, runner, poll=POLL):
        self.runner, self.poll = runner, poll
        self.token = uuid.uuid4().hex
        self.done = threading.Event()
        self.pushed = None  # the workers' labels once pushed
        self.thread = threading.Thread(target=self._watch, name="forecast-stop-bridge", daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.done.set()
        self.thread.join(timeout=5)

    def _watch(self):
        while not self.done.wait(self.poll):
            if STOP.signum:
                self.push(STOP.signum)
                return

    def push(self, signum):
        """Ask every worker to stop its fits; {worker address: label}, or None without a client
        (nothing was submitted to Dask yet) or when the cluster cannot be reached."""
        client = getattr(self.runner, "_client", None)
        if client is None:
            return None
        try:
            self.pushed = client.run(request_stop, int(signum), self.token)
        except Exception as exc:  # noqa: BLE001 - a cluster gone already has nothing to stop
            self.runner.logger.warning("could not pass the stop to the Dask workers: %s", exc)
            return None
        self.runner.logger.warning(
            "stop request passed to %d Dask worker(s): %s", len(self.pushed), sorted(self.pushed)
        )
        return self.pushed


class DaskTaskRunner(_PrefectDaskTaskRunner):
    """prefect-dask's runner whose stop requests reach the fits in its workers (:class:`Bridge`).

    A subclass (``pipelines.search.workers`` tells a Dask runner by ``isinstance``); it keeps its
    parent's name, which Prefect's logs show.
    """

    def submit(self, task, *args, **kwargs):
        return super().submit(guarded(task), *args, **kwargs)

    def __enter__(self):
        super().__enter__()
        self._bridge = Bridge(self).start()
        return self

    def __exit__(self, *args):
        bridge = getattr(self, "_bridge", None)
        if bridge is not None:
            bridge.stop()
        super().__exit__(*args)
