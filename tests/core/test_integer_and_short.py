"""Integer time steps (positions without dates, as M3/M4 come) and series shorter than a window."""

import warnings

import numpy as np
import pandas as pd
import pytest

from forecast import RNNForecaster, backtest
from forecast.data.panel import left_pad
from forecast.data.seasonality import season_length_for
from forecast.data.windows import Gatherer
from forecast.evaluation.baselines import SeasonalNaive

TINY = dict(
    hidden_size=8, lookback=6, horizon=3, max_epochs=2, batch_size=16, device="cpu", verbose=False
)


def steps(lengths, start=0, seed=0):
    """A long frame of sines with integer ``ds``: series ``s{i}`` holds positions start .. start + n - 1."""
    rng = np.random.default_rng(seed)
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "unique_id": f"s{i}",
                    "ds": start + np.arange(n),
                    "y": 10 + i + np.sin(np.arange(n) / 2) + rng.normal(0, 0.1, n),
                }
            )
            for i, n in enumerate(lengths)
        ],
        ignore_index=True,
    )


def fit_quietly(est, df):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return est.fit(df)


# ------------------------------------------------------------------ integer time steps


def test_integer_ds_forecasts_continue_the_positions_and_survive_save_load(tmp_path):
    df = steps([30, 25], start=100)
    model = RNNForecaster(**TINY).fit(df)
    fc = model.predict()
    assert fc["ds"].dtype == np.int64 and fc["ds"].tolist() == [130, 131, 132, 125, 126, 127]
    assert (
        model.freqs_ == {"s0": 1, "s1": 1}
        and model.season_length_ == 1
        and season_length_for(1) == 1
    )
    again = RNNForecaster.load(model.save(tmp_path / "m"))
    pd.testing.assert_frame_equal(again.predict(), fc)
    assert isinstance(again.tail_.last_ds[0], int)
    history = df[df["ds"] < 120]  # new history of the same series: forecasts continue it
    assert model.predict(history)["ds"].tolist() == [120, 121, 122] * 2


def test_integer_index_series_and_wide_frame():
    values = 10 + np.sin(np.arange(30) / 2)
    out = RNNForecaster(**TINY).fit(pd.Series(values, name="a")).predict()  # a RangeIndex
    assert isinstance(out, pd.Series) and out.index.tolist() == [30, 31, 32]
    wide = pd.DataFrame({"a": values, "b": values * 2}, index=pd.RangeIndex(5, 35))
    fc = RNNForecaster(**TINY).fit(wide).predict()
    assert list(fc.columns) == ["a", "b"] and fc.index.tolist() == [35, 36, 37]


def test_integer_backtest_of_seasonal_naive_matches_a_hand_computation():
    df = steps([20, 17])
    result = backtest(SeasonalNaive(horizon=3, season_length=2), df, n_windows=2)
    fc = result.forecasts
    assert fc["ds"].dtype == np.int64 and fc["cutoff"].dtype == np.int64
    errors = []
    for uid, part in df.groupby("unique_id"):
        y = part["y"].to_numpy()
        for cut in (len(y) - 7, len(y) - 4):
            pred = [y[cut - 1], y[cut], y[cut - 1]]  # y[c + h - 2 ceil(h/2)] for h = 1, 2, 3
            errors += list(np.abs(y[cut + 1 : cut + 4] - pred))
        assert fc.loc[fc["unique_id"] == uid, "cutoff"].unique().tolist() == [
            len(y) - 7,
            len(y) - 4,
        ]
    assert result.aggregate["mae"] == pytest.approx(np.mean(errors))


@pytest.mark.parametrize("refit", [True, False])
def test_integer_backtest_of_the_rnn(refit):
    result = backtest(RNNForecaster(**TINY), steps([30, 24]), n_windows=2, refit=refit)
    assert len(result.forecasts) == 2 * 2 * 3 and result.forecasts["ds"].dtype == np.int64
    assert np.isfinite(result.aggregate["mase"])


def test_ambiguous_integer_time_is_refused_with_the_series_and_position():
    with pytest.raises(ValueError, match="column 'ds' holds non-integer numbers"):
        RNNForecaster(**TINY).fit(steps([30]).assign(ds=lambda d: d["ds"] + 1.5))
    gap = steps([30, 30]).drop(index=40)  # s1 loses position 10
    with pytest.raises(
        ValueError,
        match=r"series 's1' has a gap or irregular integer time step at 11 \(expected 10",
    ):
        RNNForecaster(**TINY).fit(gap)
    with pytest.raises(ValueError, match="series 's0' steps by 2"):
        RNNForecaster(**TINY).fit(steps([30]).assign(ds=lambda d: d["ds"] * 2))
    mixed = steps([30]).astype({"ds": object})
    mixed.loc[0, "ds"] = pd.Timestamp("2020-01-01")
    with pytest.raises(ValueError, match="mixes integers with other values"):
        RNNForecaster(**TINY).fit(mixed)
    with pytest.raises(ValueError, match="calendar=True needs timestamps"):
        RNNForecaster(**TINY, calendar=True).fit(steps([30]))
    model = RNNForecaster(**TINY).fit(steps([30]))
    dated = steps([30]).assign(ds=pd.date_range("2020-01-01", periods=30, freq="D"))
    with pytest.raises(
        ValueError, match="has frequency 'D' but the model was fitted at integer time steps"
    ):
        model.predict(dated)


# ------------------------------------------------------------------ short series


def test_a_short_series_is_padded_by_default_forecast_and_warned_once():
    df = steps([30, 5, 2, 40])  # lookback + horizon = 9
    with pytest.warns(UserWarning) as caught:
        model = RNNForecaster(**TINY).fit(df)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert (
        len(messages) == 1
        and "2 of 4 series" in messages[0]
        and "'s2', has 2 points" in messages[0]
    )
    fc = model.predict()
    assert fc.groupby("unique_id").size().to_dict() == {"s0": 3, "s1": 3, "s2": 3, "s3": 3}
    assert (
        fc.loc[fc["unique_id"] == "s2", "ds"].tolist() == [2, 3, 4]
        and np.isfinite(fc["y_pred"]).all()
    )
    assert model.n_train_windows_ == (30 - 8) + 1 + 1 + (
        40 - 8
    )  # one padded window per short series


def test_padded_rows_are_masked_in_every_batch():
    offsets, pads = (
        np.array([0, 2, 12]),
        np.array([7, 0]),
    )  # a 2-point series padded to 9 rows, a 10-point one
    rows, new_offsets, observed = left_pad(offsets, pads)
    data = np.arange(12.0)[rows][:, None]
    assert (
        new_offsets.tolist() == [0, 9, 19]
        and data[:8, 0].tolist() == [0.0] * 8
        and data[8, 0] == 1.0
    )
    batch = Gatherer(data, np.zeros((2, 0)), 6, 3, slice(1, 1), observed=observed).gather(
        torch_tensor([0, 1]), torch_tensor([0, 9])
    )
    assert batch.mask.tolist()[0] == [0.0] * 7 + [1.0, 1.0] and batch.mask.tolist()[1] == [1.0] * 9
    assert (
        Gatherer(data, np.zeros((2, 0)), 6, 3, slice(1, 1))
        .gather(torch_tensor([0]), torch_tensor([0]))
        .mask
        is None
    )
    assert left_pad(offsets, np.zeros(2))[2] is None


def torch_tensor(values):
    import torch

    return torch.as_tensor(values)


def test_drop_leaves_short_series_out_of_training_but_still_forecasts_them():
    with pytest.warns(UserWarning, match="1 of 2 series .*left out of training"):
        model = RNNForecaster(**TINY, short_series="drop").fit(steps([30, 5]))
    assert model.n_train_windows_ == 30 - 8
    assert model.predict().groupby("unique_id").size().to_dict() == {"s0": 3, "s1": 3}


def test_error_refuses_short_series_at_fit_and_in_new_history():
    with pytest.raises(
        ValueError, match=r"lookback \+ horizon = 6 \+ 3 = 9 points \(the shortest, 's1', has 5"
    ):
        RNNForecaster(**TINY, short_series="error").fit(steps([30, 5]))
    model = RNNForecaster(**TINY, short_series="error").fit(steps([30, 30]))
    with pytest.raises(ValueError, match="fewer than lookback=6"):
        model.predict(steps([30, 4]))
    with pytest.raises(ValueError, match="needs 6 points up to the cutoff"):
        model.predict_at(steps([30, 30]), pd.DataFrame({"unique_id": ["s0"], "cutoff": [2]}))


def test_predict_and_predict_at_pad_short_input_windows():
    model = RNNForecaster(**TINY).fit(steps([30, 30]))
    short = model.predict(steps([30, 4]))
    assert short.loc[short["unique_id"] == "s1", "ds"].tolist() == [4, 5, 6]
    origins = pd.DataFrame({"unique_id": ["s0", "s1", "s1"], "cutoff": [0, 2, 20]})
    fc = model.predict_at(steps([30, 30]), origins)
    assert fc["cutoff"].tolist() == [0] * 3 + [2] * 3 + [20] * 3 and fc["ds"].tolist()[:6] == [
        1,
        2,
        3,
        3,
        4,
        5,
    ]
    assert np.isfinite(fc["y_pred"]).all()
    # a padded window is the series' first value repeated: the same forecast as a history starting with it
    first = steps([30, 30]).query("unique_id == 's1' and ds <= 2")
    padded = pd.concat([first.iloc[[0] * 3].assign(ds=[-3, -2, -1]), first], ignore_index=True)
    direct = model.predict(padded)["y_pred"].to_numpy()
    np.testing.assert_allclose(fc["y_pred"].to_numpy()[3:6], direct, rtol=1e-5)


def test_a_series_held_out_entirely_for_validation_is_an_error():
    with pytest.raises(
        ValueError, match="series 's1' has 3 points and val_size=3 holds them all out"
    ):
        fit_quietly(RNNForecaster(**TINY, early_stopping=2), steps([30, 3]))
