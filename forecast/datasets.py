"""Bundled real data sets behind one loader, their published split protocols, and seeded generators.

Every loader and generator returns the project's long frame ``[unique_id, ds, y, <covariates>]``
with ``unique_id`` str, ``ds`` datetime64[ns] and ``y`` float64, sorted by series then time.

Data files are looked up, in order, in ``$FORECAST_DATA_DIR`` (when set), in ``forecast/_data``
next to this module (an installed wheel) and in the checkout's top-level ``datasets/`` folder.
Each file's SHA-256 is checked against the value recorded here before it is parsed.
"""
from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR_ENV = "FORECAST_DATA_DIR"
ETT_VARIABLES = ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT")
ETT_BORDERS = (8640, 11520, 14400)  # train [0, 8640), validation [8640, 11520), test [11520, 14400)
M4_WEEKLY_HORIZON = 13
M4_WEEKLY_SEASON_LENGTH = 1  # the M4 MASE convention: weekly series are scaled by the lag-1 naive
M4_ANCHOR = pd.Timestamp("2018-12-30")  # a Sunday: the last train week of every M4 series

_SHA256 = {
    "AirPassengers.csv": "28af0eb869db6d9fbd31d5af03993a0cbf36c0857c3eb046a068c094b60da851",
    "ETTh1.csv.gz": "3c56c865b8f6fc9b760a07f055ff8a993d3cf2a747235dc382b98821ed35f029",
    "ETTh2.csv.gz": "a549927e8cd45bd1c20a8ec51529cd037bf6da38fe37c2ba3dc0e9c8446d6cb5",
    "M4-Weekly-train.csv.gz": "88fc9c6c579cfb7de0e4d179502de55f71257eb6865e92e13cae06b607fb4f12",
    "M4-Weekly-test.csv.gz": "f65c787eef18d015e0f9ce2dfd321ca0a9a2b1377e2addb5c293ae4930a921c0",
}

# name -> (files, frequency, n_series, description)
_CATALOG = {
    "airpassengers": (("AirPassengers.csv",), "MS", 1,
                      "Box & Jenkins airline passengers (thousands), monthly 1949-1960, 144 rows"),
    "etth1": (("ETTh1.csv.gz",), "h", 1,
              "ETT station 1, hourly 2016-07..2018-06: target OT, six load covariates "
              "(multivariate=True: 7 series)"),
    "etth2": (("ETTh2.csv.gz",), "h", 1,
              "ETT station 2, hourly 2016-07..2018-06: target OT, six load covariates "
              "(multivariate=True: 7 series)"),
    "m4_weekly": (("M4-Weekly-train.csv.gz", "M4-Weekly-test.csv.gz"), "W-SUN", 359,
                  "M4 competition weekly subset, train + 13-week test, synthetic dates"),
}


def list_datasets():
    """Describe the bundled data sets.

    Returns
    -------
    DataFrame [name, description, frequency, n_series, files], one row per data set.
    ``n_series`` is the default (univariate) layout; ETT has 7 with ``multivariate=True``.
    """
    rows = [{"name": name, "description": desc, "frequency": freq, "n_series": n,
             "files": ", ".join(files)} for name, (files, freq, n, desc) in _CATALOG.items()]
    return pd.DataFrame(rows)


def data_dir():
    """Return the folder the data files are read from (see the module docstring for the order)."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    packaged = here / "_data"
    return packaged if packaged.is_dir() else here.parent / "datasets"


def load(name, *, multivariate=False):
    """Load a bundled data set as a long frame.

    Parameters
    ----------
    name : str
        One of ``list_datasets().name`` (case-insensitive, ``-`` treated as ``_``).
    multivariate : bool, default False
        ETT only. False: one series ``unique_id="OT"`` with the six load variables
        HUFL..LULL as extra (past covariate) columns. True: all seven variables as targets,
        ``unique_id`` = the variable name, in the file's column order, no covariates.

    Returns
    -------
    DataFrame [unique_id, ds, y, <covariates>]
        airpassengers: 144 rows, month-start ``ds`` 1949-01-01..1960-12-01.
        etth1 / etth2: 17,420 hourly rows from 2016-07-01 00:00 (x7 series when multivariate).
        m4_weekly: 359 series, each its train values followed by its 13 test values, on the
        synthetic weekly (W-SUN) calendar of :func:`m4_split`.

    Raises
    ------
    ValueError
        Unknown name (the message lists the known ones), a bad option, or a file whose
        SHA-256 differs from the recorded one (the message names the path).
    FileNotFoundError
        A data file is missing (the message names the path).
    """
    key = str(name).strip().lower().replace("-", "_")
    if key not in _CATALOG:
        raise ValueError(f"unknown data set {name!r}; known: {sorted(_CATALOG)}")
    if multivariate and not key.startswith("ett"):
        raise ValueError(f"multivariate=True is only defined for etth1/etth2, not {name!r}")
    root = data_dir()
    stamps = tuple(_stamp(root / f) for f in _CATALOG[key][0])
    return _build(key, bool(multivariate), stamps).copy()


def _stamp(path):
    try:
        st = path.stat()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"data file {path} is missing (data folder from ${DATA_DIR_ENV}, forecast/_data "
            f"or the checkout's datasets/)") from None
    return str(path), st.st_mtime_ns, st.st_size


@functools.lru_cache(maxsize=16)
def _build(key, multivariate, stamps):
    # stamps carry (path, mtime, size), so replacing a file invalidates the cache entry.
    paths = [Path(p) for p, _, _ in stamps]
    for path in paths:
        _verify(path)
    if key == "airpassengers":
        return _airpassengers(paths[0])
    if key == "m4_weekly":
        return _m4(*paths)
    return _ett(paths[0], multivariate)


def _verify(path):
    expected = _SHA256[path.name]
    got = hashlib.sha256(path.read_bytes()).hexdigest()
    if got != expected:
        raise ValueError(f"data file {path} is corrupted or modified: SHA-256 {got}, "
                         f"expected {expected}; restore it from the repository's datasets/")


def _long(uid, ds, y, **covariates):
    df = pd.DataFrame({"unique_id": pd.Series(uid, dtype=str),
                       "ds": pd.to_datetime(ds).astype("datetime64[ns]"),
                       "y": np.asarray(y, dtype=np.float64)})
    for col, values in covariates.items():
        df[col] = np.asarray(values, dtype=np.float64)
    return df


def _airpassengers(path):
    raw = pd.read_csv(path)
    ds = pd.to_datetime(raw["Date"], format="%Y-%m")
    return _long(np.full(len(raw), "AirPassengers"), ds, raw["Passengers"])


def _ett(path, multivariate):
    raw = pd.read_csv(path)
    ds = pd.to_datetime(raw["date"], format="%Y-%m-%d %H:%M:%S")
    if not multivariate:
        covs = {c: raw[c] for c in ETT_VARIABLES[:-1]}
        return _long(np.full(len(raw), "OT"), ds, raw["OT"], **covs)
    n = len(raw)
    uid = np.repeat(np.array(ETT_VARIABLES, dtype=object), n)
    values = raw[list(ETT_VARIABLES)].to_numpy(np.float64).T.ravel()  # variable-major
    return _long(uid, np.tile(ds.to_numpy(), len(ETT_VARIABLES)), values)


def _m4_values(path):
    raw = pd.read_csv(path, index_col=0)
    return [(str(uid), row[~np.isnan(row)]) for uid, row in zip(raw.index, raw.to_numpy(np.float64))]


def _m4(train_path, test_path):
    train, test = _m4_values(train_path), dict(_m4_values(test_path))
    uids, ds, ys = [], [], []
    for uid, tr in train:
        te = test[uid]
        n = len(tr) + len(te)
        # The last train week lands on M4_ANCHOR; the test weeks follow it.
        ds.append(M4_ANCHOR + pd.to_timedelta(np.arange(n) - (len(tr) - 1), unit="W"))
        ys.append(np.concatenate([tr, te]))
        uids.append(np.full(n, uid, dtype=object))
    return _long(np.concatenate(uids), np.concatenate(ds), np.concatenate(ys))


def m4_split(frame, horizon=M4_WEEKLY_HORIZON):
    """Split ``load("m4_weekly")`` into the M4 one-origin train and test parts.

    The test part is the last ``horizon`` (13) rows of each series: its first ``ds`` is
    ``M4_ANCHOR + 1 week`` (2019-01-06) for every series, its last train ``ds`` is
    ``M4_ANCHOR`` (2018-12-30). Dates are synthetic (M4 publishes none): weekly, W-SUN.
    Score MASE with ``season_length = M4_WEEKLY_SEASON_LENGTH`` (1, the M4 convention for
    weekly data) and no normalisation.

    Returns
    -------
    (train, test) : DataFrames [unique_id, ds, y]; test has ``n_series * horizon`` rows.
    """
    pos_from_end = frame.groupby("unique_id", sort=False).cumcount(ascending=False)
    is_test = (pos_from_end < horizon).to_numpy()
    return (frame[~is_test].reset_index(drop=True), frame[is_test].reset_index(drop=True))


def ett_split(frame, lookback=0):
    """Split an ETT frame by the 12/4/4-month protocol borders of Informer and its successors.

    Rows are counted within each series: train [0, 8640), validation [8640, 11520),
    test [11520, 14400); rows from 14400 on are unused.

    Parameters
    ----------
    frame : DataFrame [unique_id, ds, y, ...] from ``load("etth1"|"etth2", ...)``.
    lookback : int, default 0
        Rows before each validation/test border to prepend, so that the first window of
        the part has its look-back (the protocol's ``border - seq_len``).

    Returns
    -------
    (train, validation, test) : DataFrames; with lookback 0 they hold 8640, 2880 and 2880
    rows per series.
    """
    if not 0 <= lookback <= ETT_BORDERS[0]:
        raise ValueError(f"lookback must lie in [0, {ETT_BORDERS[0]}], got {lookback}")
    pos = frame.groupby("unique_id", sort=False).cumcount().to_numpy()
    train_end, val_end, test_end = ETT_BORDERS
    parts = [(0, train_end), (train_end - lookback, val_end), (val_end - lookback, test_end)]
    return tuple(frame[(pos >= a) & (pos < b)].reset_index(drop=True) for a, b in parts)


def ett_zscore(frame):
    """Z-score every value column with its train-segment statistics, per series (ETT protocol).

    Each of ``y`` and the covariate columns is centred by the mean and divided by the
    population standard deviation (ddof=0) of the series' first 8640 rows.

    Returns
    -------
    scaled : DataFrame, same shape and columns as ``frame``.
    stats : DataFrame [unique_id, column, mean, std]; invert with ``x * std + mean``.
    """
    values = [c for c in frame.columns if c not in ("unique_id", "ds")]
    pos = frame.groupby("unique_id", sort=False).cumcount()
    train = frame[pos < ETT_BORDERS[0]].groupby("unique_id", sort=False)[values]
    mean, std = train.mean(), train.std(ddof=0)
    scaled = frame.copy()
    uid = frame["unique_id"]
    for col in values:
        scaled[col] = (frame[col] - uid.map(mean[col])) / uid.map(std[col])
    stats = (pd.concat({"mean": mean.stack(), "std": std.stack()}, axis=1)
             .rename_axis(["unique_id", "column"]).reset_index())
    return scaled, stats


# ---------------------------------------------------------------------------------------------
# Generators
# ---------------------------------------------------------------------------------------------

def make_panel(n_series=10, length=500, freq="h", seed=0, past_covariates=0, future_covariates=0,
               start="2024-01-01", ragged=False, past_lag=3, noise=0.05, seasonal_periods=None):
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
        raise ValueError(f"past_lag must be >= 1 (a past covariate acts with a delay), got {past_lag}")
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
    return _long(pick(uid), pick(ds), pick(y), **{c: pick(v) for c, v in columns.items()})


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
            p = phase[:, h - 1:h]
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


def make_routine(n_days=365, rain_prob=0.15, spell_length=(1, 3), seed=0, n_series=1,
                 start="2024-01-01"):
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
    return _long(np.repeat(ids, n_days), np.tile(dates, n_series), y.ravel(), rain=rain.ravel())
