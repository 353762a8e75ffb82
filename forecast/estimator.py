"""RNNForecaster: the scikit-learn-style face of the library.

``fit`` reads like a recipe: frame -> panel -> scale -> windows -> network -> train, and leaves a
:class:`~forecast.fitted.state.FittedState` and the trained network. Forecasting (from the training data,
from new history, or from many historical origins at once) and save/load live in
``forecast.fitted.inference`` and ``forecast.fitted.persistence``, which take that state; this class composes them.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin

from forecast.checks import check_int, check_params, check_quantiles, seconds
from forecast.data import frames
from forecast.data.frames import to_long
from forecast.data.panel import build_panel, covariate_columns, fit_layout, left_pad, short_series
from forecast.data.seasonality import seasonal_strength_prior
from forecast.data.windows import Gatherer, split_index
from forecast.fitted import inference, persistence
from forecast.fitted.attributes import FittedAttributes
from forecast.fitted.state import FittedState, Tail
from forecast.networks.model import copy_weights
from forecast.probabilistic import conformal
from forecast.probabilistic.decoder import check_target
from forecast.training.callbacks import EarlyStopping, TeacherForcing
from forecast.training.checkpoint import for_fit
from forecast.training.loop import TrainConfig, plan, progress_enabled, train
from forecast.training.losses import fit_loss
from forecast.training.tbptt import train_tbptt

_INIT_LOCK = threading.Lock()  # torch's global generator is shared by threads


class RNNForecaster(FittedAttributes, RegressorMixin, BaseEstimator):
    """Global recurrent forecaster: one network over all series, direct multi-horizon output.

    Parameters
    ----------
    scikit-learn wants them flat; they fall in five groups. **Network:**

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
    skip : None | "seasonal" — the seasonal skip connection: the network forecasts a correction
        to the window's seasonal-naive forecast, its output layer starting at zero (an untrained
        network is seasonal naive). Direct and seq2seq heads.
    window_norm : "auto" | None | "last" | "standard" | "es" — also normalise each input window's
        target inside the network and map the forecast back: by its last value, by its own mean
        and std (RevIN-style, ``forecast.networks.model.WindowNorm``), or ``"es"``: the ES-RNN-style
        hybrid (``forecast.networks.smoothing.ExpSmoothing``) — per-series learned exponential
        smoothing of level and seasonal profile over the window, the network forecasting a
        correction to the smoothing forecast. "auto" (default): "es" for the direct and seq2seq
        heads, "standard" with ``skip``, None for the recursive head (the value used is
        ``window_norm_``; measured in benchmarks/RESULTS-accuracy.md).
    n_models : ensemble size: members differing in initialisation, trained side by side in one
        loop and combined by the median of their forecasts (each clipped as if alone).
    member_lookbacks, member_losses : None, or one value per member: each member reads only the
        last ``member_lookbacks[i]`` steps of the window (``lookback`` None: their maximum) and
        trains on ``member_losses[i]`` (as N-BEATS ensembles vary both); ``history_`` records
        each member's training loss (``member_train_loss``).

    **Windows:**

    lookback, horizon : input window and forecast length, in steps. ``lookback=None`` (default):
        two horizons or two seasons, whichever is longer, within what the data allows
        (``forecast.data.seasonality.default_lookback``; the value used is ``lookback_``).
    season_length : the seasonal period in steps (None: from the frequency — 24 hourly, 7 daily,
        52 weekly, 12 monthly, 4 quarterly, else 1 — or 1 when the median series is shorter than
        two seasons plus a horizon); used by ``window_norm="es"``, ``skip`` and ``loss="mase"``.
        The value used is ``season_length_``.
    stride : step between training windows.
    val_size : points at the end of each series held out for validation (None: horizon when
        ``early_stopping`` is set, else 0).

    **Data:**

    past_covariates : columns observed only up to the forecast origin.
    future_covariates : columns known ahead; ``predict`` then needs ``X_future``.
    static_covariates : columns constant within each series.
    calendar : add sin/cos calendar features of ``ds`` (hour, weekday, month as suits the frequency);
        timestamps only (integer time steps have no calendar).
    scaler : "standard" | "robust" | "none" — per series, fitted on the training part only.
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

    **Training:**

    loss : "mae" (default) | "mse" | "huber" | "mase" | "smape" — "mase" divides each series'
        error by its in-sample seasonal-naive MAE (every series weighs the same), "smape" scores
        on the target's own scale (``forecast.training.losses``).
    optimizer, learning_rate, weight_decay : training settings.
    batch_size : windows per step (None: a power of two near n_windows / 32 within [16, 256]).
    max_epochs, max_steps : stop after whichever comes first (max_steps None: no step limit;
        max_epochs None: enough epochs for about 2,000 steps, ``forecast.training.loop.plan``).
    windows_per_epoch : cap on windows sampled per epoch (None: 50 batches, or all windows when
        fewer). Resolved values: ``batch_size_``, ``windows_per_epoch_``, ``max_epochs_``.
    early_stopping : patience in epochs on validation loss, with best-weights restore (None: off).
    lr_scheduler : "cooldown" (default: the base rate, then a cosine decay over the last 30 % of
        the fit) | "cosine" | "plateau" | None — the first two follow the fit's progress through
        its plan or its ``max_time``, whichever ends it (``forecast.training.schedules``).
    clip : "norm" (global L2 norm) | "value" | None; clip_value : its threshold.
    max_time : None | seconds | timedelta — stop training at the first step past this time
        after ``fit`` began (the whole ensemble); the last finished epoch is recorded.
    tbptt_steps : None | int — recursive only: train by truncated BPTT, walking whole series in
        chunks of this many steps (see ``forecast.training.tbptt``); ``batch_size`` then counts series.
    carry_state : with ``tbptt_steps``: carry the hidden state across chunks (True) or reset it.

    **Probabilistic** (``forecast.probabilistic.decoder``; columns ``y_q<p>``, ``y_lo<l>``, ``y_hi<l>``):

    quantiles : None | levels in (0, 1), e.g. (0.1, 0.5, 0.9) — a quantile head trained by the
        pinball loss over all levels at once (``loss`` is then unused); monotone by construction;
        the median is ``y_pred``.
    distribution : None | "normal" | "student_t" | "negative_binomial" (counts) — a distribution
        head trained by negative log-likelihood; ``predict(n_samples=k)`` draws paths.
    interval : None | "conformal" | "cqr" — split-conformal intervals calibrated per horizon step
        on the last ``calibration_size`` points of each series, held out of training
        (``forecast.probabilistic.conformal``); "cqr" conformalises the quantile head's interval.
    level : interval levels in percent (None: (80, 95) for conformal and distribution models).
    calibration_size : points held back per series for ``interval`` (None: a horizon plus
        enough origins for 20 scores per step).

    **Runtime:**

    device : "auto" (CUDA when present) | "cpu" | "cuda" | "cuda:N".
    seed : same seed, same machine -> identical forecasts.
    verbose : "auto" (progress bar on interactive terminals outside CI) | True | False.

    Attributes
    ----------
    module_ : the trained network. state_ : the :class:`~forecast.fitted.state.FittedState`, which the
    read-only ``spec_``, ``layout_``, ``ids_``, ``freqs_``, ``tail_``, ``history_``, ``lookback_``, ... read.
    """

    def __init__(
        self,
        cell="lstm",
        hidden_size=64,
        num_layers=1,
        bidirectional=False,
        merge="concat",
        nonlinearity="tanh",
        dropout=0.0,
        head="direct",
        attention=None,
        teacher_forcing=0.0,
        residual=False,
        layer_norm=False,
        tbptt_steps=None,
        carry_state=True,
        lookback=None,
        horizon=12,
        season_length=None,
        skip=None,
        past_covariates=(),
        future_covariates=(),
        static_covariates=(),
        calendar=False,
        scaler="standard",
        window_norm="auto",
        target_transform=None,
        fill=None,
        short_series="pad",
        loss="mae",
        optimizer="adam",
        learning_rate=3e-3,
        weight_decay=0.0,
        batch_size=None,
        max_epochs=None,
        max_steps=None,
        windows_per_epoch=None,
        stride=1,
        val_size=None,
        early_stopping=None,
        lr_scheduler="cooldown",
        clip="norm",
        clip_value=1.0,
        n_models=1,
        member_lookbacks=None,
        member_losses=None,
        max_time=None,
        quantiles=None,
        distribution=None,
        interval=None,
        level=None,
        calibration_size=None,
        device="auto",
        seed=0,
        verbose="auto",
    ):
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        self.bidirectional, self.merge, self.nonlinearity, self.dropout = (
            bidirectional,
            merge,
            nonlinearity,
            dropout,
        )
        self.head, self.attention, self.teacher_forcing = head, attention, teacher_forcing
        self.residual, self.layer_norm, self.tbptt_steps, self.carry_state = (
            residual,
            layer_norm,
            tbptt_steps,
            carry_state,
        )
        self.lookback, self.horizon, self.season_length, self.skip = (
            lookback,
            horizon,
            season_length,
            skip,
        )
        self.past_covariates, self.future_covariates = past_covariates, future_covariates
        self.static_covariates, self.calendar = static_covariates, calendar
        self.scaler, self.window_norm, self.target_transform = scaler, window_norm, target_transform
        self.fill, self.short_series, self.loss, self.optimizer = (
            fill,
            short_series,
            loss,
            optimizer,
        )
        self.learning_rate, self.weight_decay, self.batch_size = (
            learning_rate,
            weight_decay,
            batch_size,
        )
        self.max_epochs, self.max_steps, self.windows_per_epoch = (
            max_epochs,
            max_steps,
            windows_per_epoch,
        )
        self.stride, self.val_size, self.early_stopping = stride, val_size, early_stopping
        self.lr_scheduler, self.clip, self.clip_value = lr_scheduler, clip, clip_value
        self.n_models, self.max_time = n_models, max_time
        self.member_lookbacks, self.member_losses = member_lookbacks, member_losses
        self.quantiles, self.distribution, self.interval = quantiles, distribution, interval
        self.level, self.calibration_size = level, calibration_size
        self.device, self.seed, self.verbose = device, seed, verbose

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        df,
        y=None,
        *,
        id_col="unique_id",
        time_col="ds",
        target_col="y",
        callbacks=None,
        warm_start=False,
        checkpoint_dir=None,
    ):
        """Train one network on every series of ``df``.

        Parameters
        ----------
        df : long DataFrame [id_col, time_col, target_col, <covariates>], wide DataFrame
            (DatetimeIndex, one column per series) or Series with a DatetimeIndex. ``ds`` may hold
            integer time steps instead of timestamps (consecutive per series; an integer index for
            wide frames and Series): forecasts then continue them, ``last + 1 .. last + horizon``.
        callbacks : sequence of ``forecast.training.loop.Callback`` (e.g. an MLflow logger).
        warm_start : when True and this model is already fitted, training starts from its current
            weights instead of a fresh initialisation (scalers are still refitted on ``df``); the
            network's shape must not change. Backtests use it to refit cheaply window after window.
        checkpoint_dir : folder for a checkpoint at every epoch end; a checkpoint of this same fit
            (parameters and data) found there is resumed (``forecast.training.checkpoint``). A stop request
            (SIGINT/SIGTERM, ``forecast.training.stopping``) ends the fit at its next step; the checkpoint stays.

        Returns
        -------
        self
        """
        check_params(self)
        started = time.perf_counter()  # max_time counts from here
        long, spec = to_long(frames.with_target(df, y, target_col), id_col, time_col, target_col)
        long, freqs = frames.validate(
            long, covariate_columns(self), self.fill, where="fit data", names=spec.names
        )
        layout = fit_layout(self, freqs, spec.names[frames.TIME])
        panel = build_panel(long, freqs, layout)
        state = FittedState.resolve(self.get_params(), spec, layout, panel)
        val_size, cal = self._val_size(), conformal.calibration_size(self, panel.n_series)
        held = val_size + cal  # the calibration tail is never trained on, validated on or scaled by
        keep, pads = short_series(
            panel,
            state.lookback,
            self.horizon,
            held,
            self.short_series,
            "val_size + calibration_size" if cal else "val_size",
        )
        state.fit_scalers(panel, held, self.scaler)
        check_target(self.distribution, panel)
        scaled = state.scale(panel.data, panel.series_of_rows())
        rows, offsets, observed = left_pad(
            panel.offsets, pads
        )  # short series: padded rows, masked in the loss
        gatherer = Gatherer(
            scaled[rows],
            state.scaled_static(),
            state.lookback,
            self.horizon,
            layout.future_slice,
            state.device,
            observed,
        )
        train_idx, val_idx = split_index(
            np.where(keep, np.diff(offsets) - cal, 0),
            offsets,
            state.lookback,
            self.horizon,
            val_size,
            self.stride,
            state.device,
        )
        if train_idx.n_windows == 0:
            raise ValueError(
                f"no training windows: every series is shorter than lookback + horizon + val_size "
                f"= {state.lookback} + {self.horizon} + {val_size}; lower val_size or lookback, or "
                f"use short_series='pad'"
            )
        state.batch_size, state.windows_per_epoch, state.max_epochs = plan(
            train_idx.n_windows if not self.tbptt_steps else panel.n_series,
            self.batch_size,
            self.windows_per_epoch,
            self.max_epochs,
        )
        previous = getattr(self, "module_", None) if warm_start else None
        module = self._init_network(state, previous)
        if (
            previous is None and state.window_norm == "es"
        ):  # each series' seasonal strength from its regularity
            prior = seasonal_strength_prior(
                panel.data[:, 0], panel.offsets, panel.lengths - held, state.season_length
            )
            for member in getattr(module, "members", [module]):
                member.norm.set_strength(prior)
        generator = torch.Generator().manual_seed(self.seed)
        cbs = self._callbacks(callbacks, state.max_epochs)
        config = self._train_config(state, started)
        ckpt = for_fit(checkpoint_dir, self.get_params(), [scaled], [generator])
        loss_fn = fit_loss(
            self.member_losses or self.loss,
            state,
            scaled[:, 0],
            panel.offsets,
            panel.lengths - held,
        )
        if self.tbptt_steps:
            state.history = train_tbptt(
                module,
                gatherer,
                offsets + np.append(pads, 0),  # observed rows only
                np.where(keep, panel.lengths - held, 0),
                val_idx,
                config,
                k=self.tbptt_steps,
                carry_state=self.carry_state,
                callbacks=cbs,
                generator=generator,
                loss_fn=loss_fn,
                checkpoint=ckpt,
            )
        else:
            state.history = train(
                module,
                gatherer,
                train_idx,
                val_idx,
                config,
                callbacks=cbs,
                generator=generator,
                loss_fn=loss_fn,
                checkpoint=ckpt,
            )
        state.tail, state.n_train_windows = (
            Tail.from_panel(panel, state.lookback),
            train_idx.n_windows,
        )
        if cal:
            state.conformal = conformal.calibrate(
                state,
                module,
                gatherer,
                offsets,
                cal,
                self.interval,
                self.level,
                inference.run_windows,
            )
        self._state, self.module_ = state, module.eval()
        return self

    def _init_network(self, state, previous=None):
        """A freshly initialised network (seeded), or one carrying ``previous``'s weights (warm start).

        Initialisation draws from a forked copy of torch's global generator under a lock, so
        candidates fitted concurrently in threads get the same weights as when fitted alone.
        """
        with _INIT_LOCK:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                module = self._network(state)
            # Dropout draws use the global generator: reproducible per seed when fits do not run
            # concurrently in threads (batch order and teacher forcing use the fit's own generators).
            # Reseeded under the lock: a reseed amid another thread's initialisation would change it.
            torch.manual_seed(self.seed)
        module = module.to(state.device)
        if previous is not None:
            copy_weights(module, previous)
        return module

    def _network(self, state):
        """The untrained network of a fit (a subclass may change its initialisation here)."""
        return state.build_network()

    def _callbacks(self, callbacks, max_epochs):
        cbs = list(callbacks or [])
        if self.early_stopping:
            cbs.insert(0, EarlyStopping(self.early_stopping))
        if self.teacher_forcing:
            cbs.insert(0, TeacherForcing(self.teacher_forcing, max_epochs, self.seed))
        return cbs

    # ------------------------------------------------------------------ predict
    def predict(self, df=None, X_future=None, level=None, n_samples=None):
        """Forecast ``horizon`` steps after the end of the training data, or of new history ``df``.

        Parameters
        ----------
        df : None (continue the training data) or new history of known series, in any input kind.
        X_future : long DataFrame [unique_id, ds, *future_covariates] (or your id/time column names
            from ``fit``) covering the horizon of every series (required when the model has future
            covariates).
        level : interval levels in percent (None: the model's; see ``forecast.probabilistic.decoder``).
        n_samples : draw this many sample paths instead (quantile and distribution models).

        Returns
        -------
        Same kind as the input: long DataFrame [unique_id, ds, y_pred, <y_q.., y_lo.., y_hi..>]
        with ``horizon`` rows per series (user's column names), wide DataFrame (with interval
        columns: columns (column, series), so ``out["y_pred"]`` is the usual wide frame), or
        Series (a DataFrame with interval columns). With ``n_samples``: long [unique_id, ds,
        sample, y_pred], ``horizon * n_samples`` rows per series.
        """
        state = self.state_
        if df is None:
            tail, spec = state.tail, state.spec
        else:
            long, spec = to_long(df, state.spec.id_col, state.spec.time_col, state.spec.target_col)
            tail = inference.tail_from_history(state, long)
        x_future = frames.internal_names(X_future, state.spec)
        if n_samples is not None:
            check_int("n_samples", n_samples, 1)
            fc = inference.sample_tail(state, self.module_, tail, x_future, n_samples, self.seed)
            return frames.from_long(fc, spec if spec.kind == "long" else None)
        fc = inference.forecast_tail(state, self.module_, tail, x_future, self._level(level))
        return frames.from_long(fc, spec)

    def predict_at(self, df, origins, level=None):
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
        long DataFrame [unique_id, cutoff, ds, y_pred, <interval columns as in ``predict``>],
        ``horizon`` rows per origin.
        """
        spec = self.state_.spec
        long, _ = to_long(df, spec.id_col, spec.time_col, spec.target_col)
        return inference.forecast_origins(
            self.state_, self.module_, long, origins, self._level(level)
        )

    def attention_weights(self, df=None, X_future=None):
        """Seq2seq with attention: the weights of ``predict(df, X_future)``'s decoder over the lookback.

        Returns
        -------
        ndarray (n_series, horizon, lookback); each row sums to 1 over the lookback steps.
        """
        if self.head != "seq2seq" or self.attention is None:
            raise ValueError(
                f"attention_weights needs head='seq2seq' and attention set, got head={self.head!r}, "
                f"attention={self.attention!r}"
            )
        self.predict(df, X_future)
        heads = [
            m.head for m in getattr(self.module_, "members", [self.module_])
        ]  # an ensemble: their mean
        return torch.stack([h.attention_weights.float() for h in heads]).mean(0).cpu().numpy()

    def score(self, df, y=None):
        """Negative mean absolute error of ``predict_at`` over the last horizon of each series in ``df``."""
        return inference.holdout_score(self, frames.with_target(df, y, self.state_.spec.target_col))

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Write the fitted model to the folder ``path`` (atomically): JSON config + state dict, no pickle."""
        persistence.save(path, self.get_params(), self.state_, self.module_, type(self).__name__)
        return path

    @classmethod
    def load(cls, path, device="cpu"):
        """Load a model saved by :meth:`save`; a model trained on GPU loads on CPU."""
        params, state, module = persistence.load(path, device, defaults=cls().get_params())
        est = cls(**params)
        est._state, est.module_ = state, module
        return est

    # ------------------------------------------------------------------ pieces
    def _level(self, level):
        """``predict``'s levels: the argument, else the estimator's ``level`` (None: the model's default)."""
        level = self.level if level is None else level
        return None if level is None else check_quantiles("level", level, (0.0, 100.0))

    def _val_size(self):
        if self.val_size is None:
            return self.horizon if self.early_stopping else 0
        return int(self.val_size)

    def _train_config(self, state, started=None):
        return TrainConfig(
            loss=self.loss,
            optimizer=self.optimizer,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            batch_size=state.batch_size,
            max_epochs=state.max_epochs,
            max_steps=self.max_steps,
            windows_per_epoch=state.windows_per_epoch,
            clip=self.clip,
            clip_value=self.clip_value,
            lr_scheduler=self.lr_scheduler,
            progress=progress_enabled(self.verbose),
            max_time=seconds(self.max_time),
            started=started,
        )
