import numpy as np
import pandas as pd
import pytest

from forecast import metrics as M

Y = np.array([2.0, 4.0, 6.0, 8.0])
P = np.array([3.0, 4.0, 3.0, 8.0])  # errors 1, 0, 3, 0
TRAIN = np.array(
    [1.0, 3.0, 2.0, 5.0, 4.0, 6.0]
)  # lag-2 diffs 1, 2, 2, 1; lag-1 diffs 2, 1, 3, 1, 2


def test_point_metrics_match_hand_computed_values():
    assert M.mae(Y, P) == pytest.approx(1.0)
    assert M.rmse(Y, P) == pytest.approx(np.sqrt(10 / 4))
    assert M.mape(Y, P) == pytest.approx(100 * (1 / 2 + 3 / 6) / 4)
    # M4: 200/h * sum |y - y_hat| / (|y| + |y_hat|)
    assert M.smape(Y, P) == pytest.approx(200 / 4 * (1 / 5 + 3 / 9))


def test_mase_uses_in_sample_seasonal_naive_mae():
    assert M.seasonal_scale(TRAIN, 2) == pytest.approx(1.5)
    assert M.seasonal_scale(TRAIN, 1) == pytest.approx(9 / 5)
    assert M.mase(Y, P, TRAIN, season_length=2) == pytest.approx(1.0 / 1.5)
    assert M.mase(Y, P, scale=2.0) == pytest.approx(0.5)


def test_owa_is_half_the_sum_of_relative_smape_and_mase():
    assert M.owa(10.0, 1.0, 20.0, 2.0) == pytest.approx(0.5)
    with pytest.warns(RuntimeWarning, match="owa"):
        assert np.isnan(M.owa(10.0, 1.0, 0.0, 2.0))


def test_axis_gives_per_series_values():
    y, p = np.stack([Y, Y]), np.stack([P, Y])
    np.testing.assert_allclose(M.mae(y, p, axis=1), [1.0, 0.0])
    np.testing.assert_allclose(M.mase(y, p, scale=np.array([[2.0], [1.0]]), axis=1), [0.5, 0.0])


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(4,\).*\(3,\)"):
        M.mae(Y, P[:3])


def test_mape_leaves_out_zero_actuals_with_a_warning():
    with pytest.warns(RuntimeWarning, match="y == 0"):
        assert M.mape([0.0, 2.0], [1.0, 3.0]) == pytest.approx(50.0)
    with pytest.warns(RuntimeWarning):
        assert np.isnan(M.mape([0.0], [1.0]))


def test_smape_of_two_zeros_is_zero_not_nan():
    assert M.smape([0.0, 1.0], [0.0, 1.0]) == 0.0
    assert M.smape([0.0], [1.0]) == pytest.approx(200.0)


def test_mase_on_constant_training_data_is_defined_and_warned():
    with pytest.warns(RuntimeWarning, match="scale is 0"):
        assert np.isnan(M.mase([5.0, 6.0], [5.0, 5.0], [5.0, 5.0, 5.0]))
    # Not 0 from the one right point: the whole series' MASE is undefined.
    with pytest.warns(RuntimeWarning, match="scale is 0"):
        assert np.isnan(M.mase([5.0, 5.0], [5.0, 5.0], [5.0, 5.0, 5.0]))


def test_frame_mase_of_a_constant_series_is_nan_and_the_aggregate_skips_it():
    train, fc = _frames()
    train.loc[train["unique_id"] == "b", "y"] = 3.0
    with pytest.warns(RuntimeWarning, match=r"scale is 0.*\['b'\]"):
        table = M.evaluate(fc, train, metrics=("mase",), season_length=2)
    assert np.isnan(table.set_index("unique_id").loc["b", "mase"])
    with pytest.warns(RuntimeWarning):
        assert M.aggregate(fc, train, ("mase",), 2)["mase"] == pytest.approx(M.mase(Y, P, TRAIN, 2))


def test_series_shorter_than_season_falls_back_to_lag_one():
    with pytest.warns(RuntimeWarning, match="lag-1"):
        assert M.seasonal_scale([1.0, 4.0, 2.0], season_length=12) == pytest.approx(2.5)
    with pytest.warns(RuntimeWarning, match="too few"):
        assert np.isnan(M.seasonal_scale([1.0], season_length=1))


def test_bad_season_length_is_named():
    with pytest.raises(ValueError, match="season_length"):
        M.seasonal_scale(TRAIN, 0)


def _frames():
    ds_train = pd.date_range("2024-01-01", periods=6, freq="D")
    ds_test = pd.date_range("2024-01-07", periods=4, freq="D")
    train = pd.DataFrame(
        {
            "unique_id": np.repeat(["a", "b"], 6),
            "ds": np.tile(ds_train, 2),
            "y": np.concatenate([TRAIN, 2 * TRAIN]),
        }
    )
    fc = pd.DataFrame(
        {
            "unique_id": np.repeat(["a", "b"], 4),
            "ds": np.tile(ds_test, 2),
            "y": np.concatenate([Y, Y]),
            "y_pred": np.concatenate([P, Y + 1]),
        }
    )
    return train, fc


def test_evaluate_per_series_matches_array_metrics():
    train, fc = _frames()
    table = M.evaluate(fc, train, metrics=("mae", "rmse", "smape", "mase"), season_length=2)
    a = table.set_index("unique_id").loc["a"]
    assert a["mae"] == pytest.approx(M.mae(Y, P))
    assert a["smape"] == pytest.approx(M.smape(Y, P))
    assert a["mase"] == pytest.approx(M.mase(Y, P, TRAIN, 2))
    assert table.set_index("unique_id").loc["b", "mase"] == pytest.approx(
        1.0 / 3.0
    )  # scale doubles


def test_evaluate_by_step_and_aggregate():
    train, fc = _frames()
    by_step = M.evaluate(fc, metrics=("mae",), by=("step",))
    np.testing.assert_allclose(by_step["mae"], [1.0, 0.5, 2.0, 0.5])
    assert M.aggregate(fc, metrics=("mae",)) == {
        "mae": pytest.approx(np.mean([1, 0, 3, 0, 1, 1, 1, 1]))
    }


def test_mase_scale_per_cutoff_uses_history_up_to_the_cutoff_only():
    train, _ = _frames()
    fc = pd.DataFrame(
        {
            "unique_id": ["a"],
            "cutoff": [train["ds"].iloc[3]],
            "ds": [train["ds"].iloc[4]],
            "y": [4.0],
            "y_pred": [3.0],
        }
    )
    poisoned = train.copy()
    poisoned.loc[4:5, "y"] = 1e9  # after the cutoff of series a
    value = M.evaluate(fc, poisoned, metrics=("mase",), season_length=1)["mase"].iloc[0]
    assert value == pytest.approx(1.0 / np.mean([2, 1, 3]))  # lag-1 diffs of [1, 3, 2, 5]


def test_mase_without_train_df_and_unknown_metric_are_clear_errors():
    _, fc = _frames()
    with pytest.raises(ValueError, match="train_df"):
        M.evaluate(fc, metrics=("mase",))
    with pytest.raises(ValueError, match="'mdape'"):
        M.evaluate(fc, metrics=("mdape",))


def test_owa_frame_of_the_reference_itself_is_one():
    train, fc = _frames()
    assert M.owa_frame(fc, fc, train, season_length=2) == pytest.approx(1.0)


def test_mase_scale_skips_gaps_in_the_training_history():
    train = pd.DataFrame(
        {
            "unique_id": "a",
            "ds": pd.date_range("2020", periods=6),
            "y": [0.0, 10, np.nan, 30, 40, 50],
        }
    )
    fc = pd.DataFrame(
        {"unique_id": ["a"], "ds": [pd.Timestamp("2020-01-07")], "y": [60.0], "y_pred": [50.0]}
    )
    assert np.allclose(M.scales(fc, train), 10.0)
    assert M.seasonal_scale(train.y.to_numpy()) == 10.0
