"""Probabilistic forecast metrics: pinball loss, CRPS, coverage, interval width, MSIS.

Array functions for direct use, and per-point terms over forecast frames that carry the columns
of ``forecast.probabilistic.decoder`` (``y_q<p>``, ``y_lo<l>``/``y_hi<l>``), so
``forecast.metrics.evaluate``
and backtests group them like the point metrics (each a mean of a per-point term):

===============  ===================================================================================
name             per-point term
===============  ===================================================================================
pinball          mean over the frame's quantile levels (``y_q*``, interval bounds, ``y_pred`` as
                 the median) of ``max(q (y - y_q), (q - 1)(y - y_q))``
crps             2 x pinball: the quantile-grid approximation of the CRPS (Gneiting & Raftery 2007)
coverage<l>      100 if ``y_lo<l> <= y <= y_hi<l>`` else 0 (percent; compare with ``l``)
width<l>         ``y_hi<l> - y_lo<l>``
msis<l>          ``(hi - lo + 2/a (lo - y)[y < lo] + 2/a (y - hi)[y > hi]) / scale``, ``a = 1 -
l/100``:
                 M4's mean scaled interval score (``msis95``), scaled like MASE
===============  ===================================================================================
"""

from __future__ import annotations

import re

import numpy as np

from forecast.data.columns import bounds, interval_columns

_LEVELLED = re.compile(r"^(coverage|width|msis)(\d+(?:\.\d+)?)$")
_QUANTILE_COL = re.compile(r"^y_q(\d+(?:\.\d+)?)$")
_BOUND_COL = re.compile(r"^y_(lo|hi)(\d+(?:\.\d+)?)$")
NAMES = ("pinball", "crps", "coverage<l>", "width<l>", "msis<l>")


def is_interval_metric(name):
    return name in ("pinball", "crps") or (
        isinstance(name, str)
        and bool(_LEVELLED.match(name))
        and 0 < float(_LEVELLED.match(name).group(2)) < 100
    )


def needs_scale(name):
    return isinstance(name, str) and name.startswith("msis")


# ------------------------------------------------------------------------------------ arrays


def pinball(y, y_q, q):
    """Mean pinball loss of quantile forecasts ``y_q`` at level ``q`` (0 < q < 1) against ``y``."""
    diff = np.asarray(y, dtype=np.float64) - np.asarray(y_q, dtype=np.float64)
    return float(np.mean(np.maximum(q * diff, (q - 1.0) * diff)))


def crps_quantiles(y, quantiles, levels):
    """CRPS approximated on a quantile grid: 2 x the mean pinball over ``levels``.
    ``quantiles`` : (n, K) forecasts at ``levels`` (K,); ``y`` : (n,)."""
    y, q = np.asarray(y, dtype=np.float64)[:, None], np.asarray(quantiles, dtype=np.float64)
    diff, lv = y - q, np.asarray(levels, dtype=np.float64)[None]
    return float(2.0 * np.mean(np.maximum(lv * diff, (lv - 1.0) * diff)))


def crps_samples(y, samples):
    """CRPS from samples (n, k): ``E|X - y| - E|X - X'| / 2`` per point, averaged (the energy form,
    computed exactly on the sorted samples in O(k log k))."""
    y, s = np.asarray(y, dtype=np.float64), np.sort(np.asarray(samples, dtype=np.float64), axis=1)
    k = s.shape[1]
    first = np.mean(np.abs(s - y[:, None]), axis=1)
    weights = 2.0 * np.arange(1, k + 1) - k - 1  # sum_{i<j} |x_i - x_j| = sum_i (2i - k - 1) x_(i)
    spread = (s * weights).sum(axis=1) / (k * k)
    return float(np.mean(first - spread))


def coverage(y, lo, hi):
    """Percent of ``y`` inside [lo, hi]."""
    y = np.asarray(y, dtype=np.float64)
    return float(100.0 * np.mean((np.asarray(lo) <= y) & (y <= np.asarray(hi))))


def msis(y, lo, hi, level=95, scale=1.0):
    """M4's mean scaled interval score of the central ``level`` percent interval."""
    return float(
        np.mean(
            _interval_score(
                np.asarray(y, np.float64),
                np.asarray(lo, np.float64),
                np.asarray(hi, np.float64),
                level,
            )
            / scale
        )
    )


def _interval_score(y, lo, hi, level):
    a = 1.0 - level / 100.0
    return hi - lo + 2.0 / a * (lo - y) * (y < lo) + 2.0 / a * (y - hi) * (y > hi)


# ------------------------------------------------------------------------------------ frames


def quantile_columns(columns):
    """{column: level} of every quantile-like column of a forecast frame (``y_pred`` as the median
    when the frame has any other)."""
    out = {}
    for c in columns:
        if m := _QUANTILE_COL.match(c):
            out[c] = float(m.group(1)) / 100.0
        elif m := _BOUND_COL.match(c):
            lo, hi = bounds(float(m.group(2)))
            out[c] = lo if m.group(1) == "lo" else hi
    if out and "y_pred" in columns and not any(abs(v - 0.5) < 1e-9 for v in out.values()):
        out["y_pred"] = 0.5
    return out


def terms(name, fc, y, scale=None):
    """(n,) per-point terms of interval metric ``name`` over the forecast frame ``fc``."""
    if name in ("pinball", "crps"):
        cols = quantile_columns(fc.columns)
        if not cols:
            raise ValueError(
                f"metric {name!r} needs quantile or interval columns (y_q.., y_lo../y_hi..); the "
                f"forecasts have {list(fc.columns)}: fit a probabilistic loss or interval="
            )
        diff = y[:, None] - fc[list(cols)].to_numpy(np.float64)
        q = np.array(list(cols.values()))[None]
        mean = np.maximum(q * diff, (q - 1.0) * diff).mean(axis=1)
        return 2.0 * mean if name == "crps" else mean
    kind, level = _LEVELLED.match(name).groups()
    lo_col, hi_col = interval_columns(float(level))
    if lo_col not in fc.columns or hi_col not in fc.columns:
        raise ValueError(
            f"metric {name!r} needs the columns {lo_col!r} and {hi_col!r}; the forecasts have "
            f"{list(fc.columns)} (predict with level=({level},) or fit with level=...)"
        )
    lo, hi = fc[lo_col].to_numpy(np.float64), fc[hi_col].to_numpy(np.float64)
    if kind == "coverage":
        return 100.0 * ((lo <= y) & (y <= hi))
    if kind == "width":
        return hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(scale == 0, np.nan, _interval_score(y, lo, hi, float(level)) / scale)
