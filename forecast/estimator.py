"""RNNForecaster: the scikit-learn-style face of the library.

``fit`` reads like a recipe (frame -> panel -> scale -> windows -> network -> train) and leaves a
:class:`~forecast.fitted.state.FittedState` and the network; training (``fitting``), forecasting
(``inference``) and save/load (``persistence``, all in ``forecast.fitted``) take that state.
"""

from __future__ import annotations

import time

import torch
from sklearn.base import BaseEstimator, RegressorMixin

from forecast.checks import check_int
from forecast.data import frames
from forecast.data.frames import to_long
from forecast.data.panel import build_panel, covariate_columns, fit_layout
from forecast.fitted import fitting, inference, persistence, sampling
from forecast.fitted.attributes import FittedAttributes
from forecast.fitted.migration import renamed
from forecast.fitted.settings import check_params, levels
from forecast.fitted.state import FittedState


class RNNForecaster(FittedAttributes, RegressorMixin, BaseEstimator):
    """Global recurrent forecaster: one network over all series, direct multi-horizon output.

    Every parameter is a plain value; settings that belong together are one parameter, spelled
    ``value`` or ``(value, detail)``. The README's parameter table holds the details and the
    migration from the names of earlier versions (which raise a ``TypeError`` naming the new one).

    Parameters
    ----------
    cell : "rnn" | "rnn_relu" | "lstm" | "gru" (Elman, ReLU); hidden_size : each layer's width.
    num_layers : n | (n, "residual" | "layer_norm" | "residual_layer_norm") — layers, and how
        they stack: skip connections ``x + layer(x)`` and/or layer normalisation of each output.
    bidirectional : False | True | "sum" — encode the lookback both ways, the final states
        concatenated (True) or added ("sum"). dropout : between layers (``num_layers >= 2``).
    head : "direct" | "seq2seq" | "seq2seq_dot" | "seq2seq_additive" | "recursive" |
        ("recursive", k) — one map to the whole horizon; a recurrent decoder (with dot or additive
        attention over the encoder outputs, :meth:`attention_weights`); a one-step RNN fed its
        own predictions, trained on windows or (k) by truncated BPTT over whole series in
        chunks of k steps (``forecast.training.tbptt``; ``batch_size`` then counts series).
    window_norm : "auto" | None | "last" | "standard" | "es" | "seasonal" — normalise each window
        inside the network: by its last value, its mean and std, the ES-RNN hybrid ("es": the
        network corrects a learned exponential-smoothing forecast), or "seasonal" (standard, and
        the network corrects the seasonal-naive forecast). "auto": "es", None for "recursive".
    ensemble : n | (member, ...) — members trained side by side, forecasting their median; a
        member is None, a lookback (it reads the window's last steps), a point loss, or both.
    lookback, horizon : input window and forecast length, in steps (lookback None: two horizons
        or two seasons, whichever is longer, within what the data allows; ``lookback_``).
    season_length : the seasonal period (None: from the frequency; ``season_length_``). val_size :
        points held out at each series' end for validation (None: horizon with early stopping).
    past_covariates, future_covariates, static_covariates : column names; calendar : add sin/cos
        calendar features of ``ds`` (timestamps only).
    scaler : "standard" | "robust" | "none" | ("log", method) | ("log1p", method) — per series,
        fitted on the training part only; ("log", method): model log(y) first (positive
        targets); ("log1p", method): log(1 + y) (non-negative targets, zeros allowed).
    fill : None (NaN in y is an error) | "ffill" | "interpolate" | "zero". short_series : "pad" |
        "drop" | "error" — series shorter than one training window.
    loss : "mae" | "mse" | "huber" | "mase" | "smape" (point), or a distribution family
        (``forecast.probabilistic.families``): "pinball" (monotone quantiles, the median is
        ``y_pred``), "normal", "student_t", "negative_binomial" (counts).
    quantiles : levels in (0, 1) with loss="pinball" (None: (0.1, 0.5, 0.9)).
    optimizer : "adam" | "adamw" | (name, weight_decay).
    learning_rate : rate | (rate, schedule) — schedule "cooldown" (default) | "cosine" |
        "plateau" | None (``forecast.training.schedules``).
    batch_size, max_epochs, windows_per_epoch : windows per step, epochs, windows per epoch
        (None: scaled to the data, about 2,000 steps in 50-batch epochs; ``max_epochs_``, ...).
    max_steps, max_time : stop after this many steps / seconds (or a timedelta) at most.
    early_stopping : patience in epochs on validation loss, best weights restored (None: off).
    clip : gradient clipping: a global-norm bound (default 1.0) | ("value", bound) | None.
    interval : None | "conformal" | "cqr" | (kind, calibration_points) — split-conformal
        intervals calibrated on each series' last points, held out of training.
    level : interval levels in percent (None: (80, 95) for conformal and distribution models).
    device : "auto" | "cpu" | "cuda" | "cuda:N". seed : same seed, same machine -> same forecasts.
    strategy : None | "ddp": train across torchrun's processes (WORLD_SIZE unset or 1: one process).
    verbose : "auto" (a progress bar on interactive terminals outside CI) | True | False.

    Attributes
    ----------
    module_ : the trained network. state_ : the :class:`~forecast.fitted.state.FittedState`,
    which the read-only ``spec_``, ``layout_``, ``ids_``, ``history_``, ``lookback_``, ... read.
    """

    def __new__(cls, *args, **kwargs):  # old names: the new spelling (not on __init__: sklearn)
        message = renamed(kwargs, f"{cls.__name__}()")
        if message:
            raise TypeError(message)
        return super().__new__(cls)

    def __init__(
        self,
        cell="lstm",
        hidden_size=64,
        num_layers=1,
        bidirectional=False,
        dropout=0.0,
        head="direct",
        window_norm="auto",
        ensemble=1,
        lookback=None,
        horizon=12,
        season_length=None,
        val_size=None,
        past_covariates=(),
        future_covariates=(),
        static_covariates=(),
        calendar=False,
        scaler="standard",
        fill=None,
        short_series="pad",
        loss="mae",
        quantiles=None,
        optimizer="adam",
        learning_rate=3e-3,
        batch_size=None,
        max_epochs=None,
        windows_per_epoch=None,
        max_steps=None,
        max_time=None,
        early_stopping=None,
        clip=1.0,
        interval=None,
        level=None,
        device="auto",
        seed=0,
        verbose="auto",
        strategy=None,
    ):
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        self.bidirectional, self.dropout, self.head = bidirectional, dropout, head
        self.window_norm, self.ensemble, self.val_size = window_norm, ensemble, val_size
        self.lookback, self.horizon, self.season_length = lookback, horizon, season_length
        self.past_covariates, self.future_covariates = past_covariates, future_covariates
        self.static_covariates, self.calendar = static_covariates, calendar
        self.scaler, self.fill, self.short_series = scaler, fill, short_series
        self.loss, self.quantiles, self.optimizer = loss, quantiles, optimizer
        self.learning_rate, self.batch_size, self.max_epochs = learning_rate, batch_size, max_epochs
        self.max_steps, self.max_time, self.early_stopping = max_steps, max_time, early_stopping
        self.clip, self.windows_per_epoch = clip, windows_per_epoch
        self.interval, self.level = interval, level
        self.device, self.seed, self.verbose, self.strategy = device, seed, verbose, strategy

    def set_params(self, **params):
        message = renamed(params, f"{type(self).__name__}.set_params")
        if message:
            raise ValueError(message)
        return super().set_params(**params)

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
            integer time steps (consecutive per series; forecasts continue them).
        callbacks : sequence of ``forecast.training.loop.Callback`` (an MLflow logger,
            ``forecast.training.callbacks.TeacherForcing`` for a seq2seq head, ...).
        warm_start : when True and this model is already fitted, training starts from its current
            weights (scalers are still refitted on ``df``); the network's shape must not change.
        checkpoint_dir : folder for a checkpoint at every epoch end; a checkpoint of this same fit
            found there is resumed (``forecast.training.checkpoint``).

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
        params = self.get_params()
        state = FittedState.resolve(params, spec, layout, panel)
        run = dict(callbacks=callbacks, checkpoint_dir=checkpoint_dir, started=started)
        run["previous"] = getattr(self, "module_", None) if warm_start else None
        module = fitting.train_state(state, panel, params, network=self._network, **run)
        self._state, self.module_ = state, module
        return self

    def _network(self, state):
        """The untrained network of a fit (a subclass may change its initialisation here)."""
        return state.build_network()

    # ------------------------------------------------------------------ predict
    def predict(self, df=None, X_future=None, level=None, n_samples=None):
        """Forecast ``horizon`` steps after the end of the training data, or of new history ``df``.

        Parameters
        ----------
        df : None (continue the training data) or new history of known series, in any input kind.
        X_future : long DataFrame [unique_id, ds, *future_covariates] (your id/time names from
            ``fit``) over every series' horizon (needed with future covariates).
        level : interval levels in percent (None: the model's; ``forecast.probabilistic.decoder``).
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
            fc = sampling.sample_tail(state, self.module_, tail, x_future, n_samples, self.seed)
            return frames.from_long(fc, spec if spec.kind == "long" else None)
        fc = inference.forecast_tail(state, self.module_, tail, x_future, levels(self.level, level))
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
            self.state_, self.module_, long, origins, levels(self.level, level)
        )

    def attention_weights(self, df=None, X_future=None):
        """The attention weights of ``predict(df, X_future)``'s decoder over the lookback.

        Returns
        -------
        ndarray (n_series, horizon, lookback); each row sums to 1 over the lookback steps.
        """
        if not str(self.head).startswith("seq2seq_"):
            raise ValueError(
                f"attention_weights needs head='seq2seq_dot' or 'seq2seq_additive', got "
                f"head={self.head!r}"
            )
        self.predict(df, X_future)
        heads = [m.head for m in getattr(self.module_, "members", [self.module_])]  # their mean
        return torch.stack([h.attention_weights.float() for h in heads]).mean(0).cpu().numpy()

    def score(self, df, y=None):
        """Negative mean absolute error of ``predict_at`` over each series' last horizon."""
        return inference.holdout_score(self, frames.with_target(df, y, self.state_.spec.target_col))

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Write the fitted model to the folder ``path`` (atomically): JSON config + state dict."""
        persistence.save(path, self.get_params(), self.state_, self.module_, type(self).__name__)
        return path

    @classmethod
    def load(cls, path, device="cpu"):
        """Load a model saved by :meth:`save` (by this or an earlier version: old parameter
        names are mapped onto today's); a model trained on GPU loads on CPU."""
        params, state, module = persistence.load(path, device, defaults=cls().get_params())
        est = cls(**params)
        est._state, est.module_ = state, module
        return est

    def export_onnx(self, path, level=None):
        """Write the whole forecast to the ONNX file ``path`` (``forecast.export.onnx``)."""
        from forecast.export.onnx import export

        return export(self, path, level)
