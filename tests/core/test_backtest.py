import numpy as np
import pandas as pd
import pytest
import torch

from forecast import RNNForecaster, SeasonalNaive
from forecast.datasets.synthetic import make_panel
from forecast.evaluation.backtesting import backtest, fit_groups

H, L = 4, 12


@pytest.fixture(scope="module")
def panel():
    return make_panel(
        n_series=3, length=120, freq="h", seed=1, past_covariates=1, future_covariates=1
    )


def rnn(**kw):
    params = dict(
        cell="gru",
        hidden_size=8,
        lookback=L,
        horizon=H,
        past_covariates=("past_0",),
        future_covariates=("future_0",),
        max_epochs=2,
        batch_size=64,
        verbose=False,
        seed=0,
    )
    return RNNForecaster(**{**params, **kw})


class CountingNaive(SeasonalNaive):
    """SeasonalNaive that records the length of every series it is fitted on (clones share the log)."""

    fits = []

    def fit(self, df, *args, **kwargs):
        CountingNaive.fits.append(df.groupby("unique_id").size().to_dict())
        return super().fit(df, *args, **kwargs)


def cutoff_of(df, uid, position_from_end):
    ds = df.loc[df["unique_id"] == uid, "ds"].sort_values().to_numpy()
    return ds[len(ds) - position_from_end]


@pytest.mark.parametrize("refit, n_fits", [(True, 5), ("warm", 5), (2, 3), (5, 1), (False, 1)])
def test_refit_modes_fit_the_documented_number_of_times(panel, refit, n_fits):
    CountingNaive.fits = []
    result = backtest(
        CountingNaive(horizon=H, season_length=2), panel, n_windows=5, step=2, refit=refit
    )
    assert result.n_fits == n_fits == len(CountingNaive.fits)
    assert len(result.forecasts) == 3 * 5 * H
    assert fit_groups(5, refit)[0][0] == 0


def test_origins_are_counted_back_from_each_series_end():
    df = make_panel(n_series=3, length=60, freq="D", seed=0, ragged=True)
    result = backtest(
        SeasonalNaive(horizon=H, season_length=1), df, n_windows=3, step=2, refit=False
    )
    for uid in df["unique_id"].unique():
        cutoffs = (
            result.forecasts.loc[result.forecasts["unique_id"] == uid]
            .groupby("window")["cutoff"]
            .first()
        )
        expected = [
            cutoff_of(df, uid, H + (2 - w) * 2 + 1) for w in range(3)
        ]  # position n - H - (W-1-w)*step - 1
        np.testing.assert_array_equal(cutoffs.to_numpy(), expected)


def test_seasonal_naive_backtest_repeats_the_last_season_before_each_cutoff(panel):
    result = backtest(SeasonalNaive(horizon=H, season_length=3), panel, n_windows=2, refit=True)
    fc = result.forecasts
    one = panel[panel["unique_id"] == fc["unique_id"].iloc[0]].reset_index(drop=True)
    cut = int(np.flatnonzero(one["ds"].to_numpy() == fc["cutoff"].iloc[0])[0])
    expected = one["y"].to_numpy()[cut - 2 + np.arange(H) % 3]
    np.testing.assert_allclose(fc["y_pred"].to_numpy()[:H], expected)
    np.testing.assert_allclose(fc["y"].to_numpy()[:H], one["y"].to_numpy()[cut + 1 : cut + 1 + H])


def test_sliding_window_trains_on_train_length_points(panel):
    CountingNaive.fits = []
    backtest(
        CountingNaive(horizon=H, season_length=2),
        panel,
        n_windows=2,
        refit=True,
        window="sliding",
        train_length=30,
    )
    assert all(n == 30 for fit in CountingNaive.fits for n in fit.values())


def poison(df, after_position_from_end, value, columns=("y", "past_0")):
    out = df.copy()
    pos = out.groupby("unique_id").cumcount()
    n = out.groupby("unique_id")["y"].transform("size")
    out.loc[pos > n - after_position_from_end, list(columns)] = value
    return out


def first_window(result, w=0):
    fc = result.forecasts
    return fc.loc[fc["window"] == w, ["unique_id", "cutoff", "ds", "y_pred"]].reset_index(drop=True)


@pytest.mark.parametrize("refit", [True, False])
def test_values_after_the_cutoff_do_not_change_its_forecasts(panel, refit):
    kw = dict(n_windows=3, step=H, refit=refit)
    clean = backtest(rnn(), panel, **kw)
    first_cut = H + 2 * H + 1  # window 0's cutoff, counted from the end
    huge = backtest(rnn(), poison(panel, first_cut, 1e6), **kw)
    pd.testing.assert_frame_equal(first_window(clean), first_window(huge))
    assert not first_window(clean, 2).equals(first_window(huge, 2))  # the poison was real
    with pytest.raises(
        ValueError, match="NaN in series"
    ):  # actuals after the last cutoff are checked, not dropped
        backtest(rnn(), poison(panel, H + 1, np.nan), **kw)


def test_future_covariates_after_the_cutoff_are_read(panel):
    clean = backtest(rnn(), panel, n_windows=1, refit=False)
    changed = poison(panel, H + 1, 5.0, columns=("future_0",))
    assert not first_window(clean).equals(
        first_window(backtest(rnn(), changed, n_windows=1, refit=False))
    )


def test_no_refit_batched_forecasts_equal_the_per_window_loop(panel):
    result = backtest(rnn(), panel, n_windows=3, step=2, refit=False)
    first_cut = result.forecasts.groupby("unique_id")["cutoff"].min()
    train = panel[panel["ds"] <= panel["unique_id"].map(first_cut)]
    model = rnn().fit(train)
    for w in range(3):
        fc = result.forecasts[result.forecasts["window"] == w]
        cut = panel["unique_id"].map(fc.groupby("unique_id")["cutoff"].first())
        history = panel[panel["ds"] <= cut]
        ahead = panel[panel["ds"].isin(fc["ds"]) & (panel["ds"] > cut)]
        loop = model.predict(history, X_future=ahead[["unique_id", "ds", "future_0"]])
        np.testing.assert_allclose(
            fc["y_pred"].to_numpy(), loop["y_pred"].to_numpy(), rtol=1e-5, atol=1e-4
        )
        np.testing.assert_array_equal(fc["ds"].to_numpy(), loop["ds"].to_numpy())


def test_warm_start_continues_from_the_previous_weights(panel):
    model = rnn(max_epochs=1).fit(panel)
    before = {k: v.clone() for k, v in model.module_.state_dict().items()}
    model.set_params(learning_rate=1e-12).fit(panel, warm_start=True)
    for k, v in model.module_.state_dict().items():
        torch.testing.assert_close(v, before[k], atol=1e-6, rtol=0)
    cold = rnn(max_epochs=1, seed=7).fit(panel)
    assert not all(torch.equal(v, before[k]) for k, v in cold.module_.state_dict().items())
    with pytest.raises(ValueError, match="warm_start: the network's shape changed"):
        model.set_params(hidden_size=16).fit(panel, warm_start=True)


def test_warm_backtest_runs_and_reports_every_table(panel):
    result = backtest(rnn(max_epochs=4), panel, n_windows=3, refit="warm", season_length=24)
    assert result.n_fits == 3
    assert list(result.by_step["step"]) == [1, 2, 3, 4]
    assert list(result.per_window["window"]) == [0, 1, 2]
    assert set(result.per_series["unique_id"]) == set(panel["unique_id"])
    assert set(result.aggregate) == {"mae", "rmse", "smape", "mase"}
    assert np.isfinite(list(result.aggregate.values())).all()


def test_bad_arguments_are_named(panel):
    naive = SeasonalNaive(horizon=H)
    with pytest.raises(ValueError, match="refit must be"):
        backtest(naive, panel, refit="sometimes")
    with pytest.raises(ValueError, match="train_length"):
        backtest(naive, panel, window="sliding")
    with pytest.raises(ValueError, match=r"series 'series_0' has 120 points; n_windows=40"):
        backtest(naive, panel, n_windows=40)


def test_interpolate_fill_never_reads_past_an_origin():
    from forecast import Naive

    df = pd.DataFrame(
        {"unique_id": "s0", "ds": pd.date_range("2020-01-01", periods=40), "y": np.arange(40.0)}
    )
    df.loc[33, "y"] = np.nan  # the value at window 0's cutoff is missing
    for refit in (True, False):
        fc = backtest(Naive(horizon=3, fill="interpolate"), df, n_windows=2, refit=refit).forecasts
        first = fc[fc.window == 0].y_pred.to_numpy()
        assert np.allclose(first, 32.0), (
            refit,
            first,
        )  # carried forward from before the gap, not from after it
    model = RNNForecaster(
        cell="gru", hidden_size=4, lookback=8, horizon=3, max_epochs=1, fill="interpolate"
    ).fit(df)
    origins = pd.DataFrame({"unique_id": ["s0"], "cutoff": [df.ds[33]]})
    poisoned = df.assign(y=np.where(df.index > 33, df.y + 1000.0, df.y))
    pd.testing.assert_frame_equal(
        model.predict_at(df, origins), model.predict_at(poisoned, origins)
    )


def test_score_works_with_custom_column_names():
    df = pd.DataFrame(
        {"store": "a", "date": pd.date_range("2020-01-01", periods=40), "sales": np.arange(40.0)}
    )
    model = RNNForecaster(hidden_size=4, lookback=8, horizon=4, max_epochs=1).fit(
        df, id_col="store", time_col="date", target_col="sales"
    )
    assert np.isfinite(model.score(df))


def test_warm_refits_each_train_a_fraction_of_the_first_fits_epochs_at_the_default_plan(panel):
    # max_epochs=None (the default): the first fit resolves its epochs from the data; every warm
    # refit then trains warm_fraction of *those* (a refit used to shorten the previous refit's count,
    # so window g trained about E x fraction^g epochs).
    model = rnn(max_epochs=None, windows_per_epoch=64, hidden_size=4)
    result = backtest(model, panel, n_windows=4, refit="warm", season_length=24, warm_fraction=0.25)
    epochs = [len(h.records) for h in result.histories]
    first = epochs[0]
    assert first >= 10 and epochs[1:] == [-(-first // 4)] * 3, epochs
