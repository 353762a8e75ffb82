"""What a fit leaves behind besides the network's weights, in one owner: :class:`FittedState`.

``RNNForecaster.fit`` builds it; forecasting (``forecast.fitted.inference``), save/load
(``forecast.fitted.persistence``) and diagnostics (``forecast.evaluation.diagnostics``) take it,
with the network,
as an argument. It holds the frame's spec and column layout, the series and their frequencies,
the scalers, the last ``lookback`` rows of every series (:class:`Tail`), the values resolved at
fit (lookback, season length, window normalisation, training sizes, device) and the history.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from forecast.checks import resolve_device
from forecast.choices import unfold
from forecast.data.frames import TARGET, FrameSpec
from forecast.data.frequencies import same_frequency
from forecast.data.panel import Layout
from forecast.data.scaling import ColumnScaler, SeriesScaler, transform_target
from forecast.data.seasonality import default_lookback, resolve_season_length
from forecast.data.windows import Gatherer
from forecast.networks import build_network
from forecast.probabilistic.families import family
from forecast.training.loop import History


@dataclass
class Tail:
    """The last ``lookback`` rows of each series: all a forecast from the end needs."""

    ids: np.ndarray  # (S,)
    data: np.ndarray  # (S, L, F) unscaled
    last_ds: list
    freqs: list

    @property
    def n_series(self):
        return len(self.ids)

    @classmethod
    def from_panel(cls, panel, lookback):
        """The last ``lookback`` rows of each series; a shorter series is left-padded with its first
        row.
        """
        rows = panel.offsets[1:, None] - lookback + np.arange(lookback)  # (S, L)
        rows = np.maximum(
            rows, panel.offsets[:-1, None]
        )  # edge padding, as left_pad does in training
        return cls(panel.ids, panel.data[rows], list(panel.last_ds), list(panel.freqs))


@dataclass
class FittedState:
    """A fitted model's state besides its weights; ``network`` holds :func:`build_network`'s
    keywords.
    """

    spec: FrameSpec
    layout: Layout
    ids: (
        np.ndarray
    )  # (S,) the fitted series, in panel order (a series' position indexes the scalers)
    freqs: dict  # id -> frequency (offset alias, or INTEGER_FREQ)
    horizon: int
    lookback: int
    season_length: int
    window_norm: str | None
    target_transform: str | None
    fill: str | None
    short_series: str
    device: torch.device
    network: dict
    target_scaler: SeriesScaler | None = None
    cov_scaler: SeriesScaler | None = None
    static_scaler: ColumnScaler | None = None
    static: np.ndarray | None = None  # (S, n_static) unscaled
    batch_size: int | None = None
    windows_per_epoch: int | None = None
    max_epochs: int | None = None
    tail: Tail | None = None
    history: History | None = None
    n_train_windows: int | None = None
    conformal: dict | None = (
        None  # interval="conformal"/"cqr": the calibrated scores (forecast.probabilistic.conformal)
    )

    @property
    def family(self):
        """The distribution family of the output (``forecast.probabilistic.families``), or None."""
        return family(self.network["family"], self.network["quantiles"])

    @classmethod
    def resolve(cls, params, spec, layout, panel):
        """The state a fit starts from: ``params`` (``get_params()``) with the values left to the
        data resolved on ``panel`` (season length, lookback, window normalisation, device)."""
        m = resolve_season_length(
            params["season_length"], panel.freqs, panel.lengths, params["horizon"]
        )
        blocks = unfold(params)
        lookbacks = [v for v in blocks["member_lookbacks"] or () if v is not None]
        if params["lookback"] is not None:
            L = int(params["lookback"])
        elif lookbacks:  # the window holds every member's
            L = max(lookbacks)
        else:
            L = default_lookback(m, params["horizon"], panel.lengths)
        skip = blocks["skip"]
        norm = auto_window_norm(blocks["window_norm"], blocks["head"], skip)
        if (skip is not None and m > L) or (norm == "es" and m > 1 and 2 * m > L):
            warnings.warn(
                f"lookback={L} is too short for season_length={m} (skip needs one season, "
                f"window_norm='es' two): the forecast base carries no seasonality; raise lookback "
                f"to {2 * m} or set season_length",
                UserWarning,
                stacklevel=3,
            )
        return cls(
            spec=spec,
            layout=layout,
            ids=panel.ids,
            freqs=dict(zip(panel.ids, panel.freqs)),
            horizon=params["horizon"],
            lookback=L,
            season_length=m,
            window_norm=norm,
            target_transform=blocks["target_transform"],
            fill=params["fill"],
            short_series=params["short_series"],
            device=resolve_device(params["device"]),
            network=network_config(params, layout, panel.n_series, norm, m),
        )

    def build_network(self):
        """A fresh network of the fitted shape (its weights from the generator's next draws)."""
        net = {k: v for k, v in self.network.items() if k not in ("family", "quantiles")}
        return build_network(**net, output=self.family)

    def fit_scalers(self, panel, val_size, method):
        """Fit the target, covariate and static scalers on each series' training part."""
        fit_len = np.maximum(panel.lengths - val_size, 1)
        n_cov = 1 + len(self.layout.past) + len(self.layout.future)
        where = f"fit data, column {self.spec.names[TARGET]!r}"  # the user's target name
        y = transform_target(
            panel.data[:, 0], self.target_transform, RowIds(self.ids, panel.offsets), where
        )
        self.target_scaler = SeriesScaler(method).fit(y[:, None], panel.offsets, fit_len)
        self.cov_scaler = SeriesScaler(method).fit(panel.data[:, 1:n_cov], panel.offsets, fit_len)
        self.static_scaler = ColumnScaler().fit(panel.static)
        self.static = panel.static

    def scale(self, data, positions, chunk=1 << 20):
        """Scale stacked rows (N, F) of the fitted series ``positions`` (N,): target, then
        covariates.

        Returns float32 (N, F), the dtype the ``Gatherer`` holds. Each chunk of rows is scaled in
        float64 and cast once, so the values equal a float64 pass cast afterwards, without the two
        full-size float64 temporaries (on 10^7-row panels they were the peak of ``fit``).
        """
        data = np.asarray(data)
        out = np.empty(data.shape, dtype=np.float32)
        n_cov = 1 + len(self.layout.past) + len(self.layout.future)
        for a in range(0, len(data), chunk):
            part = np.array(data[a : a + chunk], dtype=np.float64, copy=True)
            pos = positions[a : a + chunk]
            part[:, 0] = transform_target(part[:, 0], self.target_transform, self.ids[pos])
            part[:, :1] = self.target_scaler.transform(part[:, :1], pos)
            if n_cov > 1:
                part[:, 1:n_cov] = self.cov_scaler.transform(part[:, 1:n_cov], pos)
            out[a : a + chunk] = part
        return out

    def scaled_static(self):
        """(S, n_static) static covariates of the fitted series, scaled."""
        return self.static_scaler.transform(self.static)

    def gatherer(self, scaled, device=None):
        """The :class:`~forecast.data.windows.Gatherer` of this model's windows over ``scaled``
        (N, F) rows (:meth:`scale`'s output) on ``device`` (None: the fitted device)."""
        return Gatherer(
            scaled,
            self.scaled_static(),
            self.lookback,
            self.horizon,
            self.layout.future_slice,
            self.device if device is None else device,
        )

    def mismatch(self, freqs):
        """How the series of ``freqs`` (dict id -> frequency, or None where unknown) differ from the
        fitted ones: the one check that new data is data this model can forecast.

        Returns a :class:`Mismatch`; callers word their own errors from it.
        """
        unknown = [uid for uid in freqs if uid not in self.freqs]
        missing = [uid for uid in self.ids if uid not in freqs]
        same = {}  # (fitted, new) -> same_frequency: once per pair, not once per series
        for uid, f in freqs.items():
            if f is not None and uid in self.freqs and (self.freqs[uid], f) not in same:
                same[self.freqs[uid], f] = same_frequency(self.freqs[uid], f)
        other = [
            (uid, f, self.freqs[uid])
            for uid, f in freqs.items()
            if f is not None and uid in self.freqs and not same[self.freqs[uid], f]
        ]
        return Mismatch(unknown, missing, other)


class RowIds:
    """``ids`` of stacked rows by row number (``offsets`` (S+1,)), looked up one row at a time:
    an error names the series of a row without an (N,) array of ids built for every row."""

    def __init__(self, ids, offsets):
        self.ids, self.offsets = ids, offsets

    def __getitem__(self, row):
        return self.ids[int(np.searchsorted(self.offsets, row, side="right")) - 1]


class Mismatch(NamedTuple):
    unknown: list  # ids the model was not fitted on
    missing: list  # fitted ids absent from the data
    frequencies: list  # [(id, frequency, fitted frequency)] of known series at another frequency


def auto_window_norm(window_norm, head, skip):
    """``window_norm="auto"`` resolved: None for the recursive head, "standard" with a skip, else
    "es".
    """
    if window_norm != "auto":
        return window_norm
    if head == "recursive":
        return None
    return "standard" if skip is not None else "es"


def network_config(params, layout, n_series, window_norm, season_length):
    """:func:`build_network`'s keywords for a model with these parameters and fitted values, and
    the output's ``family`` and ``quantiles`` (:attr:`FittedState.family`)."""
    blocks = unfold(params)
    names = ("cell", "hidden_size", "num_layers", "dropout", "bidirectional", "merge")
    names += ("nonlinearity", "head", "attention", "residual", "layer_norm", "n_models")
    return {
        "n_features": layout.n_features,
        "n_future": layout.n_future,
        "n_static": len(layout.static),
        "horizon": params["horizon"],
        **{name: blocks.get(name, params.get(name)) for name in names},
        "window_norm": window_norm,
        "skip_period": season_length if blocks["skip"] == "seasonal" else None,
        "n_series": n_series,
        "season_length": season_length,
        "member_lookbacks": blocks["member_lookbacks"],
        "family": blocks["family"],
        "quantiles": blocks["quantiles"],
    }
