"""The Optuna side of :class:`~forecast.tuning.auto.AutoRNNForecaster`: opening (or resuming) a
study, pruning bad trials on their per-epoch validation loss, what each trial records and is
scored on, and the best distinct trials. Optuna is imported inside these functions only.

Pruning compares trials' validation losses epoch by epoch, and losses of different kinds (a loss
function, a scaler or target transform) are not comparable: a trial is pruned against the earlier
trials of its own kind only (:class:`SameKind`), so a space may sample them.
"""

from __future__ import annotations

import json
import math
import os
import socket
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.data.frames import ID
from forecast.estimator import RNNForecaster
from forecast.training.records import Callback

PRUNERS = (None, "median", "halving")
JOURNAL_SUFFIX = ".journal"  # a plain file path with this suffix: Optuna's journal file storage


def open_study(storage, study_name, seed, pruner):
    """A minimising study with a seeded TPE sampler, resumed when ``storage`` already holds it.

    ``storage``: None (in memory), an SQLAlchemy URL (``sqlite:///study.db``,
    ``postgresql://...``), or a file path ending in ``.journal`` (Optuna's journal file storage:
    safe for several processes on one machine or a shared disk, where SQLite may lock).
    """
    import optuna

    return optuna.create_study(
        storage=_storage(storage),
        study_name=study_name,
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=_pruner(pruner),
        load_if_exists=True,
    )


def fail_dead_trials(study):
    """Mark FAIL the trials left RUNNING by a worker process of this host that no longer exists
    (a search killed by SIGKILL or a crash), so a resumed study neither counts them as running
    nor shows them so; trials of live processes or other hosts are left alone. Returns their
    numbers."""
    import optuna

    host, dead = socket.gethostname(), []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker_host, _, pid = str(trial.user_attrs.get("worker", "")).rpartition(":")
        if worker_host != host or not pid.isdigit() or _alive(int(pid)):
            continue
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
        dead.append(trial.number)
    if dead:  # why, where the trials table and the UI show it
        study.set_user_attr(
            "dead_worker_trials",
            sorted(set(study.user_attrs.get("dead_worker_trials", [])) | set(dead)),
        )
    return dead


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _storage(storage):
    if storage is None or "://" in str(storage):
        return storage
    if not str(storage).endswith(JOURNAL_SUFFIX):
        raise ValueError(
            f"storage must be a database URL (sqlite:///study.db) or a file path ending in "
            f"{JOURNAL_SUFFIX!r}, got {storage!r}"
        )
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    Path(storage).parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(storage)))


def _pruner(name):
    import optuna

    if name is None:
        return optuna.pruners.NopPruner()
    if name == "median":  # prune below the median of earlier trials at the same epoch
        return SameKind(optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
    return SameKind(optuna.pruners.SuccessiveHalvingPruner())


KIND = ("loss", "scaler")  # a trial's values, or RNNForecaster's defaults where it sets none
_DEFAULTS = {name: RNNForecaster().get_params()[name] for name in KIND}


def kind(trial):
    """What a trial's validation loss is measured in: its loss and scaler (target transform
    included: ``scaler=("log", "standard")``), as a hashable tuple."""
    params = trial.user_attrs.get("params") or {}
    values = (params.get(name, _DEFAULTS[name]) for name in KIND)
    return tuple(json.dumps(v) for v in values)  # lists (JSON user attributes) = tuples


class SameKind:
    """An Optuna pruner that runs ``inner`` against the trials of the same :func:`kind` only."""

    def __init__(self, inner):
        self.inner = inner

    def prune(self, study, trial):
        return self.inner.prune(_KindView(study, kind(trial)), trial)


class _KindView:
    """``study`` whose ``get_trials`` holds only the trials of one kind (all else delegated)."""

    def __init__(self, study, of):
        self._study, self._of = study, of

    def __getattr__(self, name):
        return getattr(self._study, name)

    def get_trials(self, *args, **kwargs):
        return [t for t in self._study.get_trials(*args, **kwargs) if kind(t) == self._of]


class TrialPruning(Callback):
    """Report each epoch's validation loss to the trial; stop the fit when the pruner says so.

    The fit ends normally (``state.stop``), so no exception crosses the training loop; the
    objective then raises ``optuna.TrialPruned`` because ``pruned`` is set.
    """

    def __init__(self, trial):
        self.trial, self.pruned = trial, False

    def on_epoch_end(self, state, record):
        if record.val_loss is None or not math.isfinite(record.val_loss):
            return
        self.trial.report(float(record.val_loss), record.epoch)
        if self.trial.should_prune():
            self.pruned = state.stop = True


def record_curves(trial, histories):
    """Keep the trial's per-epoch losses as user attributes (the flow logs them as curves)."""
    if not histories:
        return
    frame = histories[-1].to_frame()
    for column in ("train_loss", "val_loss"):
        if column in frame:
            values = [None if v is None or not np.isfinite(v) else float(v) for v in frame[column]]
            trial.set_user_attr(column, values)


FAILURES_BEFORE_STOP = 5  # this many failed trials and none finished: the search stops


def keep_error(objective, errors):
    """``objective`` that records a refused setting's message on its trial before failing it."""

    def wrapped(trial):
        try:
            return objective(trial)
        except errors as err:
            trial.set_user_attr("error", f"{type(err).__name__}: {err}")
            raise

    return wrapped


def stop_when_all_fail(study, trial):
    """Optuna callback: stop a search whose first trials all failed (the data or the fixed
    settings are at fault, not the sampled ones); ``fit`` then reports the first error."""
    import optuna

    states = [t.state for t in study.trials]
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    failed = states.count(optuna.trial.TrialState.FAIL)
    if failed >= FAILURES_BEFORE_STOP and not any(s in finished for s in states):
        study.stop()


def first_error(study):
    """``: <the first failed trial's error>`` or an empty string."""
    for trial in study.trials:
        if "error" in trial.user_attrs:
            return f"; trial {trial.number} failed with {trial.user_attrs['error']}"
    return ""


def best_trials(study, k):
    """The ``k`` best completed trials with distinct settings, best first."""
    import optuna

    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    done = [t for t in done if t.value is not None and np.isfinite(t.value)]
    best, seen = [], set()
    for trial in sorted((t for t in done if "params" in t.user_attrs), key=lambda t: t.value):
        key = json.dumps(trial.user_attrs["params"], sort_keys=True)
        if key not in seen:
            seen.add(key)
            best.append(trial)
    return best[:k]


def trials_frame(study):
    """One row per trial: number, state, value, seconds, epochs, defaults (RNNForecaster's own
    defaults), params_<name>."""
    frame = study.trials_dataframe(attrs=("number", "state", "value", "duration", "params"))
    if "duration" in frame:
        frame["seconds"] = frame.pop("duration").dt.total_seconds()
    frame["epochs"] = [len(t.user_attrs.get("train_loss", ())) for t in study.trials]
    frame["defaults"] = [bool(t.user_attrs.get("defaults")) for t in study.trials]
    return frame


# ------------------------------------------------------------------ what a trial is scored on
def validated_series(long, horizon):
    """The part of ``long`` a search validates on: the series of at least ``2 * horizon`` points
    (a horizon to train on before a validation window). Shorter ones are left out of the scores,
    named in a warning (the refits include them); ValueError when no series is that long."""
    n = long.groupby(ID, sort=False)[ID].transform("size").to_numpy()
    short = n < 2 * horizon
    if not short.any():
        return long
    ids = long.loc[short, ID].unique()
    said = f"series {ids[0]!r} has {int(n[np.argmax(short)])} point(s)"
    if short.all():
        raise ValueError(
            f"fit data: no series has the {2 * horizon} points a search validates on (horizon="
            f"{horizon} to train on, {horizon} to score): {said}; lower horizon or fit "
            "RNNForecaster"
        )
    warnings.warn(
        f"{len(ids)} series shorter than 2 * horizon = {2 * horizon} points left out of the "
        f"validation scores ({said}); the refits include them",
        stacklevel=3,
    )
    return long.loc[~short].reset_index(drop=True)


def naive_season(scored, long, season_length, horizon, windows):
    """The season of the seasonal-naive baseline: ``season_length``, or 1 (naive) when a series
    has fewer points than that before its first validation window (in ``scored``) or in all the
    data (``long``, which a fallback refits on), said in a warning naming the series: seasonal
    naive needs a whole season of every series."""
    n = pd.concat(
        [
            scored.groupby(ID, sort=False).size() - windows * horizon,
            long.groupby(ID, sort=False).size(),
        ]
    )
    short = n[n < season_length]
    if season_length <= 1 or short.empty:
        return season_length
    warnings.warn(
        f"the baseline is naive (season_length=1), not seasonal naive: series {short.index[0]!r} "
        f"has {short.iloc[0]} point(s) before its validation windows or in all, fewer than "
        f"season_length={season_length}",
        stacklevel=3,
    )
    return 1


def metric_of(naive):
    """What every trial of a search is scored on, from the baseline's validation ``naive``
    (a backtest result): MASE, or MAE where MASE is undefined for every series (each constant
    before its windows: in-sample scale 0), said in a warning."""
    if np.isfinite(naive.aggregate["mase"]):
        return "mase"
    warnings.warn(
        "validation MASE is undefined (every series is constant before its validation windows: "
        "its in-sample scale is 0): trials and the baseline are scored on MAE",
        stacklevel=3,
    )
    return "mae"


def score_of(result, metric):
    """The validation score of a backtest ``result``: its MASE, or the MAE of its forecasts."""
    if metric == "mase":
        return float(result.aggregate["mase"])
    fc = result.forecasts
    return float(np.mean(np.abs(fc["y"].to_numpy(np.float64) - fc["y_pred"].to_numpy(np.float64))))
