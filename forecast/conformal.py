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

``q_h`` is, for each horizon step ``h`` and level ``l``, the ``ceil((n + 1) l / 100)``-th smallest of
the ``n`` scores at that step (Vovk et al.; Lei et al. 2018): under exchangeability the interval
covers with probability at least ``l`` percent. Forecasts are made from the full history, so the
intervals are calibrated on the model that forecasts, with the most recent data as inputs.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .columns import bounds
from .probabilistic import DEFAULT_LEVEL, Decoder

MIN_RESIDUALS = 20  # per horizon step: a 95 % interval needs at least 19


def calibration_size(est, n_series):
    """Points held back at the end of each series (0 without ``interval``): ``calibration_size``,
    or the horizon plus enough origins for ``MIN_RESIDUALS`` scores per step (at least a horizon's)."""
    if est.interval is None:
        return 0
    if est.calibration_size is not None:
        return int(est.calibration_size)
    return est.horizon - 1 + max(est.horizon, math.ceil(MIN_RESIDUALS / max(n_series, 1)))


def calibrate(state, module, gatherer, offsets, size, interval, level, run_windows):
    """The calibrated scores of a fitted network: {"interval", "levels", "scores" (H, levels), "n",
    "noise" (S,): each fitted series' noise level, the unit of its widths}.

    ``gatherer`` holds the fit's scaled rows (padded series at ``offsets``, with the observed
    mask); ``run_windows`` is ``forecast.inference.run_windows``.
    """
    L, H = state.lookback, state.horizon
    levels = tuple(level or DEFAULT_LEVEL)
    k = np.arange(size - H + 1)
    first = (offsets[1:, None] - (L + H) - k[None]).ravel()  # window start rows, horizon inside the tail
    series = np.repeat(np.arange(len(offsets) - 1), len(k))
    ok = first >= offsets[:-1][series]
    first, series = first[ok], series[ok]
    if not len(first):
        raise ValueError(f"interval={interval!r}: no series is long enough to calibrate on (each needs lookback + "
                         f"calibration_size = {L} + {size} points)")
    out = run_windows(module, gatherer, series, first, state.device)
    target_rows = first[:, None] + L + np.arange(H)  # (n, H)
    y = gatherer.data[:, 0].cpu().numpy()[target_rows].astype(np.float64)
    observed = np.ones_like(y, dtype=bool) if gatherer.observed is None else \
        gatherer.observed.cpu().numpy()[target_rows].astype(bool)
    decoder = Decoder(state)
    S = len(offsets) - 1  # cqr: the quantile head's width already follows each series' difficulty
    noise = np.ones(S) if interval == "cqr" else series_difficulty(state, module, gatherer, offsets, size, run_windows)
    table = np.empty((H, len(levels)))
    for j, lv in enumerate(levels):
        if interval == "cqr":
            lo, hi = (decoder.quantile(out, b, series, lv) for b in bounds(lv))
            scores = np.maximum(lo - y, y - hi)
        else:
            scores = np.abs(y - decoder.quantile(out, 0.5, series))
        scores = scores / noise[series][:, None]
        table[:, j] = [_rank_quantile(scores[observed[:, h], h], lv) for h in range(H)]
    return {"interval": interval, "levels": list(levels), "scores": table.tolist(), "n": int(len(first)),
            "noise": noise.tolist()}


def series_difficulty(state, module, gatherer, offsets, size, run_windows):
    """(S,) each series' in-sample mean absolute error of the point forecast (scaled frame) over the
    last ``horizon`` origins before the calibration tail (observed targets only); a series without
    one takes the median of the others (1 if none)."""
    L, H, S = state.lookback, state.horizon, len(offsets) - 1
    k = np.arange(H)
    first = (offsets[1:, None] - size - (L + H) - k[None]).ravel()
    series = np.repeat(np.arange(S), H)
    ok = first >= offsets[:-1][series]
    first, series = first[ok], series[ok]
    out = np.full(S, np.nan)
    if len(first):
        pred = Decoder(state).quantile(run_windows(module, gatherer, series, first, state.device), 0.5, series)
        rows = first[:, None] + L + np.arange(H)
        err = np.abs(gatherer.data[:, 0].cpu().numpy()[rows] - pred)
        if gatherer.observed is not None:
            err = np.where(gatherer.observed.cpu().numpy()[rows] > 0, err, np.nan)
        sums, counts = np.zeros(S), np.zeros(S)
        np.add.at(sums, series, np.nansum(err, axis=1))
        np.add.at(counts, series, np.isfinite(err).sum(axis=1))
        out = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    good = np.isfinite(out) & (out > 1e-8)
    out[~good] = np.median(out[good]) if good.any() else 1.0
    return out


def _rank_quantile(scores, level):
    """The ``ceil((n + 1) * level / 100)``-th smallest score (the largest when there are too few)."""
    n = len(scores)
    if n == 0:
        raise ValueError("interval: a horizon step has no observed calibration target (all padded or missing)")
    rank = math.ceil((n + 1) * level / 100.0)
    if rank > n:
        warnings.warn(f"interval: {n} calibration scores per horizon step are too few for a {level} % interval "
                      f"(needs {math.ceil(100 / (100 - level)) - 1}); using the largest: raise calibration_size",
                      UserWarning, stacklevel=4)
        rank = n
    return float(np.sort(scores)[rank - 1])
