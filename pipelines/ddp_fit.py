"""The train flow's final fit across ``nproc`` local processes (``forecast train --nproc N``).

:func:`fit_across` writes the data (Parquet) and the chosen settings (JSON) to a temporary folder
and starts ``python -m torch.distributed.run --standalone --nproc-per-node N -m pipelines.ddp_fit
FOLDER RUN_ID``: every rank fits ``RNNForecaster(**settings, strategy="ddp")`` on the same data
(the library gives each rank its share of every batch, sums the gradients before clipping and
keeps the ranks in step), rank 0 alone streams the epochs into the MLflow run ``RUN_ID`` and saves
the model to ``FOLDER/model``, which the parent loads as any saved model and logs and registers as
a one-process fit. The fit checkpoints into the flow run's folder (``pipelines.resume``), so a
retried flow run resumes it. A rank's failure fails the task with the launcher's last lines; a stop
request of the parent (SIGINT/SIGTERM, a Prefect cancellation) is passed to the launcher, which
ends the ranks.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

from forecast.training.stopping import STOP, Interrupted

TAIL = 30  # lines of the launcher's output kept for the error of a failed fit


def check(nproc, device):
    """Refuse ``nproc`` below 1, and above the GPUs there are when ``device`` is CUDA."""
    if nproc is None or nproc == 1:
        return
    if not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc (--nproc) must be a positive integer, got {nproc!r}")
    if str(device).startswith("cuda"):
        import torch

        found = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if found < nproc:
            raise ValueError(
                f"nproc (--nproc) {nproc} with device {device!r} needs {nproc} GPUs, found "
                f"{found}: lower --nproc or train on --device cpu"
            )


def launcher(folder, run_id, nproc):
    """The argv that fits the model in ``folder`` across ``nproc`` processes."""
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    return argv + ["--nproc-per-node", str(nproc), "-m", "pipelines.ddp_fit", str(folder), run_id]


def fit_across(estimator, df, nproc, run_id=None, checkpoint_dir=None):
    """``estimator`` fitted on ``df`` by ``nproc`` DDP processes: the fitted model, loaded here."""
    from forecast import RNNForecaster

    if type(estimator) is not RNNForecaster:
        raise ValueError(f"nproc (--nproc) trains an RNNForecaster, not {type(estimator).__name__}")
    folder = Path(tempfile.mkdtemp(prefix="forecast-ddp-"))
    try:
        df.to_parquet(folder / "data.parquet")
        ckpt = str(checkpoint_dir) if checkpoint_dir else None
        settings = {"params": estimator.get_params(), "checkpoint_dir": ckpt}
        (folder / "settings.json").write_text(json.dumps(settings))
        _launch(launcher(folder, run_id or "", nproc), folder)
        model = RNNForecaster.load(folder / "model")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if checkpoint_dir:  # finished: the flow run's checkpoints go, as pipelines.resume's do
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
        for parent in (Path(checkpoint_dir).parent, Path(checkpoint_dir).parent.parent):
            if parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
    return model


def _launch(argv, folder):
    from .signals import die_with_parent

    with open(folder / "launcher.log", "wb") as log:
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent()
        )
    try:
        while proc.poll() is None:
            if STOP.signum:  # the launcher passes it to the ranks and waits for them
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
                raise Interrupted(STOP.signum)
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0 or not (folder / "model").is_dir():
        ranks = sorted(folder.glob("rank*.err"), key=lambda p: p.stat().st_mtime)
        where = ranks[0] if ranks else folder / "launcher.log"  # the first rank that failed
        with open(where, errors="replace") as text:
            tail = "".join(deque(text, maxlen=TAIL))
        raise RuntimeError(
            f"the final fit across processes (--nproc) exited with code {proc.returncode}; "
            f"the last lines of {where.stem}:\n{tail}"
        )


class RankZero:
    """A callback that only rank 0 runs (the library calls every rank's callbacks)."""

    def __init__(self, callback):
        self.callback = callback

    def on_train_begin(self, state):
        if state.rank == 0:
            self.callback.on_train_begin(state)

    def on_epoch_end(self, state, record):
        if state.rank == 0:
            self.callback.on_epoch_end(state, record)

    def on_train_end(self, state, history):
        if state.rank == 0:
            self.callback.on_train_end(state, history)


def rank_main(folder, run_id):
    """One rank under torchrun: fit the settings in ``folder`` on its data; rank 0 saves it."""
    import os

    import pandas as pd

    from forecast import RNNForecaster
    from forecast.training.distributed import leave

    folder = Path(folder)
    settings = json.loads((folder / "settings.json").read_text())
    callbacks = []
    if run_id:
        from .tracking import MlflowCallback

        callbacks.append(RankZero(MlflowCallback(run_id)))
    model = RNNForecaster(**(settings["params"] | {"strategy": "ddp"}))
    model.fit(
        pd.read_parquet(folder / "data.parquet"),
        callbacks=callbacks,
        checkpoint_dir=settings["checkpoint_dir"] or folder / "checkpoints",
    )
    if int(os.environ.get("RANK", "0")) == 0:
        model.save(folder / "model")
    leave()  # the ranks leave together: one exiting with gloo's threads running aborts


def main(folder, run_id):
    """:func:`rank_main`, its traceback written to ``FOLDER/rank<r>.err`` when it fails."""
    import os
    import traceback

    try:
        rank_main(folder, run_id)
    except BaseException:
        rank = os.environ.get("RANK", "0")
        (Path(folder) / f"rank{rank}.err").write_text(traceback.format_exc())
        raise


if __name__ == "__main__":
    main(*sys.argv[1:3])
