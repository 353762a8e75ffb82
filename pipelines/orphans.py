"""Runs left RUNNING by a process that died: ended FAILED by the next flow that tracks there.

A run normally ends FINISHED, FAILED or KILLED (``runs.run``). It cannot when its process is
SIGKILLed, or when the tracking server is down at that moment: the server then holds a RUNNING
run forever. Every run the flows open carries the tags :data:`HOST` and :data:`PID`; when a flow
configures tracking (``tasks.configure_tracking``), the RUNNING runs of its experiment that were
opened on this host by a process that no longer exists — and the candidate runs under them — are
ended FAILED with the tag ``forecast.error`` saying so. Runs of live processes and of other hosts
are left alone.
"""

from __future__ import annotations

import os
import socket

HOST, PID = "forecast.host", "forecast.pid"
PARENT = "mlflow.parentRunId"


def owner_tags():
    """The tags that say which process opened a run."""
    return {HOST: socket.gethostname(), PID: str(os.getpid())}


def alive(pid):
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True  # exists (another user's), or not a pid we can judge: leave its run alone
    return True


def close_orphans(client, experiment_id):
    """End FAILED the RUNNING runs of dead processes on this host (and their candidate runs).

    Returns the ids of the runs ended.
    """
    running = client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=1000)
    host = socket.gethostname()
    dead = {
        r.info.run_id: r.data.tags[PID]
        for r in running
        if r.data.tags.get(HOST) == host and PID in r.data.tags and not alive(r.data.tags[PID])
    }
    children = [
        r.info.run_id
        for r in running
        if r.data.tags.get(PARENT) in dead and r.info.run_id not in dead
    ]
    for run_id in [*dead, *children]:
        pid = dead.get(run_id)
        why = (
            f"process {pid} on {host} ended without ending this run"
            if pid
            else "its parent run was orphaned"
        )
        client.set_tag(run_id, "forecast.error", f"orphaned: {why}; ended by a later flow")
        client.set_terminated(run_id, "FAILED")
    return [*dead, *children]
