"""From a network's scaled-frame output to forecast columns: the point, quantiles, intervals, samples.

Column names (stable, documented in the README):

* ``y_pred``: the point forecast — the median for quantile and distribution models;
* ``y_q<p>``: the quantile at level ``p`` percent of a quantile head (``y_q10``, ``y_q90``,
  ``y_q2.5``), for every level of ``quantiles``;
* ``y_lo<l>`` / ``y_hi<l>``: the central ``l`` percent interval (``y_lo80``, ``y_hi95``): from a
  distribution head, from the quantile head's levels ``(1 - l/100)/2`` and ``1 - (1 - l/100)/2``,
  or conformal (``interval="conformal"``/``"cqr"``, ``forecast.probabilistic.conformal``).

Every value is mapped back to the target's own scale through the series' scaler and the target
transform. Both are increasing maps, so quantiles map exactly (a quantile of ``exp(z)`` is
``exp`` of ``z``'s quantile) and never cross after the mapping either.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from forecast.data.columns import bounds, interval_columns, interval_columns_of, quantile_column
from forecast.data.scaling import inverse_target
from forecast.training.losses import quantile_levels

DEFAULT_LEVEL = (80, 95)


class Decoder:
    """Turns one fitted model's scaled-frame outputs into named forecast columns."""

    def __init__(self, state):
        self.state = state
        net = state.network
        self.quantiles = quantile_levels(net["quantiles"]) if net.get("quantiles") else None
        self.requested = tuple(net.get("quantiles") or ())
        self.family = net.get("distribution")

    @staticmethod
    def default_levels(est):
        """The interval levels an estimator's forecasts carry when ``predict`` is given none: its
        ``level`` (or (80, 95)) with ``interval`` or ``distribution``, its ``level`` with ``quantiles``."""
        level = getattr(est, "level", None)
        if (
            getattr(est, "interval", None) is not None
            or getattr(est, "distribution", None) is not None
        ):
            return tuple(level or DEFAULT_LEVEL)
        return tuple(level or ()) if getattr(est, "quantiles", None) else ()

    def levels(self, level):
        """The interval levels a forecast reports: ``level`` if given, else the calibrated ones
        (conformal), else (80, 95) for a distribution head, else none."""
        if level is not None:
            return tuple(level)
        if self.state.conformal is not None:
            return tuple(self.state.conformal["levels"])
        return DEFAULT_LEVEL if self.family else ()

    def columns(self, level=None):
        return [
            "y_pred",
            *(quantile_column(q) for q in self.requested),
            *interval_columns_of(self.levels(level)),
        ]

    def decode(self, out, fitted_pos, level=None):
        """{column: (n, H) forecasts in the target's scale} from ``out``: (n, H) point, (n, H, Q)
        quantiles or (n, H, P) parameters in the scaled frame; ``fitted_pos`` (n,) the series."""
        levels = self.levels(level)
        cols = {"y_pred": self._inverse(self.quantile(out, 0.5, fitted_pos), fitted_pos)}
        for q in self.requested:
            cols[quantile_column(q)] = self._inverse(self.quantile(out, q, fitted_pos), fitted_pos)
        conformal = self.state.conformal
        for lv in levels:
            lo_name, hi_name = interval_columns(lv)
            if conformal is not None:
                lo, hi = self._conformal(out, lv, fitted_pos)
            else:
                lo, hi = (self.quantile(out, b, fitted_pos, lv) for b in bounds(lv))
            cols[lo_name], cols[hi_name] = (
                self._inverse(lo, fitted_pos),
                self._inverse(hi, fitted_pos),
            )
        return nest(cols, levels)

    def quantile(self, out, q, pos, level=None):
        """(n, H) quantile ``q`` in the scaled frame (counts for the negative binomial)."""
        if self.quantiles is not None:
            if not any(abs(q - x) < 1e-9 for x in self.quantiles):
                raise ValueError(
                    f"level={level!r} needs the quantiles {bounds(level)}, but the model was fitted with "
                    f"quantiles={self.requested}; add them, or use interval='conformal'"
                )
            return out[..., next(i for i, x in enumerate(self.quantiles) if abs(q - x) < 1e-9)]
        if self.family is None:
            if q == 0.5:
                return out
            raise ValueError(
                f"level={level!r}: a point model has no intervals; fit with interval='conformal', "
                f"quantiles=... or distribution=..."
            )
        return parametric_quantile(self.family, out, q, *self._scaler(pos))

    def _conformal(self, out, level, pos):
        cal = self.state.conformal
        if level not in cal["levels"]:
            raise ValueError(
                f"level={level!r} was not calibrated: interval={cal['interval']!r} was calibrated at fit "
                f"for level={tuple(cal['levels'])}; set level=... before fit"
            )
        width = np.asarray(cal["scores"], dtype=np.float64)[
            :, list(cal["levels"]).index(level)
        ]  # (H,) in noise units
        width = (
            width
            * np.asarray(cal.get("noise") or np.ones(len(self.state.ids)), dtype=np.float64)[pos][
                :, None
            ]
        )
        if cal["interval"] == "cqr":
            lo, hi = (self.quantile(out, b, pos, level) for b in bounds(level))
            return lo - width, hi + width
        point = self.quantile(out, 0.5, pos)
        return point - width, point + width

    def _scaler(self, pos):
        sc = self.state.target_scaler
        return sc.loc_[pos, 0][:, None], sc.scale_[pos, 0][:, None]

    def _inverse(self, v, pos):
        if self.family == "negative_binomial":
            return v  # already counts
        return inverse_target(self.state.target_scaler.inverse(v, pos), self.state.target_transform)

    def sample(self, out, pos, n_samples, rng):
        """(n, H, k) samples in the target's scale, drawn independently per step (direct and
        seq2seq heads; the recursive head draws coherent paths, ``forecast.fitted.inference``)."""
        u = rng.random((*out.shape[:2], n_samples))
        if self.quantiles is not None:  # inverse CDF, linear between the levels, flat beyond them
            levels = np.asarray(self.quantiles)
            u = np.clip(u, levels[0], levels[-1])
            j = np.clip(
                np.searchsorted(levels, u, side="right"), 1, len(levels) - 1
            )  # (n, H, k): upper level
            lo, hi = np.take_along_axis(out, j - 1, axis=2), np.take_along_axis(out, j, axis=2)
            z = lo + (u - levels[j - 1]) / (levels[j] - levels[j - 1]) * (hi - lo)
        elif self.family is not None:
            z = parametric_quantile(
                self.family, out[..., None, :], u, *(s[..., None] for s in self._scaler(pos))
            )
        else:
            raise ValueError(
                "n_samples needs a probabilistic model: fit with quantiles=... or distribution=..."
            )
        if self.family == "negative_binomial":
            return z
        inv = self._inverse(
            z.transpose(0, 2, 1).reshape(-1, out.shape[1]), np.repeat(pos, n_samples)
        )
        return inv.reshape(out.shape[0], n_samples, out.shape[1]).transpose(0, 2, 1)


def nest(cols, levels):
    """Make intervals nest: ``y_lo`` of a wider level never above a narrower one's, nor above
    ``y_pred`` (likewise ``y_hi``). Independent conformal corrections per level (``"cqr"``) can
    otherwise cross; only widening is applied, so no interval covers less than calibrated."""
    lo, hi = cols["y_pred"], cols["y_pred"]
    for lv in sorted(levels):
        lo_name, hi_name = interval_columns(lv)
        lo, hi = np.minimum(cols[lo_name], lo), np.maximum(cols[hi_name], hi)
        cols[lo_name], cols[hi_name] = lo, hi
    return cols


def parametric_quantile(family, params, q, loc=None, spread=None):
    """Quantile(s) ``q`` of the per-step distributions ``params`` (..., P) (scaled frame; counts
    for the negative binomial, whose mean reads the scaler's ``loc`` / ``spread``)."""
    if family == "normal":
        return params[..., 0] + params[..., 1] * special.ndtri(q)
    if family == "student_t":
        return params[..., 0] + params[..., 1] * stats.t.ppf(q, params[..., 2])
    mu = spread * np.logaddexp(
        0.0, loc / spread + params[..., 0]
    )  # forecast.training.losses.nb_mean, in numpy
    r = 1.0 / params[..., 1]
    return stats.nbinom.ppf(q, r, r / (r + mu))


def check_target(family, panel):
    """A negative binomial head needs counts: non-negative integer targets (the first bad series named)."""
    if family != "negative_binomial":
        return
    y = panel.data[:, 0]
    bad = ~np.isfinite(y) | (y < 0) | (y != np.round(y))
    if bad.any():
        row = int(np.argmax(bad))
        s = int(np.searchsorted(panel.offsets, row, side="right") - 1)
        raise ValueError(
            f"distribution='negative_binomial' needs non-negative integer counts, but series "
            f"{panel.ids[s]!r} has y={y[row]!r}; use distribution='normal' or 'student_t'"
        )
