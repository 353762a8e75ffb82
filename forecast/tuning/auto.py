"""``AutoRNNForecaster``: search ``RNNForecaster`` settings with Optuna on validation data.

Validation is the last ``val_windows`` horizons of every series: each trial is a no-refit
backtest (``forecast.tuning.validation``: fit before the first cutoff, score MASE after each),
beside seasonal naive on the same windows. The best ``ensemble`` distinct settings are refitted
on all the data and forecast their median. Optuna is imported inside ``fit`` only.
"""

from __future__ import annotations

import json
import os
import socket
import time
import warnings

from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import NotFittedError

from forecast.checks import check_int
from forecast.data import frames
from forecast.data.frames import ID, TARGET
from forecast.data.seasonality import resolve_season_length
from forecast.estimator import RNNForecaster
from forecast.evaluation.baselines import SeasonalNaive
from forecast.tuning import combine, members, persistence, validation
from forecast.tuning import study as study_lib
from forecast.tuning.space import check, sample

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
    max_time : seconds for the whole fit: the trials, then the refits of the best (each refit
        counts as one more trial's share, kept back from the search).
    n_trials : trials to run in this fit (None: until ``max_time``; 0: none, refit the best of
        the stored study).
    ensemble : the best this many distinct settings are refitted; they forecast their median.
    space : None (``forecast.tuning.space.default_space``, size ``space.DEFAULT``), "compact" or
        "full" (loss and log target too, on data >= 0: log(1 + y) with zeros), a dict fixed over the
        default, or a callable ``space(trial) -> dict`` of RNNForecaster keyword arguments.
    fixed : dict of RNNForecaster keyword arguments applied to every trial (loss, level, ...).
    storage, study_name : an Optuna storage URL (``sqlite:///study.db``) or a file path ending in
        ``.journal`` (safe for several processes), and a study name: a study found there is
        resumed (after a kill too), so workers share it.
    fallback : None | "seasonal_naive": the final model when no trial beats seasonal naive.
    pruner : "median" | "halving" | None: stop trials whose per-epoch validation loss (on the
        last horizon before each trial's cutoff, held back as ``val_size``) trails earlier
        trials' of the same loss and scaler (log target included): comparable losses only.
    include_defaults : the first trial of a new study is ``RNNForecaster``'s own defaults (with
        ``fixed``; ``best_params_`` is then ``{}``), so the choice is never worse than the default
        on validation (not with a callable ``space``).
    refit_fraction : share of ``max_time`` kept for the refits (None: one trial's share each).
        The defaults ``ensemble=3, refit_fraction=0.5`` were chosen on the accuracy suite's
        validation parts (``benchmarks/RESULTS-accuracy.md``, rows ``auto-v2*``).
    val_windows : horizons at the end of every series each trial is scored on (one fit before
        the first, forecasts from each: a no-refit backtest); fewer where the shortest series
        cannot give them and keep a horizon to train on. More windows: a steadier choice among
        many trials, fitted further from the end.
    warm_refit : the members continue from their trials' weights (``forecast.tuning.members``)
        rather than start again; trials of other processes refit cold.
    seed : seeds the TPE sampler and every trial's network.
    verbose : show Optuna's per-trial log.

    Fitted attributes: ``best_params_``, ``best_score_`` (validation ``metric_``: "mase", or
    "mae" where every series is constant before its windows), ``naive_score_`` (seasonal naive
    of ``naive_season_length_``: 1 where a series is shorter than a season),
    ``trials_`` (DataFrame: number, state, value, seconds, epochs, params_...; each trial's
    ``train_loss`` / ``val_loss`` curves are its user attributes), ``study_``, ``members_``,
    ``fallback_data_`` (the long training frame, kept only when seasonal naive is the model).
    """

    def __init__(
        self,
        horizon=12,
        season_length=None,
        max_time=300.0,
        n_trials=None,
        ensemble=3,
        space=None,
        fixed=None,
        storage=None,
        study_name=None,
        fallback=None,
        pruner="median",
        include_defaults=True,
        refit_fraction=0.5,
        val_windows=1,
        warm_refit=False,
        seed=0,
        verbose=False,
    ):
        self.horizon, self.season_length, self.max_time = horizon, season_length, max_time
        self.n_trials, self.ensemble, self.space, self.fixed = n_trials, ensemble, space, fixed
        self.storage, self.study_name, self.fallback = storage, study_name, fallback
        self.pruner, self.seed, self.verbose, self.warm_refit = pruner, seed, verbose, warm_refit
        self.include_defaults, self.refit_fraction = include_defaults, refit_fraction
        self.val_windows = val_windows

    def fit(self, df, y=None, *, id_col="unique_id", time_col="ds", target_col="y"):
        """Search (:meth:`search`), then refit the best settings on all of ``df``; returns self.

        Parameters
        ----------
        df : long DataFrame [id_col, time_col, target_col, <covariates>], wide DataFrame or
            Series (as ``RNNForecaster.fit``); the members keep the column names.
        """
        columns = {"id_col": id_col, "time_col": time_col, "target_col": target_col}
        deadline = time.perf_counter() + self.max_time
        if self.refit_fraction is None:  # each refit: one more trial's share
            self._search(df, y, columns, self.max_time, reserve=self.ensemble)
        else:
            self._search(df, y, columns, self.max_time * (1 - self.refit_fraction), reserve=0)
        self._refit(df, y, columns, deadline)
        return self

    def search(self, df, y=None, *, id_col="unique_id", time_col="ds", target_col="y"):
        """Run this fit's trials into the study (no refit): ``study_``, ``trials_``,
        ``season_length_``. Several processes calling ``search`` on one ``storage`` and
        ``study_name`` share the study; ``fit`` with ``n_trials=0`` then refits its best.
        """
        columns = {"id_col": id_col, "time_col": time_col, "target_col": target_col}
        return self._search(df, y, columns, self.max_time, reserve=0)

    def _search(self, df, y, columns, seconds, reserve):
        """The trials, within ``seconds`` less ``reserve`` trial shares (kept for refits)."""
        import optuna

        self._check_params()
        frame = frames.with_target(df, y, columns["target_col"])
        long, spec = frames.to_long(frame, **columns)
        fill = (self.fixed or {}).get("fill")
        long, freqs = frames.validate(long, (), fill, where="fit data", names=spec.names)
        lengths = long.groupby(ID, sort=False).size().to_numpy()
        m = resolve_season_length(self.season_length, freqs.values(), lengths, self.horizon)
        scored = study_lib.validated_series(long, self.horizon)  # long enough to score
        lengths = scored.groupby(ID, sort=False).size().to_numpy()
        # pruning holds back one more horizon in each trial: only where every series keeps at
        # least a horizon to train on before the validation windows and that holdout
        windows = validation.usable_windows(lengths, self.horizon, self.val_windows)
        prunable = self.pruner is not None and lengths.min() >= (windows + 2) * self.horizon
        naive_m = study_lib.naive_season(scored, long, m, self.horizon, windows)
        naive = validation.score(SeasonalNaive(self.horizon, naive_m), scored, m, windows)
        metric = study_lib.metric_of(naive)  # the same for every trial of this fit
        low = float(long[TARGET].min())  # the full space: sMAPE and log(1 + y) need >= 0, log > 0
        started, self._keeper = time.perf_counter(), members.Keeper(self.ensemble)
        share = seconds / ((self.n_trials or EXPECTED_TRIALS) + reserve)
        search_time = seconds - reserve * share

        def stop_near_the_end(study, trial):  # no trial starts that could not get its minimum
            if search_time - (time.perf_counter() - started) < MIN_TRIAL_SECONDS:
                study.stop()

        def objective(trial):  # the worker first: a killed trial is then known as dead
            trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
            left = search_time - (time.perf_counter() - started)
            budget = max(MIN_TRIAL_SECONDS, min(share, left))
            if trial.user_attrs.get("defaults"):
                params = dict(self.fixed or {})
            else:
                params = sample(trial, self.space, self.horizon, m, self.fixed, low)
            trial.set_user_attr("params", _plain(params))
            trial.set_user_attr("max_time", budget)
            kwargs = self._trial_kwargs(params, m, budget)
            if prunable and "val_size" not in params:
                kwargs["val_size"] = self.horizon  # a validation loss per epoch to prune on
            pruning = study_lib.TrialPruning(trial)
            result = validation.score(RNNForecaster(**kwargs), scored, m, windows, [pruning])
            study_lib.record_curves(trial, result.histories)
            if pruning.pruned:
                raise optuna.TrialPruned()
            score = study_lib.score_of(result, metric)
            if self.warm_refit:
                self._keeper.offer(trial.number, score, result.estimator)
            return score

        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.INFO if self.verbose else optuna.logging.WARN)
        try:
            study = study_lib.open_study(self.storage, self.study_name, self.seed, self.pruner)
            study_lib.fail_dead_trials(study)  # left RUNNING by a killed search
            if self.include_defaults and not callable(self.space) and not study.trials:
                study.enqueue_trial({}, user_attrs={"defaults": True})
            if self.n_trials != 0:
                study.optimize(
                    study_lib.keep_error(objective, TRIAL_ERRORS),
                    n_trials=self.n_trials,
                    timeout=search_time,
                    catch=TRIAL_ERRORS,
                    callbacks=[study_lib.stop_when_all_fail, stop_near_the_end],
                )
        finally:
            optuna.logging.set_verbosity(verbosity)
        self.study_, self.season_length_ = study, m
        self.trials_ = study_lib.trials_frame(study)
        self.val_windows_, self.metric_, self.naive_season_length_ = windows, metric, naive_m
        self.naive_score_ = study_lib.score_of(naive, metric)
        self._search_data = long
        return self

    def _check_params(self):
        check_int("horizon", self.horizon, 1)
        check_int("ensemble", self.ensemble, 1)
        check_int("val_windows", self.val_windows, 1)
        check(self.space)
        if self.n_trials is not None:
            check_int("n_trials", self.n_trials, 0)
        if self.n_trials == 0 and self.storage is None:
            raise ValueError("n_trials=0 refits the best trials of a stored study: set storage")
        if not self.max_time or self.max_time <= 0:
            raise ValueError(f"max_time must be a positive number of seconds, got {self.max_time}")
        for name, value, allowed in (
            ("fallback", self.fallback, FALLBACKS),
            ("pruner", self.pruner, study_lib.PRUNERS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        fraction = self.refit_fraction
        if fraction is not None and not (isinstance(fraction, (int, float)) and 0 < fraction < 1):
            raise ValueError(f"refit_fraction must be None or in (0, 1), got {fraction!r}")
        if self.fixed is not None and not isinstance(self.fixed, dict):
            raise ValueError(f"fixed must be None or a dict, got {self.fixed!r}")

    def _trial_kwargs(self, params, m, budget):
        base = {"horizon": self.horizon, "season_length": m, "seed": self.seed, "verbose": False}
        return {**base, "max_time": budget, **params}

    def _refit(self, df, y, columns, deadline):
        """Refit the best trials on all of ``df`` (or seasonal naive, per ``fallback``)."""
        best, m, long = study_lib.best_trials(self.study_, self.ensemble), self.season_length_, None
        long, self._search_data = self._search_data, None
        self.best_score_ = best[0].value if best else float("nan")
        if not best and self.fallback is None:
            raise RuntimeError(
                "no trial completed: raise max_time or check the settings"
                + study_lib.first_error(self.study_)
            )
        beaten = bool(best) and self.best_score_ < self.naive_score_
        if not beaten:
            warnings.warn(
                f"no trial beat seasonal naive on validation: best {self.metric_.upper()} "
                f"{self.best_score_:.4g}, seasonal naive {self.naive_score_:.4g}",
                stacklevel=3,
            )
        if not beaten and self.fallback == "seasonal_naive":
            self.best_params_ = {"model": "seasonal_naive"}
            self.season_length_ = m = self.naive_season_length_  # what it uses (and reloads)
            self.members_ = [SeasonalNaive(self.horizon, m).fit(long)]
            self.fallback_data_ = long  # saved: seasonal naive refits on it
            return
        self.best_params_ = dict(best[0].user_attrs["params"])
        keeper, self._keeper, fixed = getattr(self, "_keeper", None), None, self.fixed or {}
        kwargs_of = lambda params, t: self._trial_kwargs({**params, **fixed}, m, t)  # noqa: E731
        cap = self.refit_fraction is None  # each member: at most its trial's share
        self.members_ = members.refit(best, kwargs_of, df, y, columns, deadline, cap, keeper)

    def predict(self, df=None, X_future=None, level=None):
        """The members' median forecast: [unique_id, ds, y_pred (, y_lo<l>, y_hi<l>, y_q...)],
        horizon rows per series (a wide frame or Series for such input). Interval and quantile
        columns are the members' medians too, column by column."""
        self._check_fitted()
        kw = combine.level_kwargs(level, self.members_)
        return combine.median([m.predict(df, X_future, **kw) for m in self.members_])

    def predict_at(self, df, origins, level=None):
        """The members' median ``predict_at`` (forecasts from several origins of ``df``)."""
        self._check_fitted()
        kw = combine.level_kwargs(level, self.members_)
        return combine.median([m.predict_at(df, origins, **kw) for m in self.members_])

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


def _plain(params):
    """JSON-able settings (tuples as lists) for Optuna's user attributes and ``auto.json``."""
    return json.loads(json.dumps(params))
