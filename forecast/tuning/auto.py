"""``AutoRNNForecaster``: search ``RNNForecaster`` settings with Optuna on validation data.

Validation is the last ``horizon`` points of every series: each trial is a one-window backtest
(``forecast.evaluation.backtesting.backtest``: fit before the cutoff, score MASE after it), beside
seasonal naive on the same window. The best ``ensemble`` distinct settings are refitted on all the
data and forecast their median. Optuna is imported inside ``fit`` only.
"""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import NotFittedError

from forecast.checks import check_int
from forecast.data import frames
from forecast.data.frames import ID
from forecast.data.seasonality import resolve_season_length
from forecast.estimator import RNNForecaster
from forecast.evaluation.backtesting import backtest
from forecast.evaluation.baselines import SeasonalNaive
from forecast.tuning import persistence
from forecast.tuning.space import sample

FALLBACKS = (None, "seasonal_naive")
MIN_TRIAL_SECONDS = 5.0
EXPECTED_TRIALS = 10  # the budget share of one trial when n_trials is None
TRIAL_ERRORS = (ValueError, RuntimeError)  # a setting RNNForecaster refuses fails its trial only


class AutoRNNForecaster(RegressorMixin, BaseEstimator):
    """Search ``RNNForecaster`` settings on the last ``horizon`` points of every series.

    Parameters
    ----------
    horizon : steps to forecast (and the validation length).
    season_length : m (MASE scale, seasonal naive, lookback unit); None reads it from the data.
    max_time : seconds for the whole search (the study's timeout); each trial trains for its share.
    n_trials : trials to run in this fit (None: until ``max_time``).
    ensemble : the best this many distinct settings are refitted; they forecast their median.
    space : None (``forecast.tuning.space.default_space``), a dict of values fixed over it, or a
        callable ``space(trial) -> dict`` of RNNForecaster keyword arguments.
    fixed : dict of RNNForecaster keyword arguments applied to every trial (loss, level, ...).
    storage, study_name : an Optuna storage URL (``sqlite:///study.db``) and study name: a study
        found there is resumed, so workers share it.
    fallback : None | "seasonal_naive": the final model when no trial beats seasonal naive.
    seed : seeds the TPE sampler and every trial's network.
    verbose : show Optuna's per-trial log.

    Fitted attributes: ``best_params_``, ``best_score_`` (validation MASE), ``naive_score_``,
    ``trials_`` (DataFrame: number, state, value, params_...), ``study_``, ``members_``,
    ``fallback_data_`` (the long training frame, kept only when seasonal naive is the model).
    """

    def __init__(
        self,
        horizon=12,
        season_length=None,
        max_time=300.0,
        n_trials=None,
        ensemble=1,
        space=None,
        fixed=None,
        storage=None,
        study_name=None,
        fallback=None,
        seed=0,
        verbose=False,
    ):
        self.horizon, self.season_length, self.max_time = horizon, season_length, max_time
        self.n_trials, self.ensemble, self.space, self.fixed = n_trials, ensemble, space, fixed
        self.storage, self.study_name, self.fallback = storage, study_name, fallback
        self.seed, self.verbose = seed, verbose

    def fit(self, df, y=None):
        """Search, then refit the best settings on all of ``df``.

        Parameters
        ----------
        df : long DataFrame [unique_id, ds, y, <covariates>], wide DataFrame or Series (as
            ``RNNForecaster.fit``).

        Returns
        -------
        self
        """
        import optuna

        self._check_params()
        df = frames.with_target(df, y, frames.TARGET)
        long, _ = frames.to_long(df)
        long, freqs = frames.validate(long, (), (self.fixed or {}).get("fill"), where="fit data")
        lengths = long.groupby(ID, sort=False).size().to_numpy()
        m = resolve_season_length(self.season_length, freqs.values(), lengths, self.horizon)
        started = time.perf_counter()
        share = self.max_time / (self.n_trials or EXPECTED_TRIALS)

        def objective(trial):
            left = self.max_time - (time.perf_counter() - started)
            budget = max(MIN_TRIAL_SECONDS, min(share, left))
            params = sample(trial, self.space, self.horizon, m, self.fixed)
            trial.set_user_attr("params", _plain(params))
            trial.set_user_attr("max_time", budget)
            est = RNNForecaster(**self._trial_kwargs(params, m, budget))
            return _validation_mase(est, df, m)

        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.INFO if self.verbose else optuna.logging.WARN)
        try:
            study = optuna.create_study(
                storage=self.storage,
                study_name=self.study_name,
                direction="minimize",
                sampler=optuna.samplers.TPESampler(seed=self.seed),
                load_if_exists=True,
            )
            study.optimize(
                objective, n_trials=self.n_trials, timeout=self.max_time, catch=TRIAL_ERRORS
            )
        finally:
            optuna.logging.set_verbosity(verbosity)
        self.study_, self.season_length_ = study, m
        self.trials_ = study.trials_dataframe(attrs=("number", "state", "value", "params"))
        self.naive_score_ = _validation_mase(SeasonalNaive(self.horizon, m), df, m)
        self._refit(df, _best(study, self.ensemble), m)
        return self

    def _check_params(self):
        check_int("horizon", self.horizon, 1)
        check_int("ensemble", self.ensemble, 1)
        if self.n_trials is not None:
            check_int("n_trials", self.n_trials, 1)
        if not self.max_time or self.max_time <= 0:
            raise ValueError(f"max_time must be a positive number of seconds, got {self.max_time}")
        if self.fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {FALLBACKS}, got {self.fallback!r}")
        if self.fixed is not None and not isinstance(self.fixed, dict):
            raise ValueError(f"fixed must be None or a dict, got {self.fixed!r}")

    def _trial_kwargs(self, params, m, budget):
        base = {"horizon": self.horizon, "season_length": m, "seed": self.seed, "verbose": False}
        return {**base, "max_time": budget, **params}

    def _refit(self, df, best, m):
        """Refit the ``best`` trials on all of ``df`` (or seasonal naive, per ``fallback``)."""
        self.best_score_ = best[0].value if best else float("nan")
        beaten = bool(best) and self.best_score_ < self.naive_score_
        if not beaten:
            warnings.warn(
                f"no trial beat seasonal naive on validation: best MASE {self.best_score_:.4g}, "
                f"seasonal naive {self.naive_score_:.4g}",
                stacklevel=3,
            )
        if not best and self.fallback is None:
            raise RuntimeError("no trial completed: raise max_time or check the settings")
        if not beaten and self.fallback == "seasonal_naive":
            self.best_params_ = {"model": "seasonal_naive"}
            self.members_ = [SeasonalNaive(self.horizon, m).fit(df)]
            self.fallback_data_ = frames.to_long(df)[0]  # saved: seasonal naive refits on it
            return
        self.best_params_ = dict(best[0].user_attrs["params"])
        self.members_ = []
        for trial in best:
            params = {**trial.user_attrs["params"], **(self.fixed or {})}
            kwargs = self._trial_kwargs(params, m, trial.user_attrs["max_time"])
            self.members_.append(RNNForecaster(**kwargs).fit(df))

    def predict(self, df=None, X_future=None):
        """The median forecast of the members: [unique_id, ds, y_pred], horizon rows per series
        (a wide frame or Series for such input)."""
        self._check_fitted()
        return _median([m.predict(df, X_future) for m in self.members_])

    def predict_at(self, df, origins):
        """The members' median ``predict_at`` (forecasts from several origins of ``df``)."""
        self._check_fitted()
        return _median([m.predict_at(df, origins) for m in self.members_])

    def _check_fitted(self):
        if not hasattr(self, "members_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(df)")

    def save(self, path):
        """Write the folder ``path``: ``auto.json`` and one ``member<i>`` folder per member."""
        self._check_fitted()
        persistence.save(self, path)

    @classmethod
    def load(cls, path):
        """An ``AutoRNNForecaster`` saved by :meth:`save` (no ``study_``), ready to predict."""
        return persistence.load(cls, path)


def _validation_mase(estimator, df, m):
    return float(
        backtest(estimator, df, n_windows=1, season_length=m, metrics=("mase",)).aggregate["mase"]
    )


def _best(study, k):
    """The ``k`` best completed trials with distinct settings, best first."""
    import optuna

    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    done = [t for t in done if np.isfinite(t.value) and "params" in t.user_attrs]
    best, seen = [], set()
    for trial in sorted(done, key=lambda t: t.value):
        key = json.dumps(trial.user_attrs["params"], sort_keys=True)
        if key not in seen:
            seen.add(key)
            best.append(trial)
    return best[:k]


def _plain(params):
    """JSON-able settings (tuples as lists) for Optuna's user attributes and ``auto.json``."""
    return json.loads(json.dumps(params))


def _median(forecasts):
    """The pointwise median of the members' forecasts (same rows, same order)."""
    first = forecasts[0]
    if len(forecasts) == 1:
        return first
    if isinstance(first, pd.DataFrame) and "y_pred" in first.columns:
        out = first.drop(columns=[c for c in first.columns if c.startswith("y_")])
        out["y_pred"] = np.median(np.stack([f["y_pred"].to_numpy() for f in forecasts]), axis=0)
        return out
    values = np.median(np.stack([np.asarray(f, dtype=float) for f in forecasts]), axis=0)
    if isinstance(first, pd.Series):
        return pd.Series(values, index=first.index, name=first.name)
    return pd.DataFrame(values, index=first.index, columns=first.columns)
