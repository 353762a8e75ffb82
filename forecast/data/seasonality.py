"""Season lengths and default window lengths, from what the data itself says.

``season_length_for("h") == 24``: the period of the dominant calendar cycle at a frequency
(a day for sub-daily data, a week for daily, a year for weekly/monthly/quarterly; 1 when there
is none: yearly data, integer time steps, unknown aliases). ``resolve_season_length`` applies
it to a panel and falls back to 1 when the series are too short to show two full seasons.
``default_lookback`` is the input window used when ``lookback=None``. ``seasonality_test`` is the
M4 benchmarks' test for seasonality, which starts ``window_norm="es"`` off (and Naive2).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_DAY = pd.Timedelta(days=1)


def season_length_for(freq):
    """Dominant seasonal period (in steps) for a pandas frequency alias; 1 when there is none."""
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError):
        return 1  # integer time steps and anything that is not a calendar frequency
    name = type(offset).__name__
    if name in ("YearEnd", "YearBegin", "BYearEnd", "BYearBegin"):
        return 1
    if name in ("QuarterEnd", "QuarterBegin", "BQuarterEnd", "BQuarterBegin"):
        return max(4 // offset.n, 1)
    if name in (
        "MonthEnd",
        "MonthBegin",
        "BusinessMonthEnd",
        "BusinessMonthBegin",
        "SemiMonthEnd",
        "SemiMonthBegin",
    ):
        return max(12 // offset.n, 1) * (2 if name.startswith("SemiMonth") else 1)
    if name == "Week":
        return max(52 // offset.n, 1)
    if name == "BusinessDay":
        return 5
    try:
        step = pd.Timedelta(offset)
    except (ValueError, TypeError):
        return 1
    if step <= pd.Timedelta(0):
        return 1
    if step < _DAY:
        return max(int(round(_DAY / step)), 1)  # a day: 24 hourly, 96 at 15 minutes
    if step == _DAY:
        return 7
    return 1


def resolve_season_length(season_length, freqs, lengths, horizon):
    """The season length a model uses: the parameter, or inferred from the panel's main frequency.

    Inferred seasonality needs the typical (median) series to hold two full seasons plus a
    horizon; otherwise it is 1 (no seasonality), as M4 does for weekly data.
    """
    if season_length is not None:
        return int(season_length)
    main = pd.Series(list(freqs)).mode().iloc[0] if len(freqs) else None
    m = season_length_for(main)
    if m > 1 and np.median(np.asarray(lengths)) < 2 * m + horizon:
        return 1
    return m


def default_lookback(season_length, horizon, lengths):
    """Input window for ``lookback=None``: two horizons or two seasons, whichever is longer (at
    least 8 steps); beyond 192 steps only one horizon or two seasons (a recurrent pass over a
    long window is slow on a CPU). Shortened to what the median series can fill with at least one
    training window, but never below one season where the data allows it.
    """
    want = min(max(2 * horizon, 2 * season_length, 8), max(horizon, 2 * season_length, 192))
    room = int(np.median(np.asarray(lengths))) - horizon
    floor = max(min(season_length, room), 1)
    return int(max(min(want, room), floor))


def seasonality_test(y, season_length, threshold=1.645):
    """The M4 benchmarks' 90 % autocorrelation test for seasonality at lag ``m = season_length``.

    Seasonal when ``|acf_m| > threshold * sqrt((1 + 2 * sum_{k<m} acf_k^2) / n)``; never for
    ``m <= 1``, for series shorter than ``3 m`` or for a constant series (as the M4 code does).
    ``y`` : (n,) values.
    """
    y = np.asarray(y, dtype=np.float64)
    n, m = len(y), int(season_length)
    if m <= 1 or n < 3 * m:
        return False
    d = y - y.mean()
    denom = d @ d
    if denom == 0:
        return False
    acf = np.array([d[k:] @ d[: n - k] for k in range(1, m + 1)]) / denom  # acf_1 .. acf_m
    limit = threshold * np.sqrt((1 + 2 * np.sum(acf[:-1] ** 2)) / n)
    return bool(abs(acf[-1]) > limit)


def centred_trend(y, season_length):
    """The classical decomposition's trend: the centred moving average of ``y`` (n,) over one
    season (a 2 x m average for even m). Returns (trend, offset): ``trend[i]`` is the trend of
    ``y[offset + i]`` (no values for the first and last ``offset`` points)."""
    m = int(season_length)
    weights = np.r_[0.5, np.ones(m - 1), 0.5] / m if m % 2 == 0 else np.ones(m) / m
    return np.convolve(y, weights, mode="valid"), len(weights) // 2


def seasonal_regularity(y, season_length):
    """Lag-``m`` autocorrelation of ``y`` after removing its centred moving average (the classical
    decomposition's trend): near 1 for a regular seasonal pattern, near 0 for none; NaN when the
    series is shorter than three seasons or has no variation around its trend."""
    y = np.asarray(y, dtype=np.float64)
    m = int(season_length)
    if m <= 1 or len(y) < 3 * m:
        return np.nan
    trend, off = centred_trend(y, m)
    d = y[off : off + len(trend)] - trend
    d = d - d.mean()
    denom = d @ d
    return float(d[m:] @ d[:-m] / denom) if denom > 0 else np.nan


def seasonal_strength_prior(y, offsets, fit_lengths, season_length):
    """(S,) initial seasonal strength of ``window_norm="es"`` per series: 0.5 + 0.4 x its
    training part's :func:`seasonal_regularity` (clipped to [0, 1]; 0.5 when undefined).

    Measured (``benchmarks/RESULTS-accuracy-ablation.md``): a fixed 0.8 / 0.2 from the M4
    seasonality test over-trusted the noisy two-cycle profiles of M4 Weekly (OWA 0.97-1.01 against
    0.80 here at the same budget) while a flat 0.5 under-trusted AirPassengers' regular season."""
    fit_len = np.maximum(fit_lengths, 1)
    reg = np.array(
        [
            seasonal_regularity(y[a : a + n][np.isfinite(y[a : a + n])], season_length)
            for a, n in zip(offsets[:-1], fit_len)
        ]
    )
    return 0.5 + 0.4 * np.clip(np.nan_to_num(reg, nan=0.0), 0.0, 1.0)
