"""The size of a training job, decided from the data before it starts.

* :func:`windows`: the season length and the lookback a job uses, unless given: the season from
  the frequencies inferred when the data was checked
(``forecast.data.seasonality.resolve_season_length``), the lookback by
  the estimator's own rule (``forecast.data.seasonality.default_lookback``), on the shortest fit the
  job makes (the earliest selection window, before its validation tail).
* :func:`plan`: its fits, the gradient steps they plan, and the clock they get. ``max_time=None``
  picks a budget from the data and the grid: none when the planned work is small (the plan ends the
  fits in minutes; the run stays deterministic), else :data:`DEFAULT_SECONDS` of training (more for
  a large grid, :data:`MIN_SHARE_SECONDS` a share). ``max_time=0`` means no budget at all.
  A budget is split in shares: one per candidate (model selection fits each candidate once, on
  the data before its first selection window, and scores it at every window), :data:`FINAL_SHARES`
  each for the hold-out fit and the final fit, which train the chosen settings on more data and
  make the model that is registered. An Optuna search (``trials`` set) takes the candidates'
  place: one share per trial it expects (``trials``, or :data:`SEARCH_SHARES` when it runs until
  its clock), so a trial trains as long as a grid candidate would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from forecast.data import history
from forecast.data.columns import ID
from forecast.data.seasonality import default_lookback, resolve_season_length

from .environment import run_logger

DEFAULT_SECONDS = 600.0  # a first run on a few hundred series ends in minutes on 2 CPU cores
MIN_SHARE_SECONDS = 10.0  # a large grid gets at least this much per share
FINAL_SHARES = 3  # shares of the hold-out fit and of the final fit (a selection fit has one)
SEARCH_SHARES = 10  # trials a search plans for when only its clock ends it (the library's too:
# forecast.tuning.auto.EXPECTED_TRIALS), and the trials it runs when it has neither clock nor count
# Planned work (windows passed through training x lookback steps) above which a clock is set by
# default. The main job on AirPassengers plans ~2 million; 414 hourly series at H 48 (lookback 96)
# ~490 million. Measured on 2 CPU cores: about 0.5-1 million steps a second through a hidden-16
# LSTM, so the mark is a few minutes of training.
SLOW_TIMESTEPS = 180_000_000


@dataclass(frozen=True)
class Windows:
    """What a train job reads from the data: frequency, season length and lookback, and whether
    each of the two was inferred (``*_inferred``) or given."""

    freq: str
    season_length: int
    lookback: int
    season_inferred: bool
    lookback_inferred: bool

    def describe(self, horizon):
        season = (
            f"season_length {self.season_length} (inferred from frequency {self.freq!r})"
            if self.season_inferred
            else f"season_length {self.season_length} (given)"
        )
        lookback = (
            f"lookback {self.lookback} (inferred: the estimator's rule for horizon {horizon} and "
            f"that season)"
            if self.lookback_inferred
            else f"lookback {self.lookback} (given)"
        )
        return f"{season}, {lookback}"


def windows(history, horizon, n_windows, val_size, lookback=None, season_length=None):
    """:class:`Windows` of a checked history (``forecast.data.history.History``: its frame and the
    frequencies inferred there): ``lookback`` / ``season_length`` as given, or inferred. The
    lengths the rules see are those of the earliest selection fit: each series less its hold-out,
    its ``n_windows`` backtest horizons and its validation tail (``val_size``)."""
    freqs = history.freqs
    lengths = history.frame.groupby(ID, sort=False).size().to_numpy()
    fit_lengths = np.maximum(lengths - horizon * (n_windows + 1) - val_size, 1)
    main = str(_mode(freqs.values()))
    m = resolve_season_length(season_length, list(freqs.values()), fit_lengths, horizon)
    L = int(lookback) if lookback is not None else default_lookback(m, horizon, fit_lengths)
    return Windows(main, int(m), L, season_length is None, lookback is None)


def _mode(values):
    values = [str(v) for v in values]
    return max(sorted(set(values)), key=values.count) if values else "?"


def check_lengths(df, min_length):
    """Refuse a validated long frame with a series shorter than ``min_length``, naming it."""
    history.check_lengths(
        df, min_length, needed="lookback + horizon x (selection windows + hold-out)"
    )


def n_fits(n_candidates):
    """Fits of a train flow run: one per candidate (``select_model`` fits once and scores every
    selection window from that fit), the hold-out fit and the final fit."""
    return n_candidates + 2


@dataclass(frozen=True)
class Plan:
    """A train job's size: ``steps`` gradient steps in all (an upper bound: early stopping or the
    clock may end fits sooner) over ``fits`` fits, and its budget ``max_time`` (None: no clock),
    ``chosen`` True when the budget was picked here rather than given."""

    n_candidates: int
    n_windows: int
    windows: int
    batch_size: int
    max_epochs: int
    steps: int
    timesteps: int
    max_time: float | None
    chosen: bool
    trials: int | None = None  # an Optuna search's trials (0: until its clock; None: the grid)

    @property
    def fits(self):
        return n_fits(self.n_candidates)

    @property
    def shares(self):
        return self.n_candidates + 2 * FINAL_SHARES

    @property
    def candidate_seconds(self):
        """Seconds of training of each selection fit (None: no clock)."""
        return None if self.max_time is None else max(self.max_time / self.shares, 1e-3)

    @property
    def final_seconds(self):
        """Seconds of training of the hold-out fit and of the final fit (None: no clock)."""
        return None if self.max_time is None else FINAL_SHARES * self.candidate_seconds

    @property
    def search_seconds(self):
        """Wall seconds of an Optuna search: its trials' shares (None: no clock)."""
        return None if self.max_time is None else self.n_candidates * self.candidate_seconds

    def describe(self):
        if self.trials is not None:
            return self._describe_search()
        head = (
            f"{self.n_candidates} candidates (one fit each, scored at {self.n_windows} selection "
            f"windows) + hold-out + final fit = {self.fits} fits, about {self.steps:,} gradient "
            f"steps ({self.windows:,} windows / batch {self.batch_size} x {self.max_epochs} epochs "
            f"a fit)"
        )
        if self.max_time is None:
            why = "none chosen: the plan is small" if not self.chosen else "none"
            return f"{head}; training budget: {why} (--max-time SECONDS sets one)"
        why = (
            "chosen for this size of job; --max-time SECONDS to change it, 0 for none"
            if self.chosen
            else "given"
        )
        return (
            f"{head}; training budget {self.max_time:g} s ({why}): {self.candidate_seconds:.3g} s "
            f"per candidate fit, {self.final_seconds:.3g} s for the hold-out and the final fit "
            f"each"
        )

    def _describe_search(self):
        count = f"{self.trials} trials" if self.trials else "trials until its clock runs out"
        head = (
            f"Optuna search ({count}, each scored on the validation window) + hold-out + final "
            f"fit, about {self.windows:,} windows / batch {self.batch_size} x {self.max_epochs} "
            f"epochs a fit"
        )
        if self.max_time is None:
            return f"{head}; training budget: none (--max-time SECONDS sets one)"
        why = "chosen for this size of job" if self.chosen else "given"
        return (
            f"{head}; training budget {self.max_time:g} s ({why}): {self.search_seconds:.3g} s for "
            f"the search ({self.candidate_seconds:.3g} s a trial), {self.final_seconds:.3g} s for "
            f"the hold-out and the final fit each"
        )


def plan(
    df,
    lookback,
    horizon,
    batch_size,
    max_epochs,
    n_candidates,
    n_windows,
    max_time=None,
    trials=None,
):
    """The :class:`Plan` of a train job on ``df`` (the data selection sees). ``max_time``: seconds
    of training for the whole job; None picks one (module docstring), 0 means none. None for
    ``batch_size`` / ``max_epochs``: what the estimator resolves them to
    (``forecast.training.loop.plan``). ``trials`` plans an Optuna search instead of the grid's
    ``n_candidates``: that many trials, 0 as many as its clock allows (:data:`SEARCH_SHARES`
    when there is no clock)."""
    from forecast.training.loop import plan as fit_plan

    if trials is not None:
        n_candidates = trials or SEARCH_SHARES
    sizes = df.groupby(ID, sort=False).size()
    n = int((sizes - lookback - horizon + 1).clip(lower=1).sum())
    batch_size, per_epoch, max_epochs = fit_plan(
        n, batch_size, None, max_epochs
    )  # as each candidate will
    steps = math.ceil(min(n, per_epoch) / batch_size) * max_epochs * n_fits(n_candidates)
    timesteps = steps * batch_size * lookback
    chosen = max_time is None
    if chosen:
        large = timesteps > SLOW_TIMESTEPS
        shares = n_candidates + 2 * FINAL_SHARES
        max_time = max(DEFAULT_SECONDS, MIN_SHARE_SECONDS * shares) if large else None
    elif not max_time:
        max_time = None  # 0: no budget
    if trials == 0 and max_time is None:
        trials = SEARCH_SHARES  # no clock to end the search: a count does
    return Plan(
        n_candidates,
        n_windows,
        n,
        batch_size,
        max_epochs,
        steps,
        timesteps,
        None if max_time is None else float(max_time),
        chosen,
        trials,
    )


def announce(job):
    """Log the plan; warn when a large job runs without a clock. Returns ``job``."""
    log = run_logger()
    if job.max_time is None and job.timesteps > SLOW_TIMESTEPS:
        log.warning(
            "large training job without a time budget: %s; this can take hours on a CPU. Bound it "
            "with --max-time SECONDS (split over the fits), or reduce it with a larger "
            "--batch-size, fewer --max-epochs or fewer candidates (--cells, --directions, "
            "--hidden-sizes).",
            job.describe(),
        )
    else:
        log.info("training plan: %s", job.describe())
    return job
