"""Bundled real data sets behind one loader, and their published split protocols.

Every loader returns the project's long frame ``[unique_id, ds, y, <covariates>]``
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

from forecast.data.columns import long_frame

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
    "airpassengers": (
        ("AirPassengers.csv",),
        "MS",
        1,
        "Box & Jenkins airline passengers (thousands), monthly 1949-1960, 144 rows",
    ),
    "etth1": (
        ("ETTh1.csv.gz",),
        "h",
        1,
        "ETT station 1, hourly 2016-07..2018-06: target OT, six load covariates "
        "(multivariate=True: 7 series)",
    ),
    "etth2": (
        ("ETTh2.csv.gz",),
        "h",
        1,
        "ETT station 2, hourly 2016-07..2018-06: target OT, six load covariates "
        "(multivariate=True: 7 series)",
    ),
    "m4_weekly": (
        ("M4-Weekly-train.csv.gz", "M4-Weekly-test.csv.gz"),
        "W-SUN",
        359,
        "M4 competition weekly subset, train + 13-week test, synthetic dates",
    ),
}


def list_datasets():
    """Describe the bundled data sets.

    Returns
    -------
    DataFrame [name, description, frequency, n_series, files], one row per data set.
    ``n_series`` is the default (univariate) layout; ETT has 7 with ``multivariate=True``.
    """
    rows = [
        {
            "name": name,
            "description": desc,
            "frequency": freq,
            "n_series": n,
            "files": ", ".join(files),
        }
        for name, (files, freq, n, desc) in _CATALOG.items()
    ]
    return pd.DataFrame(rows)


def data_dir():
    """Return the folder the data files are read from (see the module docstring for the order)."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env)
    package = Path(__file__).resolve().parents[1]  # forecast/
    packaged = package / "_data"
    return packaged if packaged.is_dir() else package.parent / "datasets"


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
            f"or the checkout's datasets/)"
        ) from None
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
        raise ValueError(
            f"data file {path} is corrupted or modified: SHA-256 {got}, "
            f"expected {expected}; restore it from the repository's datasets/"
        )


def _airpassengers(path):
    raw = pd.read_csv(path)
    ds = pd.to_datetime(raw["Date"], format="%Y-%m")
    return long_frame(np.full(len(raw), "AirPassengers"), ds, raw["Passengers"])


def _ett(path, multivariate):
    raw = pd.read_csv(path)
    ds = pd.to_datetime(raw["date"], format="%Y-%m-%d %H:%M:%S")
    if not multivariate:
        covs = {c: raw[c] for c in ETT_VARIABLES[:-1]}
        return long_frame(np.full(len(raw), "OT"), ds, raw["OT"], **covs)
    n = len(raw)
    uid = np.repeat(np.array(ETT_VARIABLES, dtype=object), n)
    values = raw[list(ETT_VARIABLES)].to_numpy(np.float64).T.ravel()  # variable-major
    return long_frame(uid, np.tile(ds.to_numpy(), len(ETT_VARIABLES)), values)


def _m4_values(path):
    raw = pd.read_csv(path, index_col=0)
    return [
        (str(uid), row[~np.isnan(row)]) for uid, row in zip(raw.index, raw.to_numpy(np.float64))
    ]


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
    return long_frame(np.concatenate(uids), np.concatenate(ds), np.concatenate(ys))


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
    stats = (
        pd.concat({"mean": mean.stack(), "std": std.stack()}, axis=1)
        .rename_axis(["unique_id", "column"])
        .reset_index()
    )
    return scaled, stats
