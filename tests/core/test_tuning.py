"""AutoRNNForecaster: an Optuna search on validation data (tiny settings, AirPassengers)."""

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from forecast import AutoRNNForecaster, SeasonalNaive
from forecast.datasets import load

pytest.importorskip("optuna")
FIXED = {"max_epochs": 2, "hidden_size": 8, "windows_per_epoch": 64, "batch_size": 32}
SPACE = {"bidirectional": False, "num_layers": 1, "cell": "gru"}


@pytest.fixture(scope="module")
def df():
    return load("airpassengers")


def auto(**kw):
    kw = {"horizon": 12, "n_trials": 3, "max_time": 60, "space": SPACE, "fixed": FIXED, **kw}
    return AutoRNNForecaster(**kw)


@pytest.fixture(scope="module")
def fitted(df):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two epochs may well lose to seasonal naive
        return auto(ensemble=2).fit(df)


def test_fit_predict_shapes_and_trials(fitted):
    fc = fitted.predict()
    assert list(fc.columns) == ["unique_id", "ds", "y_pred"] and len(fc) == 12
    assert np.isfinite(fc["y_pred"]).all()
    assert len(fitted.trials_) == 3 and {"number", "state", "value"} <= set(fitted.trials_)
    assert fitted.season_length_ == 12 and np.isfinite(fitted.naive_score_)
    assert len(fitted.members_) == 2  # two distinct settings, best first
    assert fitted.best_score_ == min(fitted.trials_["value"])
    assert fitted.best_params_["cell"] == "gru" and fitted.best_params_["hidden_size"] == 8
    lookback = fitted.best_params_["lookback"]
    assert lookback in (12, 24, 36) and fitted.members_[0].lookback == lookback


def test_predict_is_the_median_of_members(fitted, df):
    each = np.stack([m.predict()["y_pred"].to_numpy() for m in fitted.members_])
    np.testing.assert_allclose(fitted.predict()["y_pred"], np.median(each, axis=0))
    origins = df[["unique_id", "ds"]].iloc[[100, 120]].rename(columns={"ds": "cutoff"})
    at = fitted.predict_at(df, origins)
    each = np.stack([m.predict_at(df, origins)["y_pred"].to_numpy() for m in fitted.members_])
    np.testing.assert_allclose(at["y_pred"], np.median(each, axis=0))


def test_params_round_trip():
    model = auto(ensemble=3, storage="sqlite:///x.db", fallback="seasonal_naive")
    again = clone(model)
    assert again.get_params() == model.get_params()
    assert again.set_params(n_trials=7).n_trials == 7 and model.n_trials == 3
    with pytest.raises(ValueError, match="fallback"):
        auto(fallback="naive").fit(load("airpassengers"))


def test_save_load_predicts_the_same(fitted, tmp_path):
    fitted.save(tmp_path / "auto")
    back = AutoRNNForecaster.load(tmp_path / "auto")
    np.testing.assert_array_equal(back.predict()["y_pred"], fitted.predict()["y_pred"])
    assert back.best_params_ == fitted.best_params_ and len(back.trials_) == 3
    assert back.get_params()["n_trials"] == 3
    for name in ("metric_", "naive_season_length_", "val_windows_", "season_length_"):
        assert getattr(back, name) == getattr(fitted, name), name


def test_storage_resumes_the_study(df, tmp_path):
    kw = {"storage": f"sqlite:///{tmp_path / 'study.db'}", "study_name": "air", "n_trials": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = auto(**kw).fit(df)
        second = auto(**kw).fit(df)
    assert len(first.trials_) == 1 and len(second.trials_) == 2


def test_fallback_to_seasonal_naive_warns(df, tmp_path):
    poor = {**FIXED, "max_epochs": 1, "learning_rate": 1e-6, "window_norm": "last"}
    with pytest.warns(UserWarning, match="no trial beat seasonal naive"):
        model = auto(n_trials=1, fixed=poor, fallback="seasonal_naive").fit(df)
    assert model.best_params_ == {"model": "seasonal_naive"}
    assert model.best_score_ > model.naive_score_
    naive = SeasonalNaive(horizon=12, season_length=12).fit(df).predict()
    np.testing.assert_array_equal(model.predict()["y_pred"], naive["y_pred"])
    model.save(tmp_path / "naive")
    back = AutoRNNForecaster.load(tmp_path / "naive")
    np.testing.assert_array_equal(back.predict()["y_pred"], naive["y_pred"])


def test_core_imports_without_optuna():
    code = (
        "import sys, forecast\n"
        "from forecast import RNNForecaster, AutoRNNForecaster\n"
        "assert 'optuna' not in sys.modules, 'optuna imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_pruning_stops_a_trial_that_trails_the_median():
    import optuna

    from forecast.training.records import EpochRecord, TrainState
    from forecast.tuning.study import TrialPruning, open_study

    study = open_study(None, None, 0, "median")
    for _ in range(3):  # three startup trials with val loss 1.0 at epochs 0..2
        trial = study.ask()
        for epoch in range(3):
            trial.report(1.0, epoch)
        study.tell(trial, 1.0)
    state = TrainState(module=None, optimizer=None)

    def record(epoch, val):
        return EpochRecord(epoch, 1, 1.0, val, 0.0, 0.0, 0.0, 1e-3, 0.1)

    good = TrialPruning(study.ask())
    good.on_epoch_end(state, record(1, 0.5))
    assert not good.pruned and not state.stop
    bad = TrialPruning(study.ask())
    bad.on_epoch_end(state, record(1, None))  # no validation loss: nothing to judge
    assert not bad.pruned
    bad.on_epoch_end(state, record(1, 5.0))
    assert bad.pruned and state.stop
    assert isinstance(study.pruner.inner, optuna.pruners.MedianPruner)


def test_pruning_compares_trials_of_the_same_loss_and_scaler_only():
    from forecast.tuning.study import open_study

    study = open_study(None, None, 0, "median")
    for _ in range(3):  # three finished MAE trials with val loss 1.0
        trial = study.ask()
        trial.set_user_attr("params", {"loss": "mae"})
        for epoch in range(3):
            trial.report(1.0, epoch)
        study.tell(trial, 1.0)

    def judged(params, value):
        trial = study.ask()
        trial.set_user_attr("params", params)
        trial.report(value, 1)
        return trial.should_prune()

    assert judged({"loss": "mae"}, 5.0)  # trails its own kind's median
    assert judged({}, 5.0)  # the defaults are MAE on the standard scaler too
    assert not judged({"loss": "smape"}, 5.0)  # no sMAPE trial to compare with
    assert not judged({"loss": "mae", "scaler": ["log", "standard"]}, 5.0)


def test_the_full_space_samples_loss_and_log_at_or_above_zero_log1p_with_zeros():
    import optuna

    from forecast.tuning.space import sample

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = [sample(study.ask(), "full", 12, 12, target_min=1.0) for _ in range(16)]
    assert {d["loss"] for d in drawn} == {"mae", "smape"}
    assert {tuple(np.atleast_1d(d["scaler"])) for d in drawn} == {
        ("standard",),
        ("log", "standard"),
    }
    assert "loss" not in sample(study.ask(), "full", 12, 12, target_min=-0.5)
    zeros = [sample(study.ask(), "full", 12, 12, target_min=0.0) for _ in range(16)]
    assert {d["loss"] for d in zeros} == {"mae", "smape"}
    assert {tuple(np.atleast_1d(d["scaler"])) for d in zeros} == {
        ("standard",),
        ("log1p", "standard"),
    }
    assert "loss" not in sample(study.ask(), "compact", 12, 12, target_min=1.0)
    assert "loss" in sample(study.ask(), None, 12, 12, target_min=1.0)  # full by default
    assert "loss" not in sample(study.ask(), {"cell": "gru"}, 12, 12)  # no data: nothing to add
    fixed = sample(study.ask(), "full", 12, 12, {"loss": "mase", "scaler": "robust"}, 1.0)
    assert fixed["loss"] == "mase" and fixed["scaler"] == "robust"


def test_the_full_space_searches_loss_and_log_target(df):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = auto(n_trials=4, space="full", fixed={**FIXED, **SPACE}, ensemble=1).fit(df)
    assert {"params_loss", "params_log_target"} <= set(model.trials_.columns)
    assert model.predict()["y_pred"].notna().all()
    with pytest.raises(ValueError, match="space must be None, one of"):
        auto(space="huge").fit(df)


def test_search_prunes_hopeless_trials_and_records_curves(df):
    def space(trial):  # every other trial learns nothing: its validation loss trails
        slow = trial.suggest_categorical("slow", [False, True])
        return {"cell": "gru", "num_layers": 1, "learning_rate": 1e-7 if slow else 1e-2}

    fixed = {**FIXED, "max_epochs": 5}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = auto(n_trials=8, space=space, fixed=fixed, pruner="median").fit(df)
    trials = model.trials_
    assert set(trials["state"]) <= {"COMPLETE", "PRUNED"}
    pruned = trials[trials["state"] == "PRUNED"]
    assert len(pruned) >= 1 and pruned["params_slow"].all()  # only hopeless trials are cut
    assert (pruned["epochs"] < 5).all() and (
        trials.loc[trials["state"] == "COMPLETE", "epochs"] == 5
    ).all()
    for trial in model.study_.trials:
        assert len(trial.user_attrs["val_loss"]) == len(trial.user_attrs["train_loss"]) >= 1
    assert model.best_params_["learning_rate"] == 1e-2
    assert "val_size" not in model.best_params_ and model.members_[0].val_size is None


def test_custom_columns_and_intervals(df):
    frame = df.rename(columns={"unique_id": "store", "ds": "date", "y": "sales"})
    fixed = {**FIXED, "interval": "conformal", "level": (80,)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = auto(ensemble=2, fixed=fixed, pruner=None).fit(
            frame, id_col="store", time_col="date", target_col="sales"
        )
    fc = model.predict(level=[80])
    assert list(fc.columns[:3]) == ["store", "date", "y_pred"] and len(fc) == 12
    for column in ("y_pred", "y_lo80", "y_hi80"):
        each = np.stack([m.predict(level=[80])[column].to_numpy() for m in model.members_])
        np.testing.assert_allclose(fc[column], np.median(each, axis=0))
    assert (fc["y_lo80"] <= fc["y_hi80"]).all()
    assert model.members_[0].val_size is None  # pruning off: trials kept the user's settings


def test_shared_journal_study_refits_without_new_trials(df, tmp_path):
    kw = {"storage": str(tmp_path / "s.journal"), "study_name": "air", "n_trials": 2}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auto(**kw).search(df)  # a worker's share of the trials, no refit
        auto(**kw).search(df)
        model = auto(**{**kw, "n_trials": 0}).fit(df)
    assert len(model.trials_) == 4 and model.best_score_ == model.trials_["value"].min()
    import os

    assert {t.user_attrs["worker"].split(":")[-1] for t in model.study_.trials} == {
        str(os.getpid())
    }
    with pytest.raises(ValueError, match="n_trials=0"):
        auto(n_trials=0).fit(df)
    with pytest.raises(ValueError, match="storage"):
        auto(storage="study.db").fit(df)
    with pytest.raises(ValueError, match="pruner"):
        auto(pruner="hyperband").fit(df)


def test_a_search_whose_trials_all_fail_stops_and_names_the_error(df):
    with pytest.raises(RuntimeError, match="no trial completed.*loss") as info:
        auto(n_trials=None, max_time=120, fixed={**FIXED, "loss": "bogus"}).fit(df)
    assert "trial 0 failed" in str(info.value)


def test_short_series_search_without_the_pruning_holdout(df):
    short = df.iloc[-30:]  # 30 points, horizon 12: no room for a second held-out horizon
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = auto(n_trials=2, fixed={**FIXED, "lookback": 6}, space={**SPACE, "lookback": 6})
        model.fit(short)
    assert set(model.trials_["state"]) == {"COMPLETE"}
    assert all(
        "val_loss" not in t.user_attrs or not any(t.user_attrs["val_loss"])
        for t in model.study_.trials
    )


def test_the_first_trial_is_the_default_model(df):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = auto(n_trials=2, pruner=None).fit(df)
    trials = model.trials_
    assert trials["defaults"].tolist() == [True, False]
    first = model.study_.trials[0]
    assert first.user_attrs["params"] == FIXED  # RNNForecaster's defaults with `fixed` only
    if first.value < trials["value"].iloc[1]:
        assert model.best_params_ == FIXED
    with pytest.raises(ValueError, match="refit_fraction"):
        auto(refit_fraction=1.5).fit(df)
    no_defaults = auto(n_trials=1, include_defaults=False, pruner=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert not no_defaults.fit(df).trials_["defaults"].any()


def test_refit_fraction_gives_the_refit_the_rest_of_the_budget(df):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = auto(n_trials=1, max_time=30, refit_fraction=0.5, pruner=None).fit(df)
    trial_budget = model.study_.trials[0].user_attrs["max_time"]
    assert trial_budget == pytest.approx(15.0, abs=0.5)  # the search's 50 %, one trial
    # the refit gets what the search left (the tiny trial ended early), not the trial's share
    assert trial_budget < model.members_[0].max_time <= 30.0


def test_several_validation_windows_score_one_fit_and_seasonal_naive_alike(df):
    from forecast import backtest
    from forecast.tuning import validation

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = auto(n_trials=1, val_windows=3, pruner=None, include_defaults=False).fit(df)
    assert model.val_windows_ == 3
    naive = backtest(SeasonalNaive(12, 12), df, n_windows=3, refit=False, season_length=12)
    assert model.naive_score_ == pytest.approx(float(naive.aggregate["mase"]))
    one = auto(n_trials=1, val_windows=1, pruner=None, include_defaults=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert one.fit(df).naive_score_ != pytest.approx(model.naive_score_)  # other windows
    # the shortest series decides: 144 points keep a horizon to train on before 11 windows
    assert validation.usable_windows(np.array([144, 200]), 12, 20) == 11
    assert validation.usable_windows(np.array([30]), 12, 3) == 1  # never fewer than one
    assert validation.usable_windows(np.array([60]), 12, 3, holdout=12) == 3
    with pytest.raises(ValueError, match="val_windows"):
        auto(val_windows=0).fit(df)


def test_warm_refit_continues_the_trials_network_instead_of_starting_again(df, monkeypatch):
    from forecast.tuning import members

    offered = []
    real_offer = members.Keeper.offer

    def offer(self, number, score, model):
        offered.append(model)
        return real_offer(self, number, score, model)

    monkeypatch.setattr(members.Keeper, "offer", offer)
    kw = dict(n_trials=1, pruner=None, include_defaults=False, ensemble=1)
    fixed = {**FIXED, "max_epochs": 4}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warm = auto(warm_refit=True, fixed=fixed, **kw).fit(df)
        cold = auto(warm_refit=False, fixed=fixed, **kw).fit(df)
    assert len(offered) == 1 and warm.members_[0] is offered[0]  # the trial's own network
    assert cold.members_[0] is not offered[0]
    # the member's settings are the cold member's (no pruning holdout, its own clock)
    assert warm.members_[0].get_params()["val_size"] == cold.members_[0].get_params()["val_size"]
    first = [m.members_[0].history_.to_frame()["train_loss"].iloc[0] for m in (warm, cold)]
    assert first[0] < first[1]  # it starts where its trial ended, not from initial weights
    assert np.isfinite(warm.predict()["y_pred"]).all()


def test_the_full_space_on_data_with_zeros_searches_the_loss_and_log1p_target():
    rng = np.random.default_rng(0)
    y = np.maximum(0, 5 + 4 * np.sin(np.arange(96) * np.pi / 6) + rng.normal(0, 2, 96)).round()
    y[rng.random(96) < 0.2] = 0  # intermittent zeros, as in a sales panel
    frame = pd.DataFrame(
        {"unique_id": "s", "ds": pd.date_range("2015-01", periods=96, freq="MS")}
    ).assign(y=y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = auto(n_trials=6, space="full", fixed={**FIXED, **SPACE}, ensemble=2).fit(frame)
    assert {"params_loss", "params_log_target"} <= set(model.trials_.columns)
    scalers = {str(t.user_attrs["params"].get("scaler", "standard")) for t in model.study_.trials}
    assert scalers <= {"standard", "['log1p', 'standard']"} and len(scalers) == 2
    fc = model.predict()["y_pred"]
    assert np.isfinite(fc).all() and (fc > -1).all()  # log(1 + y) members stay above -1
