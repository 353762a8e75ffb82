"""RNNForecaster: the scikit-learn-style face of the library.

``fit`` reads like a recipe: frame -> panel -> scale -> windows -> network -> train. Forecasting
(from the training data, from new history, or from many historical origins at once) and
save/load live in ``forecast.inference`` and ``forecast.persistence``; this class composes them.
"""
from __future__ import annotations

import threading
import time
import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import NotFittedError

from . import frames, inference, persistence
from .frames import to_long
from .frequencies import is_integer_freq, n_calendar_features
from .checks import check_params, resolve_device, seconds
from .networks import build_network
from .panel import Layout, build_panel, left_pad
from .seasonality import default_lookback, resolve_season_length
from .scaling import ColumnScaler, SeriesScaler, transform_target
from .callbacks import EarlyStopping, TeacherForcing
from .tbptt import train_tbptt
from .baselines import seasonality_test
from .losses import ForecastLoss, seasonal_mae
from .training import TrainConfig, plan, progress_enabled, train
from .windows import Gatherer, split_index


_INIT_LOCK = threading.Lock()  # torch's global generator is shared by threads


class RNNForecaster(RegressorMixin, BaseEstimator):
    """Global recurrent forecaster: one network over all series, direct multi-horizon output.

    Parameters
    ----------
    cell : "rnn" | "lstm" | "gru"
    hidden_size, num_layers, dropout : size of the recurrent encoder.
    bidirectional : encode the lookback in both directions (safe: it lies wholly in the past).
    merge : "concat" | "sum" — how the two directions' states are combined.
    nonlinearity : "tanh" | "relu" (Elman RNN only).
    head : "direct" | "seq2seq" | "recursive" — the forecasting head (see ``forecast.networks.HEADS``):
        one map to the whole horizon; a recurrent decoder unrolled over the horizon; or a
        one-step-ahead RNN trained on every step of the window and fed its own predictions.
    attention : None | "dot" | "additive" — seq2seq only: the decoder attends over the encoder
        outputs (weights: :meth:`attention_weights`).
    teacher_forcing : seq2seq only: share of decoder steps fed the true previous value in
        training, decaying linearly from this value in epoch 1 to 0 in the last (never at eval).
    residual, layer_norm : stack the recurrent layers as separate modules with skip connections
        ``x + layer(x)`` and/or layer normalisation of each layer's output.
    tbptt_steps : None | int — recursive only: train by truncated BPTT, walking whole series in
        chunks of this many steps (see ``forecast.tbptt``); ``batch_size`` then counts series.
    carry_state : with ``tbptt_steps``: carry the hidden state across chunks (True) or reset it.
    lookback, horizon : input window and forecast length, in steps. ``lookback=None`` (default):
        two horizons or two seasons, whichever is longer, within what the data allows
        (``forecast.seasonality.default_lookback``; the value used is ``lookback_``).
    season_length : the seasonal period in steps (None: from the frequency — 24 hourly, 7 daily,
        52 weekly, 12 monthly, 4 quarterly, else 1 — or 1 when the median series is shorter than
        two seasons plus a horizon); used by ``window_norm="es"``, ``skip`` and ``loss="mase"``.
        The value used is ``season_length_``.
    skip : None | "seasonal" — the seasonal skip connection: the network forecasts a correction
        to the window's seasonal-naive forecast, its output layer starting at zero (an untrained
        network is seasonal naive). Direct and seq2seq heads.
    past_covariates : columns observed only up to the forecast origin.
    future_covariates : columns known ahead; ``predict`` then needs ``X_future``.
    static_covariates : columns constant within each series.
    calendar : add sin/cos calendar features of ``ds`` (hour, weekday, month as suits the frequency);
        timestamps only (integer time steps have no calendar).
    scaler : "standard" | "robust" | "none" — per series, fitted on the training part only.
    window_norm : "auto" | None | "last" | "standard" | "es" — also normalise each input window's
        target inside the network and map the forecast back: by its last value, by its own mean
        and std (RevIN-style, ``forecast.networks.model.WindowNorm``), or ``"es"``: the ES-RNN-style
        hybrid (``forecast.networks.smoothing.ExpSmoothing``) — per-series learned exponential
        smoothing of level and seasonal profile over the window, the network forecasting a
        correction to the smoothing forecast. "auto" (default): "es" for the direct and seq2seq
        heads, "standard" with ``skip``, None for the recursive head (the value used is
        ``window_norm_``; measured in benchmarks/RESULTS-accuracy.md).
    target_transform : None | "log" — model log(y) (positive targets): multiplicative
        seasonality and exponential trends become additive; forecasts are mapped back by exp.
    fill : None (NaN in y is an error) | "ffill" | "interpolate" | "zero".
    short_series : "pad" | "drop" | "error" — series shorter than one training window
        (``lookback + horizon + val_size`` points). "pad" (default) trains on them left-padded with
        their first value, the padded rows masked out of the loss (as NeuralForecast's start
        padding), and warns once; "drop" leaves them out of training with a warning; "error"
        refuses the fit. Under "pad" and "drop" every series is forecast, a short input window
        (at fit, in ``predict(df)``, or an origin of ``predict_at`` near a series' start) being
        left-padded the same way; "error" refuses those too. A series needs at least one point
        outside the validation part.
    loss : "mae" (default) | "mse" | "huber" | "mase" | "smape" — "mase" divides each series'
        error by its in-sample seasonal-naive MAE (every series weighs the same), "smape" scores
        on the target's own scale (``forecast.losses``).
    optimizer, learning_rate, weight_decay : training settings.
    batch_size : windows per step (None: a power of two near n_windows / 32 within [16, 256]).
    max_epochs, max_steps : stop after whichever comes first (max_steps None: no step limit;
        max_epochs None: enough epochs for about 2,000 steps, ``forecast.training.plan``).
    windows_per_epoch : cap on windows sampled per epoch (None: 50 batches, or all windows when
        fewer); stride : step between windows. Resolved values: ``batch_size_``,
        ``windows_per_epoch_``, ``max_epochs_``.
    val_size : points at the end of each series held out for validation (None: horizon when
        ``early_stopping`` is set, else 0).
    early_stopping : patience in epochs on validation loss, with best-weights restore (None: off).
    lr_scheduler : None | "cosine" | "plateau".
    clip : "norm" (global L2 norm) | "value" | None; clip_value : its threshold.
    n_models : ensemble size: members differing in initialisation, trained side by side in one
        loop and combined by the median of their forecasts (each clipped as if alone).
    max_time : None | seconds | timedelta — stop training at the first step past this time
        after ``fit`` began (the whole ensemble); the last finished epoch is recorded.
    device : "auto" (CUDA when present) | "cpu" | "cuda" | "cuda:N".
    seed : same seed, same machine -> identical forecasts.
    verbose : "auto" (progress bar on interactive terminals outside CI) | True | False.
    """

    def __init__(self, cell="lstm", hidden_size=64, num_layers=1, bidirectional=False, merge="concat",
                 nonlinearity="tanh", dropout=0.0, head="direct", attention=None, teacher_forcing=0.0,
                 residual=False, layer_norm=False, tbptt_steps=None, carry_state=True, lookback=None, horizon=12,
                 season_length=None, skip=None, past_covariates=(), future_covariates=(), static_covariates=(),
                 calendar=False, scaler="standard", window_norm="auto", target_transform=None, fill=None,
                 short_series="pad", loss="mae", optimizer="adam", learning_rate=3e-3,
                 weight_decay=0.0, batch_size=None, max_epochs=None, max_steps=None, windows_per_epoch=None,
                 stride=1, val_size=None, early_stopping=None, lr_scheduler=None, clip="norm",
                 clip_value=1.0, n_models=1, max_time=None, device="auto", seed=0, verbose="auto"):
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        self.bidirectional, self.merge, self.nonlinearity, self.dropout = bidirectional, merge, nonlinearity, dropout
        self.head, self.attention, self.teacher_forcing = head, attention, teacher_forcing
        self.residual, self.layer_norm, self.tbptt_steps, self.carry_state = residual, layer_norm, tbptt_steps, carry_state
        self.lookback, self.horizon, self.season_length, self.skip = lookback, horizon, season_length, skip
        self.past_covariates, self.future_covariates = past_covariates, future_covariates
        self.static_covariates, self.calendar = static_covariates, calendar
        self.scaler, self.window_norm, self.target_transform = scaler, window_norm, target_transform
        self.fill, self.short_series, self.loss, self.optimizer = fill, short_series, loss, optimizer
        self.learning_rate, self.weight_decay, self.batch_size = learning_rate, weight_decay, batch_size
        self.max_epochs, self.max_steps, self.windows_per_epoch = max_epochs, max_steps, windows_per_epoch
        self.stride, self.val_size, self.early_stopping = stride, val_size, early_stopping
        self.lr_scheduler, self.clip, self.clip_value = lr_scheduler, clip, clip_value
        self.n_models, self.max_time = n_models, max_time
        self.device, self.seed, self.verbose = device, seed, verbose

    # ------------------------------------------------------------------ fit
    def fit(self, df, y=None, *, id_col="unique_id", time_col="ds", target_col="y", callbacks=None,
            warm_start=False):
        """Train one network on every series of ``df``.

        Parameters
        ----------
        df : long DataFrame [id_col, time_col, target_col, <covariates>], wide DataFrame
            (DatetimeIndex, one column per series) or Series with a DatetimeIndex. ``ds`` may hold
            integer time steps instead of timestamps (consecutive per series; an integer index for
            wide frames and Series): forecasts then continue them, ``last + 1 .. last + horizon``.
        callbacks : sequence of ``forecast.training.Callback`` (e.g. an MLflow logger).
        warm_start : when True and this model is already fitted, training starts from its current
            weights instead of a fresh initialisation (scalers are still refitted on ``df``); the
            network's shape must not change. Backtests use it to refit cheaply window after window.

        Returns
        -------
        self
        """
        check_params(self)
        started = time.perf_counter()  # max_time counts from here
        long, self.spec_ = to_long(frames.with_target(df, y, target_col), id_col, time_col, target_col)
        long, freqs = frames.validate(long, self._columns(), self.fill, where="fit data", names=self.spec_.names)
        self.layout_ = self._layout(freqs)
        panel = build_panel(long, freqs, self.layout_)
        self._resolve_windows(panel)
        val_size = self._val_size()
        keep, pads = self._short_series(panel, val_size)
        self.ids_, self.freqs_ = panel.ids, dict(zip(panel.ids, panel.freqs))
        self.device_ = resolve_device(self.device)
        self._fit_scalers(panel, val_size)
        scaled = inference.scale(self, panel.data, panel.series_of_rows())
        rows, offsets, observed = left_pad(panel.offsets, pads)  # short series: padded rows, masked in the loss
        gatherer = Gatherer(scaled[rows], self.static_scaler_.transform(panel.static),
                            self.lookback_, self.horizon, self.layout_.future_slice, self.device_, observed)
        train_idx, val_idx = split_index(np.where(keep, np.diff(offsets), 0), offsets, self.lookback_, self.horizon,
                                         val_size, self.stride, self.device_)
        if train_idx.n_windows == 0:
            raise ValueError(f"no training windows: every series is shorter than lookback + horizon + val_size "
                             f"= {self.lookback_} + {self.horizon} + {val_size}; lower val_size or lookback, or "
                             f"use short_series='pad'")
        self.batch_size_, self.windows_per_epoch_, self.max_epochs_ = plan(
            train_idx.n_windows if not self.tbptt_steps else panel.n_series, self.batch_size, self.windows_per_epoch,
            self.max_epochs)
        previous = getattr(self, "module_", None) if warm_start else None
        self.module_ = self._init_network(previous)
        if previous is None:
            self._init_smoothing(panel, val_size)
        generator = torch.Generator().manual_seed(self.seed)
        cbs = self._callbacks(callbacks)
        config, loss_fn = self._train_config(started), self._loss(scaled[:, 0], panel, val_size)
        if self.tbptt_steps:
            self.history_ = train_tbptt(self.module_, gatherer, offsets + np.append(pads, 0),  # observed rows only
                                        np.where(keep, panel.lengths - val_size, 0), val_idx, config,
                                        k=self.tbptt_steps, carry_state=self.carry_state, callbacks=cbs,
                                        generator=generator, loss_fn=loss_fn)
        else:
            self.history_ = train(self.module_, gatherer, train_idx, val_idx, config, callbacks=cbs,
                                  generator=generator, loss_fn=loss_fn)
        self.module_.eval()
        self.tail_ = inference.Tail.from_panel(panel, self.lookback_)
        self.n_train_windows_ = train_idx.n_windows
        return self

    def _resolve_windows(self, panel):
        """``season_length_`` and ``lookback_``: the parameters, or what the data says when they are None."""
        self.season_length_ = resolve_season_length(self.season_length, panel.freqs, panel.lengths, self.horizon)
        self.lookback_ = (default_lookback(self.season_length_, self.horizon, panel.lengths)
                          if self.lookback is None else int(self.lookback))
        self.window_norm_ = self._window_norm()
        self.target_transform_ = self.target_transform
        m, L = self.season_length_, self.lookback_
        short = (self.skip is not None and m > L) or (self.window_norm_ == "es" and 1 < m and L < 2 * m)
        if short:
            warnings.warn(f"lookback={L} is too short for season_length={m} (skip needs one season, "
                          f"window_norm='es' two): the forecast base carries no seasonality; raise lookback "
                          f"to {2 * m} or set season_length", UserWarning, stacklevel=3)

    def _window_norm(self):
        if self.window_norm != "auto":
            return self.window_norm
        if self.head == "recursive":
            return None
        return "standard" if self.skip is not None else "es"

    def _init_network(self, previous=None):
        """A freshly initialised network (seeded), or one carrying ``previous``'s weights (warm start).

        Initialisation draws from a forked copy of torch's global generator under a lock, so
        candidates fitted concurrently in threads get the same weights as when fitted alone.
        """
        with _INIT_LOCK:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                module = self._network()
            # Dropout draws use the global generator: reproducible per seed when fits do not run
            # concurrently in threads (processes, e.g. Dask workers, always are). Batch order and
            # teacher forcing use the fit's own generators.
            # Reseeding it stays under the lock: a reseed from another thread in the middle of an
            # initialisation would change that network's weights.
            torch.manual_seed(self.seed)
        module = module.to(self.device_)
        if previous is not None:
            _load_weights(module, previous)
        return module

    def _init_smoothing(self, panel, val_size):
        """window_norm="es": each series' initial seasonal strength from the M4 seasonality test
        (90 % autocorrelation at lag season_length_) on its training part."""
        if self.window_norm_ != "es":
            return
        y, fit_len = panel.data[:, 0], np.maximum(panel.lengths - val_size, 1)
        seasonal = np.array([seasonality_test(y[a : a + n][np.isfinite(y[a : a + n])], self.season_length_)
                             for a, n in zip(panel.offsets[:-1], fit_len)])
        prior = np.where(seasonal, 0.8, 0.2)
        for member in getattr(self.module_, "members", [self.module_]):
            member.norm.set_strength(prior)

    def _callbacks(self, callbacks):
        cbs = list(callbacks or [])
        if self.early_stopping:
            cbs.insert(0, EarlyStopping(self.early_stopping))
        if self.teacher_forcing:
            cbs.insert(0, TeacherForcing(self.teacher_forcing, self.max_epochs_, self.seed))
        return cbs

    # ------------------------------------------------------------------ predict
    def predict(self, df=None, X_future=None):
        """Forecast ``horizon`` steps after the end of the training data, or of new history ``df``.

        Parameters
        ----------
        df : None (continue the training data) or new history of known series, in any input kind.
        X_future : long DataFrame [unique_id, ds, *future_covariates] (or your id/time column names
            from ``fit``) covering the horizon of every series (required when the model has future
            covariates).

        Returns
        -------
        Same kind as the input: long DataFrame [unique_id, ds, y_pred] with ``horizon`` rows per
        series (user's column names), wide DataFrame, or Series.
        """
        self._check_fitted()
        if df is None:
            tail, spec = self.tail_, self.spec_
        else:
            long, spec = to_long(df, self.spec_.id_col, self.spec_.time_col, self.spec_.target_col)
            tail = inference.tail_from_history(self, long)
        fc = inference.forecast_tail(self, tail, frames.internal_names(X_future, self.spec_))
        return frames.from_long(fc, spec)

    def predict_at(self, df, origins):
        """Forecast from many historical origins at once (backtesting without refit).

        Parameters
        ----------
        df : long DataFrame covering history and the horizon after every origin (its future
            covariates and targets after an origin are read only for future-known columns).
        origins : DataFrame [unique_id, cutoff] — forecast origins (last observed timestamp).

        Gaps in the target are filled forward only here (``fill="interpolate"`` acts as "ffill"),
        so no origin's history is filled from values after it.

        Returns
        -------
        long DataFrame [unique_id, cutoff, ds, y_pred], ``horizon`` rows per origin.
        """
        self._check_fitted()
        long, _ = to_long(df, self.spec_.id_col, self.spec_.time_col, self.spec_.target_col)
        return inference.forecast_origins(self, long, origins)

    def attention_weights(self, df=None, X_future=None):
        """Seq2seq with attention: the weights of ``predict(df, X_future)``'s decoder over the lookback.

        Returns
        -------
        ndarray (n_series, horizon, lookback); each row sums to 1 over the lookback steps.
        """
        if self.head != "seq2seq" or self.attention is None:
            raise ValueError(f"attention_weights needs head='seq2seq' and attention set, got head={self.head!r}, "
                             f"attention={self.attention!r}")
        self.predict(df, X_future)
        heads = [m.head for m in getattr(self.module_, "members", [self.module_])]  # an ensemble: their mean
        return torch.stack([h.attention_weights.float() for h in heads]).mean(0).cpu().numpy()

    def score(self, df, y=None):
        """Negative mean absolute error of ``predict_at`` over the last horizon of each series in ``df``."""
        self._check_fitted()
        return inference.holdout_score(self, frames.with_target(df, y, self.spec_.target_col))

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Write the fitted model to the folder ``path`` (atomically): JSON config + state dict, no pickle."""
        self._check_fitted()
        persistence.save(self, path)
        return path

    @classmethod
    def load(cls, path, device="cpu"):
        """Load a model saved by :meth:`save`; a model trained on GPU loads on CPU."""
        return persistence.load(cls, path, device)

    # ------------------------------------------------------------------ pieces
    def _layout(self, freqs):
        if self.calendar and any(is_integer_freq(f) for f in freqs.values()):
            raise ValueError(f"calendar=True needs timestamps, but column {self.spec_.names[frames.TIME]!r} holds "
                             f"integer time steps, which have no calendar: use calendar=False")
        cal = pd.Series(list(freqs.values())).mode().iloc[0] if self.calendar else None  # the panel's main frequency
        return Layout(self._cols("past_covariates"), self._cols("future_covariates"), self._cols("static_covariates"),
                      cal, n_calendar_features(cal) if cal else 0)

    def _columns(self):
        return [*self._cols("past_covariates"), *self._cols("future_covariates"), *self._cols("static_covariates")]

    def _cols(self, name):
        """A covariate parameter as a tuple of names (None and () both mean none)."""
        return tuple(getattr(self, name) or ())

    def _val_size(self):
        if self.val_size is None:
            return self.horizon if self.early_stopping else 0
        return int(self.val_size)

    def _fit_scalers(self, panel, val_size):
        fit_len = np.maximum(panel.lengths - val_size, 1)
        n_cov = 1 + len(self.layout_.past) + len(self.layout_.future)
        y = transform_target(panel.data[:, 0], self.target_transform_, self.ids_[panel.series_of_rows()], "fit data")
        self.target_scaler_ = SeriesScaler(self.scaler).fit(y[:, None], panel.offsets, fit_len)
        self.cov_scaler_ = SeriesScaler(self.scaler).fit(panel.data[:, 1:n_cov], panel.offsets, fit_len)
        self.static_scaler_ = ColumnScaler().fit(panel.static)
        self.static_ = panel.static

    def _network(self):
        return build_network(self.layout_.n_features, self.layout_.n_future, len(self.layout_.static),
                             self.horizon, cell=self.cell, hidden_size=self.hidden_size, num_layers=self.num_layers,
                             dropout=self.dropout, bidirectional=self.bidirectional, merge=self.merge,
                             nonlinearity=self.nonlinearity, head=self.head, attention=self.attention,
                             residual=self.residual, layer_norm=self.layer_norm, window_norm=self.window_norm_,
                             skip_period=self.season_length_ if self.skip == "seasonal" else None,
                             n_models=self.n_models, n_series=len(self.ids_), season_length=self.season_length_)

    def _train_config(self, started=None):
        return TrainConfig(loss=self.loss, optimizer=self.optimizer, learning_rate=self.learning_rate,
                           weight_decay=self.weight_decay, batch_size=self.batch_size_, max_epochs=self.max_epochs_,
                           max_steps=self.max_steps, windows_per_epoch=self.windows_per_epoch_, clip=self.clip,
                           clip_value=self.clip_value, lr_scheduler=self.lr_scheduler,
                           progress=progress_enabled(self.verbose), max_time=seconds(self.max_time), started=started)

    def _loss(self, scaled_y, panel, val_size):
        """The training loss, with the per-series statistics the scale-free losses need."""
        fit_len = np.maximum(panel.lengths - val_size, 1)
        if self.loss == "mase":
            return ForecastLoss("mase", series_scale=seasonal_mae(scaled_y, panel.offsets, fit_len, self.season_length_))
        if self.loss == "smape":
            return ForecastLoss("smape", loc=self.target_scaler_.loc_[:, 0], spread=self.target_scaler_.scale_[:, 0],
                                log=self.target_transform_ == "log")
        return ForecastLoss(self.loss)

    def _check_fitted(self):
        if not hasattr(self, "module_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(df) first")

    def _short_series(self, panel, val_size):
        """Series shorter than one training window (``lookback_ + horizon + val_size`` points), handled
        as ``short_series`` says ("pad" and "drop" warn once, "error" raises).

        Returns (keep, pads): (S,) series that give training windows, (S,) rows of left padding.
        """
        lengths, need = panel.lengths, self.lookback_ + self.horizon + val_size
        short, pads = lengths < need, np.zeros(len(lengths), dtype=np.int64)
        if not short.any():
            return ~short, pads
        s = int(np.argmin(np.where(short, lengths, need)))
        terms = f"{self.lookback_} + {self.horizon}" + (f" + {val_size}" if val_size else "")
        what = (f"{int(short.sum())} of {len(lengths)} series have fewer than lookback + horizon"
                f"{' + val_size' if val_size else ''} = {terms} = {need} points (the shortest, {panel.ids[s]!r}, "
                f"has {lengths[s]} points)")
        if self.short_series == "error":
            raise ValueError(f"{what}; short_series='error' refuses them ('pad' trains on them left-padded, "
                             f"'drop' leaves them out of training)")
        if self.short_series == "drop":
            warnings.warn(f"{what}: left out of training (short_series='drop'); they are still forecast, from an "
                          f"input window left-padded with their first value", UserWarning, stacklevel=3)
            return ~short, pads
        empty = np.flatnonzero(lengths <= val_size)
        if len(empty):
            raise ValueError(f"series {panel.ids[empty[0]]!r} has {lengths[empty[0]]} points and val_size={val_size} "
                             f"holds them all out, leaving none to train on ({len(empty)} such series): lower val_size "
                             f"or use short_series='drop'")
        pads[short] = need - lengths[short]
        warnings.warn(f"{what}: left-padded with their first value and trained with the padded rows masked out of "
                      f"the loss (short_series='pad'; 'drop' leaves them out of training, 'error' refuses them)",
                      UserWarning, stacklevel=3)
        return np.ones(len(lengths), dtype=bool), pads


def _load_weights(module, previous):
    """Warm start: copy ``previous``'s weights into the fresh network, which must have the same shapes."""
    state, new = previous.state_dict(), module.state_dict()
    changed = [k for k in new if k not in state or state[k].shape != new[k].shape]
    if changed:
        raise ValueError(f"warm_start: the network's shape changed (e.g. {changed[0]!r}: parameters or "
                         "covariates differ from the previous fit); fit with warm_start=False")
    module.load_state_dict(state)
