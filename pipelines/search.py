"""The train flow's Optuna search (``forecast train --search optuna``): model selection by
``forecast.tuning.AutoRNNForecaster.search`` on the validation window instead of the fixed grid.

The validation window is the last horizon of each series before the hold-out, so the hold-out
stays unseen by the search. One ``search-trials`` task per worker runs its share of the trials
against one shared study (an Optuna journal file in a temporary folder, or ``study_storage``):
one task under the thread runner, one per Dask worker under the Dask runner. The flow then reads
the study, logs every trial (:mod:`pipelines.search_log`) and hands the best trial's settings,
as an ``RNNForecaster``, to the same hold-out -> final fit -> register path as the grid's winner.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from prefect import task

from forecast.tuning.auto import MIN_TRIAL_SECONDS

from . import search_board, search_log
from .environment import run_logger
from .retries import compute_options, retried
from .runs import log_file, log_params

NO_CLOCK = 1e9  # seconds given to a search without a budget: its trial count ends it
NOT_SHARED = ("horizon", "season_length", "seed", "verbose", "max_time")  # set per trial
JOURNAL = ".journal"
CURVES = 6  # the best trials whose curves the report draws


@dataclass(frozen=True)
class Spec:
    """One search: its window (``horizon``, ``season_length``), wall ``seconds`` (None: no clock),
    ``trials`` in all (None: until the clock), ``workers``, the shared study (``storage``,
    ``study_name``; ``storage`` None: a journal file in a temporary folder, ``external``: the
    workers may not reach this machine's disk), ``seed`` (worker i seeds its sampler and networks
    with ``seed + i``) and the ``fixed`` RNNForecaster settings of every trial; ``space``: the
    library's "compact" or "full" space (``forecast.tuning.space``), ``target_min`` the data's
    smallest target (where the full space may search the sMAPE loss and a log target)."""

    horizon: int
    season_length: int
    seconds: float | None
    trials: int | None
    workers: int
    storage: str | None
    study_name: str
    seed: int
    fixed: dict = field(default_factory=dict)
    external: bool = False
    space: str = "compact"
    target_min: float | None = None

    def shares(self):
        """Trials per worker task: the count split evenly (None each: until the clock)."""
        if self.trials is None:
            return [None] * self.workers
        n = min(self.workers, self.trials)  # no worker with 0 trials: that means "refit" there
        return [self.trials // n + (i < self.trials % n) for i in range(n)]


@dataclass
class SearchResult:
    """A search as the flow's publishing steps read a selection: ``leaderboard`` (the board of
    :func:`pipelines.search_board.board`), ``table`` (as shown), ``summary``, ``curves`` {trial:
    frame}, ``figures`` {caption: PNG bytes or a note}; ``results`` is empty (no backtests)."""

    leaderboard: object
    table: object
    summary: dict
    curves: dict
    figures: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)

    @property
    def best(self):
        return self.summary["best"]


def check(params):
    """Refuse search parameters that do not go together, naming them (a ValueError)."""
    search, trials, storage = (
        params.get("search"),
        params.get("trials"),
        params.get("study_storage"),
    )
    if search != "optuna":
        named = (("trials", trials), ("study_storage", storage))
        given = [f for f, v in (*named, ("search_space", params.get("search_space"))) if v]
        if given:
            raise ValueError(
                f"{' and '.join(given)} set an Optuna search: add search='optuna' "
                f"(--search optuna), or leave them out for the candidate grid"
            )
    if storage is not None and "://" not in storage and not storage.endswith(JOURNAL):
        raise ValueError(
            f"study_storage must be a database URL (sqlite:///study.db, postgresql://...) or a "
            f"file path ending in {JOURNAL!r}, got {storage!r}"
        )


def fixed_settings(settings, lookback_given, space="compact"):
    """The settings every trial keeps: the flow's, less those set per trial and less the lookback
    unless given (the search samples it; the learning rate too, as it is left out unless given);
    the "full" ``space`` samples the loss (not the pinball loss of quantiles) and the scaler."""
    drop = set(NOT_SHARED) | (set() if lookback_given else {"lookback"})
    if space == "full":
        drop |= {"scaler"} | (set() if settings.get("quantiles") else {"loss"})
    return {k: v for k, v in settings.items() if k not in drop}


def workers():
    """(worker tasks, external): the Dask cluster's workers under the Dask runner (``external``:
    a scheduler given by address), else (1, False)."""
    from prefect.context import FlowRunContext

    runner = getattr(FlowRunContext.get(), "task_runner", None)
    if not _is_dask(runner):
        return 1, False
    if runner.address:
        return max(1, len(runner.client.scheduler_info().get("workers", {}))), True
    return int((runner.cluster_kwargs or {}).get("n_workers") or 1), False


def _is_dask(runner):
    """Whether ``runner`` is prefect-dask's runner (``remote_stop.DaskTaskRunner`` included).
    Without prefect_dask imported no runner can be one: nothing is imported for the check."""
    dask = sys.modules.get("prefect_dask")
    return dask is not None and isinstance(runner, dask.DaskTaskRunner)


def storage(given, external):
    """(storage, folder to remove afterwards): ``given``, or a journal file in a new temporary
    folder (reachable from every worker of a local cluster; an external cluster's workers need a
    shared path or a database: ``study_storage``)."""
    if given:
        return given, None
    folder = tempfile.mkdtemp(prefix="forecast-study-")
    if external:
        run_logger().warning(
            "the Optuna study is a journal file in %s on this machine: workers of an external "
            "Dask cluster must reach it, else give --study-storage a database URL or a .journal "
            "file on a shared path",
            folder,
        )
    return str(Path(folder) / f"study{JOURNAL}"), folder


def labelled_space(spec, label, trial):
    """The library's default space over ``spec.fixed``, the trial labelled with its process."""
    from forecast.tuning.space import default_space

    trial.set_user_attr(search_board.WORKER, label)
    return default_space(
        trial, spec.horizon, spec.season_length, spec.fixed, spec.space, spec.target_min
    )


@task(name="search-trials", task_run_name="search-trials-{worker}", **compute_options())
def search_trials(spec, seen, worker, n_trials):
    """``AutoRNNForecaster.search`` of worker ``worker``: ``n_trials`` (None: until the clock) into
    the shared study. Returns {worker (host:pid), trials (run here), naive (validation MASE)}."""
    from forecast.tuning.auto import AutoRNNForecaster

    label = f"{socket.gethostname()}:{os.getpid()}"
    auto = AutoRNNForecaster(
        horizon=spec.horizon,
        season_length=spec.season_length,
        max_time=spec.seconds or NO_CLOCK,
        n_trials=n_trials,
        space=partial(labelled_space, spec, label),
        fixed=spec.fixed,
        storage=spec.storage,
        study_name=spec.study_name,
        seed=spec.seed + worker,
    ).search(seen)
    ran = sum(t.user_attrs.get(search_board.WORKER) == label for t in auto.study_.trials)
    return {"worker": label, "trials": ran, "naive": auto.naive_score_}


@task(name="search-settings", **compute_options())
def search(spec, settings, seen, run_id=None):
    """Run the search on ``seen`` (the data before the hold-out), record it in the run ``run_id``
    and return a ``tasks.Selected`` whose estimator is ``settings`` with the best trial's."""
    path, folder = storage(spec.storage, spec.external)
    spec = replace(spec, storage=path)
    try:
        return _search(spec, settings, seen, run_id)
    finally:
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


def _search(spec, settings, seen, run_id):
    from .tasks import Selected

    started = time.perf_counter()
    study = _open(spec)
    if not study.trials:  # RNNForecaster's own defaults first, as AutoRNNForecaster does
        study.enqueue_trial({}, user_attrs={search_board.DEFAULTS: True})
    futures = [search_trials.submit(spec, seen, i, n) for i, n in enumerate(spec.shares())]
    done = [f.result() for f in futures]
    seconds = time.perf_counter() - started
    study = _checked(_open(spec), spec, done)
    trials = list(study.trials)
    naive = done[0]["naive"]
    best = _best(study, naive)
    summary = search_board.summary(trials, naive, best, seconds, len(done))
    board = search_board.board(trials, naive)
    table = search_board.table(board, summary["best"])
    shown = board[~board["reference"] & (board["epochs"] > 0)]["number"].head(CURVES)
    by_number = {t.number: t for t in trials}
    curves = {
        search_board.trial_name(by_number[n]): search_board.curve(by_number[n]) for n in shown
    }
    result = SearchResult(board, table, summary, curves)
    children = retried(search_log.log_search, trials, board, table, summary, run_id)
    result.figures = retried(search_log.figures, study, run_id)
    if isinstance(result.figures[search_log.IMPORTANCE], str):
        run_logger().info(result.figures[search_log.IMPORTANCE])
    if "://" not in spec.storage:  # reload it with optuna.load_study(JournalStorage(...))
        retried(log_file, spec.storage, "search", run_id)
    params = {k: v for k, v in best.user_attrs["params"].items() if k not in spec.fixed}
    estimator = _estimator({**settings, **params})
    retried(log_params, {"flow.best": summary["best"]}, run_id)
    run_logger().info(search_board.heading(summary))
    ran = sum(d["trials"] for d in done)
    if spec.trials and spec.seconds and ran < spec.trials:  # say why, not only how many
        run_logger().warning(
            "%d of the %d trials asked ran: the search's %.0f s ran out (a trial starts only with "
            "%.0f s left); raise --max-time or lower --trials",
            *(ran, spec.trials, spec.seconds, MIN_TRIAL_SECONDS),
        )
    return Selected(result, summary["best"], estimator, children)


def _open(spec):
    """The shared study (opened, or created by the first caller)."""
    import optuna

    from forecast.tuning.study import open_study

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARN)  # not "Using an existing study"
    try:
        return open_study(spec.storage, spec.study_name, spec.seed, "median")
    finally:
        optuna.logging.set_verbosity(verbosity)


def _checked(study, spec, done):
    """``study``, checked to hold every trial the workers ran."""
    seen = {t.user_attrs.get(search_board.WORKER) for t in study.trials}
    lost = [d["worker"] for d in done if d["trials"] and d["worker"] not in seen]
    if lost:
        raise RuntimeError(
            f"the trials of worker(s) {lost} are not in the study at {spec.storage}: the workers "
            f"did not share it; give --study-storage a database URL or a .journal file on a path "
            f"every worker reaches"
        )
    return study


def _best(study, naive):
    from forecast.tuning.study import best_trials

    best = best_trials(study, 1)
    if not best:
        states = [search_board.state(t) for t in study.trials]
        raise RuntimeError(
            f"no trial of the search completed ({len(states)} ran: "
            f"{states.count('pruned')} pruned, {states.count('failed')} failed): raise "
            f"--max-time or --trials, or check the settings (the flow's log has the errors)"
        )
    if not best[0].value < naive:
        run_logger().warning(
            "no trial beat seasonal naive on the validation window (best MASE %.4g, seasonal "
            "naive %.4g); training the best trial, %s",
            best[0].value,
            naive,
            search_board.trial_name(best[0]),
        )
    return best[0]


def _estimator(settings):
    from forecast import RNNForecaster

    return RNNForecaster(**settings)
