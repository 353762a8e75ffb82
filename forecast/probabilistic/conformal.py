"""Split-conformal prediction intervals, calibrated per horizon step at fit.

With ``interval="conformal"`` (or ``"cqr"``) the fit holds back the last ``calibration_size``
points of every series: the network, the scalers and the validation part never see them. After
training, a no-refit backtest forecasts every origin whose horizon lies wholly inside that tail
(``calibration_size - horizon + 1`` origins per series) and scores each forecast in the scaled
frame (each series' own scale, so series of any size pool together):

* ``"conformal"``: ``|y - median| / d``, ``d`` the series' difficulty — the model's own mean
  absolute error over the last ``horizon`` origins of its training part (in-sample, fixed before
  calibration: a locally weighted split-conformal score, Lei et al. 2018, section 5.2); the
  interval is ``median ± q_h d``, as wide as the model finds the series hard (stored as
  ``"noise"``);
* ``"cqr"`` (conformalised quantile regression, Romano et al. 2019, on the quantile head):
  ``max(q_lo - y, y - q_hi)`` (not divided: the head's width already follows each series'
  difficulty); the interval is ``[q_lo - q_h, q_hi + q_h]`` — as wide as the quantile head says,
  corrected by the calibration.

``q_h`` is, for each horizon step ``h`` and level ``l``, the ``ceil((n + 1) l / 100)``-th
smallest of
the ``n`` scores at that step (Vovk et al.; Lei et al. 2018): under exchangeability the interval
covers with probability at least ``l`` percent. Forecasts are made from the full history, so the
intervals are calibrated on the model that forecasts, with the most recent data as inputs.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from forecast.data.columns import bounds
from forecast.probabilistic.decoder import DEFAULT_LEVEL, Decoder

MIN_RESIDUALS = 20  # per horizon step: a 95 % interval needs at least 19


def calibration_size(interval, size, horizon, n_series):
    """Points held back at the end of each series (0 without ``interval``): ``size`` (the second
    value of ``interval=(kind, size)``), or None: the horizon plus enough origins for
    ``MIN_RESIDUALS`` scores per step (at least a horizon's)."""
    if interval is None:
        return 0
    if size is not None:
        return int(size)
    return horizon - 1 + max(horizon, math.ceil(MIN_RESIDUALS / max(n_series, 1)))


def calibrate(state, module, gatherer, offsets, size, interval, level, run_windows):
    """The calibrated scores of a fitted network: {"interval", "levels", "scores" (H, levels), "n",
    "noise" (S,): each fitted series' noise level, the unit of its widths}.

    ``gatherer`` holds the fit's scaled rows (padded series at ``offsets``, with the observed
    mask); ``run_windows`` is ``forecast.fitted.inference.run_windows``.
    """
    H = state.horizon
    levels = tuple(level or DEFAULT_LEVEL)
    host = (
        gatherer.data[:, 0].cpu().numpy().astype(np.float64),
        None if gatherer.observed is None else gatherer.observed.cpu().numpy() > 0,
    )  # read once
    windows = _tail_windows(
        state, module, gatherer, offsets, host, run_windows, back=0, count=size - H + 1
    )
    series, out, y, observed = windows
    if not len(series):
        raise ValueError(
            f"interval={interval!r}: no series is long enough to calibrate on (each needs "
            "lookback + "
            f"calibration_size = {state.lookback} + {size} points)"
        )
    decoder = Decoder(state)
    # cqr: the quantile head's width already follows each series' difficulty
    noise = (
        np.ones(len(offsets) - 1)
        if interval == "cqr"
        else series_difficulty(
            state,
            _tail_windows(state, module, gatherer, offsets, host, run_windows, back=size, count=H),
            len(offsets) - 1,
        )
    )
    table = np.empty((H, len(levels)))
    for j, lv in enumerate(levels):
        if interval == "cqr":
            lo, hi = (decoder.quantile(out, b, series, lv) for b in bounds(lv))
            scores = np.maximum(lo - y, y - hi)
        else:
            scores = np.abs(y - decoder.quantile(out, 0.5, series))
        scores = scores / noise[series][:, None]
        table[:, j] = [_rank_quantile(scores[observed[:, h], h], lv) for h in range(H)]
    return {
        "interval": interval,
        "levels": list(levels),
        "scores": table.tolist(),
        "n": int(len(series)),
        "noise": noise.tolist(),
    }


def _tail_windows(state, module, gatherer, offsets, host, run_windows, back, count):
    """The ``count`` last windows of every series whose horizon ends ``back`` rows before its end (a
    series too short for some gives fewer): (series (n,), scaled outputs, targets (n, H),
    observed (n, H))."""
    L, H = state.lookback, state.horizon
    k = np.arange(count)
    first = (offsets[1:, None] - back - (L + H) - k[None]).ravel()
    series = np.repeat(np.arange(len(offsets) - 1), count)
    ok = first >= offsets[:-1][series]
    first, series = first[ok], series[ok]
    rows = first[:, None] + L + np.arange(H)  # (n, H) target rows
    values, seen = host
    out = run_windows(module, gatherer, series, first, state.device) if len(first) else None
    return (
        series,
        out,
        values[rows],
        np.ones(rows.shape, dtype=bool) if seen is None else seen[rows],
    )


def series_difficulty(state, windows, n_series):
    """(S,) each series' in-sample mean absolute error of the point forecast (scaled frame) over
    ``windows`` (:func:`_tail_windows` before the calibration tail; observed targets only); a series
    without one takes the median of the others (1 if none)."""
    series, out, y, observed = windows
    sums, counts = np.zeros(n_series), np.zeros(n_series)
    if len(series):
        err = np.where(observed, np.abs(y - Decoder(state).quantile(out, 0.5, series)), 0.0)
        np.add.at(sums, series, err.sum(axis=1))
        np.add.at(counts, series, observed.sum(axis=1))
    diff = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    good = np.isfinite(diff) & (diff > 1e-8)
    diff[~good] = np.median(diff[good]) if good.any() else 1.0
    return diff


def _rank_quantile(scores, level):
    """The ``ceil((n + 1) * level / 100)``-th smallest score (the largest when too few)."""
    n = len(scores)
    if n == 0:
        raise ValueError(
            "interval: a horizon step has no observed calibration target (all padded or missing)"
        )
    rank = math.ceil((n + 1) * level / 100.0)
    if rank > n:
        warnings.warn(
            f"interval: {n} calibration scores per horizon step are too few for a {level} % "
            f"interval (needs {math.ceil(100 / (100 - level)) - 1}); using the largest: raise "
            "the calibration points (interval=(kind, n))",
            UserWarning,
            stacklevel=4,
        )
        rank = n
    return float(np.sort(scores)[rank - 1])
