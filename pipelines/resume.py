"""Fits that a retried flow run resumes instead of restarting.

A fit task checkpoints its epochs (``RNNForecaster.fit(checkpoint_dir=...)``) under
``$PREFECT_HOME/checkpoints/<flow run id>/<task>``. Prefect keeps the flow run's id across its
retries (the flow's ``retries``, or a crashed run retried from the UI or CLI), so a retry after
SIGTERM, a crash or an error later in the fit finds the checkpoint and carries on from its last
epoch. The folder is removed once the fit has finished; outside a flow run nothing is written.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def checkpoint_dir(name):
    """The checkpoint folder of fit ``name`` in the current flow run (None outside a flow run)."""
    from prefect.runtime import flow_run
    from prefect.settings import PREFECT_HOME

    run_id = flow_run.get_id()
    return (
        None if run_id is None else Path(PREFECT_HOME.value()) / "checkpoints" / str(run_id) / name
    )


def resumable_fit(estimator, df, callbacks=(), name="fit-final"):
    """``estimator.fit(df, callbacks=...)``, resumed from this flow run's checkpoint when there
    is one.
    """
    folder = checkpoint_dir(name)
    fitted = estimator.fit(df, callbacks=list(callbacks), checkpoint_dir=folder)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        for parent in (
            folder.parent,
            folder.parent.parent,
        ):  # the flow run's and the root, when empty
            if parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
    return fitted
