"""Seeded generators of synthetic panels: seasonal series driven by covariates (``make_panel``)
and a routine that takes memory to forecast (``make_routine``).

Both return the project's long frame ``[unique_id, ds, y, <covariates>]`` with ``unique_id`` str,
``ds`` datetime64[ns] and ``y`` float64, sorted by series then time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.data.columns import long_frame


def make_panel(
    n_series=10,
    length=500,
    freq="h",
    seed=0,
    past_covariates=0,
    future_covariates=0,
    start="2024-01-01",
    ragged=False,
    past_lag=3,
    noise=0.05,
    seasonal_periods=None,
):
    """Generate a seeded panel of seasonal series, optionally driven by covariates.

    Each series is ``level + trend + seasonality + level shifts + covariate effects + noise``
    with its own level (10..100), slope, seasonal amplitudes and phases, 0-3 level shifts and
    noise (``noise`` x level). Seasonality is the daily and weekly cycle, in steps of ``freq``
    (24 and 168 for hourly; for "D" the weekly and yearly cycles; any cycle shorter than two
    steps is skipped), unless ``seasonal_periods`` gives the periods in steps.

    Covariates truly drive the target. ``future_<j>`` (known in advance, e.g. a promotion
    calendar or a temperature forecast) acts at the same step: even j are 0/1 promotions
    (probability 0.1), odd j smooth standard-normal signals; the effect is ``b * level * x_t``,
    b in [0.2, 0.5]. ``past_<j>`` (observed only up to now) is a standard-normal AR(1) signal
    (phi 0.9) acting with a delay: ``y[t]`` gets ``b * level * past_j[t - past_lag]``.

    Parameters
    ----------
    n_series, length : int
        Panel size; ``length`` steps per series (the longest when ``ragged``).
    freq : str, pandas frequency of ``ds``.
    seed : int, seeds a ``numpy.random.Generator``; same seed, same frame.
    past_covariates, future_covariates : int, number of covariate columns of each kind.
    start : str or Timestamp, first ``ds`` of the longest series.
    ragged : bool
        If True, series i keeps only its last L_i steps, L_i uniform in [length // 2, length]:
        different start dates, a common end date.
    past_lag : int >= 1, delay in steps with which past covariates act.
    noise : float, noise standard deviation as a fraction of the level.
    seasonal_periods : tuple of float, optional, seasonal periods in steps.

    Returns
    -------
    DataFrame [unique_id, ds, y, past_0.., future_0..]; ``n_series * length`` rows unless ragged.
    Ids are ``series_<i>`` zero-padded, so they sort in order.
    """
    if n_series < 1 or length < 2:
        raise ValueError(f"need n_series >= 1 and length >= 2, got {n_series} and {length}")
    if past_lag < 1:
        raise ValueError(
            f"past_lag must be >= 1 (a past covariate acts with a delay), got {past_lag}"
        )
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=length, freq=freq)
    level = rng.uniform(10, 100, (n_series, 1))
    y = _base_signal(rng, level, length, seasonal_periods or _default_periods(dates))
    columns = _covariate_effects(rng, y, level, past_covariates, future_covariates, past_lag)
    y += rng.normal(0, 1, y.shape) * noise * level
    width = len(str(n_series - 1))
    ids = np.array([f"series_{i:0{width}d}" for i in range(n_series)], dtype=object)
    uid = np.broadcast_to(ids[:, None], y.shape)
    ds = np.broadcast_to(dates.to_numpy()[None, :], y.shape)
    if ragged:
        lengths = rng.integers(max(2, length // 2), length + 1, n_series)
        keep = np.arange(length)[None, :] >= (length - lengths)[:, None]
        pick = lambda a: a[keep]  # noqa: E731
    else:
        pick = np.ravel  # no boolean-mask pass over 20M-row arrays
    return long_frame(pick(uid), pick(ds), pick(y), **{c: pick(v) for c, v in columns.items()})


def _base_signal(rng, level, length, periods):
    # level + per-series trend + two-harmonic seasonal cycles + level shifts: (n_series, length)
    n_series = len(level)
    t = np.arange(length, dtype=np.float64)
    y = level + rng.normal(0, 0.3, (n_series, 1)) * level * t / length
    for k, period in enumerate(periods):
        amp = rng.uniform(0.05, 0.25, (n_series, 1)) / (k + 1) * level
        phase = rng.uniform(0, 2 * np.pi, (n_series, 2))
        for h, weight in ((1, 1.0), (2, 0.4)):
            # sin(a + p) = sin a cos p + cos a sin p: two outer products, no (n, L) sin calls
            angle = 2 * np.pi * h * t / period
            p = phase[:, h - 1 : h]
            y += amp * weight * (np.cos(p) * np.sin(angle) + np.sin(p) * np.cos(angle))
    return y + _level_shifts(rng, n_series, length) * level


def _covariate_effects(rng, y, level, n_past, n_future, past_lag):
    # Adds each covariate's effect to y in place; returns the covariate columns.
    n_series, length = y.shape
    columns = {}
    for j in range(n_past):
        x = _ar1(rng, n_series, length + past_lag, phi=0.9)
        y += rng.uniform(0.2, 0.5, (n_series, 1)) * level * x[:, :length]
        columns[f"past_{j}"] = x[:, past_lag:]  # p[t] = x[t + lag]: y[t] got b * p[t - lag]
    for j in range(n_future):
        if j % 2 == 0:
            x = (rng.random((n_series, length)) < 0.1).astype(np.float64)
        else:
            x = _ar1(rng, n_series, length, phi=0.95)
        y += rng.uniform(0.2, 0.5, (n_series, 1)) * level * x
        columns[f"future_{j}"] = x
    return columns


def _default_periods(dates):
    # The mean step length handles calendar frequencies ("MS", "W") as well as fixed ones.
    step = (dates[-1] - dates[0]) / (len(dates) - 1)
    cycles = [pd.Timedelta(days=1), pd.Timedelta(days=7), pd.Timedelta(days=365.25)]
    periods = [c / step for c in cycles if c / step >= 2]
    return tuple(periods[:2])


def _level_shifts(rng, n_series, length, max_shifts=3):
    # Jumps placed on a (n_series, length) grid, then cumulated: O(n_series * length).
    jumps = np.zeros((n_series, length))
    rows = np.repeat(np.arange(n_series), max_shifts)
    when = rng.integers(1, length, rows.size)
    size = rng.normal(0, 0.15, rows.size) * (rng.random(rows.size) < 0.5)
    np.add.at(jumps, (rows, when), size)
    return np.cumsum(jumps, axis=1)


def _ar1(rng, n_series, length, phi):
    # Stationary AR(1) with unit variance; a loop over time, vectorised across series, on a
    # time-major array so each step touches contiguous memory.
    x = rng.normal(0, np.sqrt(1 - phi**2), (length, n_series))
    x[0] = rng.normal(0, 1, n_series)
    for i in range(1, length):
        x[i] += phi * x[i - 1]
    return np.ascontiguousarray(x.T)


ROUTINE_ACTIVITIES = ("run", "bike", "swim", "sleep")  # y = 0, 1, 2, 3


def make_routine(
    n_days=365, rain_prob=0.15, spell_length=(1, 3), seed=0, n_series=1, start="2024-01-01"
):
    """Generate the run -> bike -> swim routine with rainy spells that must be remembered.

    On a dry day the person does the next activity of the cycle run (y=0) -> bike (1) ->
    swim (2) -> run ...; on a rainy day they sleep (y=3) and the cycle pauses, so the first
    dry day after a spell continues from the last activity before it. To predict that day a
    model must remember back over the whole spell, so ``spell_length`` sets the memory needed.

    Rain (column ``rain``, 0/1, a future-known covariate: the forecast is known) comes in
    spells: on a dry day a spell starts with probability ``rain_prob`` and lasts a length
    drawn uniformly from ``spell_length``; the day after a spell is always dry, so spells
    never merge. Each series starts at a random point of the cycle.

    Parameters
    ----------
    n_days : int, days per series.
    rain_prob : float in [0, 1), probability that a spell starts on a dry day.
    spell_length : int or (min, max), inclusive range of spell lengths in days.
    seed : int, seeds a ``numpy.random.Generator``.
    n_series : int, independent people, ids ``person_<i>``.
    start : str or Timestamp, first ``ds``; daily frequency.

    Returns
    -------
    DataFrame [unique_id, ds, y, rain], ``n_series * n_days`` rows.
    """
    lo, hi = (spell_length, spell_length) if np.isscalar(spell_length) else spell_length
    if not 1 <= lo <= hi:
        raise ValueError(f"spell_length must be >= 1 (an int or (min, max)), got {spell_length}")
    if not 0 <= rain_prob < 1:
        raise ValueError(f"rain_prob must lie in [0, 1), got {rain_prob}")
    rng = np.random.default_rng(seed)
    phase = rng.integers(0, 3, n_series)
    left = np.zeros(n_series, dtype=np.int64)  # rainy days left in the current spell
    after_spell = np.zeros(n_series, dtype=bool)
    y = np.empty((n_series, n_days))
    rain = np.zeros((n_series, n_days))
    for d in range(n_days):
        starts = (left == 0) & ~after_spell & (rng.random(n_series) < rain_prob)
        left[starts] = rng.integers(lo, hi + 1, int(starts.sum()))
        wet = left > 0
        rain[:, d] = wet
        y[:, d] = np.where(wet, 3, phase % 3)
        phase += ~wet
        left[wet] -= 1
        after_spell = wet & (left == 0)
    width = len(str(n_series - 1))
    ids = np.array([f"person_{i:0{width}d}" for i in range(n_series)], dtype=object)
    dates = pd.date_range(start, periods=n_days, freq="D").to_numpy()
    return long_frame(
        np.repeat(ids, n_days), np.tile(dates, n_series), y.ravel(), rain=rain.ravel()
    )
