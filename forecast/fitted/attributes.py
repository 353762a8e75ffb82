"""The fitted attributes of an estimator (scikit-learn's trailing underscore), from its state."""

from __future__ import annotations

from sklearn.exceptions import NotFittedError


def _fitted(name, doc):
    """A read-only fitted attribute that reads ``state_.<name>``."""
    return property(lambda self: getattr(self.state_, name), doc=doc)


class FittedAttributes:
    """Read-only ``<name>_`` attributes over the estimator's
    :class:`~forecast.fitted.state.FittedState`
    (``self._state``, set by ``fit`` or ``load``, with the trained network ``module_``)."""

    @property
    def state_(self):
        """The :class:`~forecast.fitted.state.FittedState` of the last fit (``NotFittedError``
        before one).
        """
        if not hasattr(self, "module_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(df) first"
            )
        return self._state

    spec_ = _fitted(
        "spec", "How the fit frame named its columns and which kind it was (``FrameSpec``)."
    )
    layout_ = _fitted("layout", "Which columns play which role (``forecast.data.panel.Layout``).")
    ids_ = _fitted("ids", "(S,) the fitted series.")
    freqs_ = _fitted("freqs", "{series: frequency} of the fitted series.")
    tail_ = _fitted(
        "tail", "The last ``lookback_`` rows of every series (``forecast.fitted.state.Tail``)."
    )
    history_ = _fitted("history", "The training ``History``: one record per epoch.")
    lookback_ = _fitted("lookback", "The input window used (``lookback``, or its default).")
    season_length_ = _fitted("season_length", "The season length used.")
    window_norm_ = _fitted(
        "window_norm", "The window normalisation used (``window_norm='auto'`` resolved)."
    )
    target_transform_ = _fitted("target_transform", "The target transform of the fit.")
    batch_size_ = _fitted("batch_size", "Windows (or series, with ``tbptt_steps``) per step.")
    windows_per_epoch_ = _fitted("windows_per_epoch", "Windows sampled per epoch.")
    max_epochs_ = _fitted("max_epochs", "The epoch limit used.")
    n_train_windows_ = _fitted("n_train_windows", "Training windows of the fit.")
    device_ = _fitted("device", "The ``torch.device`` the model runs on.")
    target_scaler_ = _fitted("target_scaler", "Per-series scaler of the target.")
    cov_scaler_ = _fitted("cov_scaler", "Per-series scaler of the past and future covariates.")
    static_scaler_ = _fitted("static_scaler", "Scaler of the static covariates.")
    static_ = _fitted("static", "(S, n_static) static covariates of the fitted series.")
    conformal_ = _fitted(
        "conformal",
        "interval='conformal'/'cqr': the calibrated widths per horizon step "
        "and level (scaled frame), None otherwise.",
    )
