"""AutoRNNForecaster on valid inputs at the edges (found by benchmarks/fuzz.py): constant series,
whose MASE is undefined, and series shorter than one season, which seasonal naive cannot
forecast. RNNForecaster answers both; so must the search."""

import warnings

import numpy as np
import pandas as pd
import pytest

from forecast import AutoRNNForecaster

pytest.importorskip("optuna")
SPACE = {"cell": "gru", "bidirectional": False, "hidden_size": 4, "num_layers": 1,
         "window_norm": "last", "learning_rate": 1e-2, "lookback": 3}  # fmt: skip
FIXED = {"max_epochs": 1, "windows_per_epoch": 8, "batch_size": 8, "device": "cpu"}
DAYS = pd.date_range("2024-01-01", periods=40, freq="D")
HOURS = pd.date_range("2024-01-01", periods=80, freq="h")


def auto(**kw):
    kw = {"horizon": 2, "n_trials": 2, "max_time": 60.0, "pruner": None, "space": SPACE,
          "fixed": FIXED, "ensemble": 1, **kw}  # fmt: skip
    return AutoRNNForecaster(**kw)


def fitted(df, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = auto(**kw).fit(df)
    return model, [str(w.message) for w in caught]


def constant(uid="c", value=5.0):
    return pd.DataFrame({"unique_id": uid, "ds": DAYS, "y": value})


def short_season_panel():
    """Hourly series (season 24) and one of 20 points: shorter than a season."""
    waves = [
        pd.DataFrame({"unique_id": f"l{i}", "ds": HOURS, "y": np.sin(np.arange(80) / 3) + i})
        for i in range(3)
    ]
    short = pd.DataFrame({"unique_id": "short", "ds": HOURS[:20], "y": np.arange(20.0)})
    return pd.concat([*waves, short], ignore_index=True)


def test_constant_series_are_searched_on_mae_for_every_trial_and_answered():
    model, said = fitted(pd.concat([constant("a", 5.0), constant("b", -3.0)]))
    assert model.metric_ == "mae" and any("scored on MAE" in w for w in said)
    values = model.trials_["value"]
    assert len(values) == 2 and np.isfinite(values).all()  # "no trial completed" before
    assert model.best_score_ == values.min() and model.naive_score_ == 0.0
    fc = model.predict()
    assert len(fc) == 4 and np.isfinite(fc["y_pred"]).all()
    means = fc.groupby("unique_id")["y_pred"].mean()
    assert np.allclose(means[["a", "b"]], [5.0, -3.0], atol=1.0)


def test_one_varying_series_keeps_mase_as_the_score():
    df = pd.concat([constant(), pd.DataFrame({"unique_id": "v", "ds": DAYS, "y": np.arange(40.0)})])
    model, _ = fitted(df)
    assert model.metric_ == "mase" and np.isfinite(model.best_score_)


def test_a_series_shorter_than_a_season_gets_the_naive_baseline_said_in_a_warning():
    model, said = fitted(short_season_panel())
    assert model.season_length_ == 24 and model.naive_season_length_ == 1
    assert any("naive (season_length=1)" in w and "'short'" in w for w in said), said
    assert np.isfinite(model.naive_score_) and np.isfinite(model.best_score_)
    fc = model.predict()
    assert len(fc) == 8 and np.isfinite(fc["y_pred"]).all()


def test_the_naive_fallback_of_a_short_series_panel_saves_and_loads(tmp_path):
    flat = short_season_panel().assign(y=lambda d: d["unique_id"].map(lambda u: float(len(u))))
    model, _ = fitted(flat, fallback="seasonal_naive", n_trials=1)  # naive is exact: no trial wins
    assert model.best_params_ == {"model": "seasonal_naive"} and model.season_length_ == 1
    model.save(tmp_path / "m")
    again = AutoRNNForecaster.load(tmp_path / "m")
    pd.testing.assert_frame_equal(again.predict(), model.predict())
    last = again.predict().groupby("unique_id")["y_pred"].first().to_dict()
    assert last == {"l0": 2.0, "l1": 2.0, "l2": 2.0, "short": 5.0}


def test_a_series_too_short_to_validate_on_is_left_out_of_the_scores_and_forecast():
    """A one-point series beside long ones: RNNForecaster pads it; the search left its
    validation backtest to refuse the whole input (found by benchmarks/fuzz.py, seed 3006098)."""
    df = pd.concat([constant("a").assign(y=np.arange(40.0)), constant("one").iloc[:1]])
    model, said = fitted(df)
    assert any("left out of the validation scores" in w and "'one'" in w for w in said), said
    assert np.isfinite(model.best_score_) and set(model.predict()["unique_id"]) == {"a", "one"}
    with pytest.raises(ValueError, match="no series has the 4 points a search validates on"):
        auto().fit(constant("one").iloc[:3])
