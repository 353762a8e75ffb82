"""From a network's scaled-frame output to forecast columns: the point, quantiles, intervals,
samples.

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

from forecast.choices import FAMILIES
from forecast.data.columns import bounds, interval_columns, interval_columns_of, quantile_column
from forecast.data.scaling import inverse_target

DEFAULT_LEVEL = (80, 95)


class Decoder:
    """Turns one fitted model's scaled-frame outputs into named forecast columns."""

    def __init__(self, state):
        self.state = state
        self.family = state.family  # forecast.probabilistic.families, or None for a point model
        self.requested = getattr(self.family, "requested", ())
        self.parametric = self.family is not None and self.family.draw is not None

    @staticmethod
    def default_levels(est):
        """The interval levels an estimator's forecasts carry when ``predict`` is given none: its
        ``level`` (or (80, 95)) with ``interval`` or a distribution loss, its ``level`` with
        ``loss="pinball"``, none for a point model."""
        level = getattr(est, "level", None)
        loss = getattr(est, "loss", None)
        if getattr(est, "interval", None) is not None or loss in FAMILIES[1:]:
            return tuple(level or DEFAULT_LEVEL)
        return tuple(level or ()) if loss == "pinball" else ()

    def levels(self, level):
        """The interval levels a forecast reports: ``level`` if given, else the calibrated ones
        (conformal), else (80, 95) for a distribution head, else none."""
        if level is not None:
            return tuple(level)
        if self.state.conformal is not None:
            return tuple(self.state.conformal["levels"])
        return DEFAULT_LEVEL if self.parametric else ()

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
        """(n, H) quantile ``q`` in the scaled frame (counts for a count family)."""
        if self.family is not None:
            return self.family.quantile(out, q, *self._scaler(pos), level=level)
        if q == 0.5:
            return out
        raise ValueError(
            f"level={level!r}: a point model has no intervals; fit with interval='conformal' "
            "or a probabilistic loss ('pinball', 'normal', 'student_t', 'negative_binomial')"
        )

    def _conformal(self, out, level, pos):
        cal = self.state.conformal
        if level not in cal["levels"]:
            raise ValueError(
                f"level={level!r} was not calibrated: interval={cal['interval']!r} was calibrated "
                "at fit "
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
        if self.family is not None and self.family.counts:
            return v  # already counts
        return inverse_target(self.state.target_scaler.inverse(v, pos), self.state.target_transform)

    def sample(self, out, pos, n_samples, rng):
        """(n, H, k) samples in the target's scale, drawn independently per step (direct and
        seq2seq heads; the recursive head draws coherent paths, ``forecast.fitted.inference``)."""
        if self.family is None:
            raise ValueError(
                "n_samples needs a probabilistic model: fit with loss='pinball', 'normal', "
                "'student_t' or 'negative_binomial'"
            )
        u = rng.random((*out.shape[:2], n_samples))
        z = self.family.sample(out, u, *self._scaler(pos))
        if self.family.counts:
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
