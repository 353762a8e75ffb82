import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV

from forecast import RNNForecaster, SeasonalNaive
from forecast.evaluation.selection import (
    TemporalSplit,
    candidate_grid,
    evaluate_candidate,
    select_model,
)

H = 6
COMMON = dict(lookback=24, horizon=H, batch_size=32, verbose=False, seed=0)


@pytest.fixture(scope="module")
def sines():
    """Period-12 sines with random phases: naive (m=1) forecasts are poor, a GRU learns the cycle."""
    rng = np.random.default_rng(0)
    t, ds = np.arange(160), pd.date_range("2024-01-01", periods=160, freq="h")
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "unique_id": f"s{i}",
                    "ds": ds,
                    "y": 10
                    + 3 * np.sin(2 * np.pi * t / 12 + rng.uniform(0, 2 * np.pi))
                    + rng.normal(0, 0.1, len(t)),
                }
            )
            for i in range(4)
        ],
        ignore_index=True,
    )


def good():
    return RNNForecaster(cell="gru", hidden_size=16, max_epochs=8, learning_rate=1e-2, **COMMON)


def bad():  # barely trained, no smoothing base: its forecasts are near the series mean
    return RNNForecaster(
        cell="rnn", hidden_size=8, max_epochs=1, learning_rate=1e-6, window_norm=None, **COMMON
    )


def test_candidate_grid_names_and_params():
    grid = candidate_grid(
        cells=("lstm", "gru"), bidirectional=(False, True), hidden_sizes=(8, 16), horizon=3
    )
    assert len(grid) == 8
    est = grid["gru-bi-h16"]
    assert (est.cell, est.bidirectional, est.hidden_size, est.horizon) == ("gru", True, 16, 3)


def test_select_model_ranks_the_trained_gru_above_naive_and_a_bad_candidate(sines):
    result = select_model({"good": good(), "bad": bad()}, sines, n_windows=2, season_length=1)
    board = result.leaderboard
    assert list(board["candidate"]) == ["good", "bad", "seasonal_naive"]
    assert list(board["rank"]) == [1, 2, 3]
    assert board["mase"].iloc[0] < 0.5 < 1.0 < board["mase"].iloc[2]
    assert board["reference"].tolist() == [False, False, True]
    assert json.loads(board["params"].iloc[0])["cell"] == "gru"
    assert {"mae", "rmse", "smape", "mase", "fit_seconds"} <= set(board.columns)
    assert result.best_name == "good" and result.best_params["learning_rate"] == 1e-2
    assert len(result.best_estimator.predict()) == 4 * H  # refitted on all the data
    assert result.results["good"].backtest.forecasts["cutoff"].nunique() == 2


def test_best_is_the_best_candidate_other_than_the_reference(sines):
    candidates = {
        "last": SeasonalNaive(horizon=H),
        "noisy": SeasonalNaive(horizon=H, season_length=5),
    }
    result = select_model(
        candidates, sines, n_windows=2, metric="mae", season_length=12, refit_best=False
    )
    assert result.best_name == "seasonal_naive"  # the period-12 reference beats both
    assert (
        result.best == result.leaderboard["candidate"].iloc[1] and result.best != "seasonal_naive"
    )
    result = select_model({"good": good()}, sines, n_windows=2, season_length=1, refit_best=False)
    assert result.best == result.best_name == "good"


def test_owa_column_and_ranking_against_the_reference_row(sines):
    candidates = {
        "daily": SeasonalNaive(horizon=H, season_length=12),
        "last": SeasonalNaive(horizon=H),
    }
    board = select_model(
        candidates, sines, n_windows=2, metric="owa", season_length=1, refit_best=False
    ).leaderboard
    assert list(board["candidate"]) == ["daily", "last", "seasonal_naive"] or list(
        board["candidate"]
    ) == ["daily", "seasonal_naive", "last"]  # last == the m=1 reference: a tie
    ref = board.set_index("candidate").loc["seasonal_naive"]
    daily = board.set_index("candidate").loc["daily"]
    assert ref["owa"] == pytest.approx(1.0) and board.set_index("candidate").loc[
        "last", "owa"
    ] == pytest.approx(1.0)
    assert daily["owa"] == pytest.approx(
        0.5 * (daily["smape"] / ref["smape"] + daily["mase"] / ref["mase"])
    )
    assert daily["owa"] < 0.2
    with pytest.raises(ValueError, match="metric must be one of"):
        select_model(candidates, sines, metric="r2")


def test_executor_and_threads_give_the_same_leaderboard(sines):
    candidates = {
        "daily": SeasonalNaive(horizon=H, season_length=12),
        "last": SeasonalNaive(horizon=H),
    }
    serial = select_model(candidates, sines, n_windows=3, refit_best=False).leaderboard
    with ThreadPoolExecutor(2) as pool:
        pooled = select_model(
            candidates, sines, n_windows=3, executor=pool, refit_best=False
        ).leaderboard
    threaded = select_model(candidates, sines, n_windows=3, n_jobs=2, refit_best=False).leaderboard
    for other in (pooled, threaded):
        pd.testing.assert_frame_equal(
            serial.drop(columns=["fit_seconds", "seconds"]),
            other.drop(columns=["fit_seconds", "seconds"]),
        )
    assert serial["candidate"].iloc[0] == "daily"


def test_evaluate_candidate_is_one_job(sines):
    result = evaluate_candidate(
        "daily", SeasonalNaive(horizon=H, season_length=12), sines, n_windows=2
    )
    assert result.name == "daily" and result.backtest.n_fits == 1
    assert result.metrics["mase"] == pytest.approx(result.backtest.aggregate["mase"])


def test_a_failing_candidate_is_reported_and_ranked_last(sines):
    broken = RNNForecaster(
        lookback=500, horizon=H, max_epochs=1, short_series="error", verbose=False
    )
    with pytest.warns(RuntimeWarning, match="candidate 'broken' failed"):
        result = select_model(
            {"broken": broken, "daily": SeasonalNaive(horizon=H, season_length=12)},
            sines,
            refit_best=False,
        )
    last = result.leaderboard.iloc[-1]
    assert last["candidate"] == "broken" and np.isnan(last["mase"]) and "lookback" in last["error"]


def test_candidates_must_share_a_horizon(sines):
    with pytest.raises(ValueError, match="share one horizon"):
        select_model({"a": SeasonalNaive(horizon=3), "b": SeasonalNaive(horizon=4)}, sines)


def test_temporal_split_test_fold_is_history_plus_the_next_horizon(sines):
    shuffled = sines.sample(frac=1.0, random_state=0).reset_index(drop=True)
    splits = list(TemporalSplit(n_splits=2, horizon=H, step=3).split(shuffled))
    assert len(splits) == 2
    for k, (train, test) in enumerate(splits):
        cut = 160 - H - (1 - k) * 3 - 1  # position of the cutoff in every series
        per_series = shuffled.iloc[train].groupby("unique_id")["ds"]
        assert (per_series.size() == cut + 1).all()
        test_sizes = shuffled.iloc[test].groupby("unique_id")["ds"].size()
        assert (test_sizes == cut + 1 + H).all()
        assert shuffled.iloc[train]["ds"].max() < shuffled.iloc[test]["ds"].max()
    _, test = next(TemporalSplit(n_splits=1, horizon=H, context=30).split(sines))
    assert len(test) == 4 * (30 + H)


def test_grid_search_with_temporal_split_picks_by_forecast_error(sines):
    cv = TemporalSplit(n_splits=2, horizon=H)
    search = GridSearchCV(good(), {"learning_rate": [1e-6, 1e-2]}, cv=cv).fit(sines)
    assert search.best_params_ == {"learning_rate": 1e-2}
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] > scores[0] and scores[1] < 0  # negative MAE
    naive = GridSearchCV(SeasonalNaive(horizon=H), {"season_length": [1, 12]}, cv=cv).fit(sines)
    assert naive.best_params_ == {"season_length": 12}


def test_candidate_grid_spans_heads_and_skips_bidirectional_recursive():
    from forecast.evaluation.selection import candidate_grid

    grid = candidate_grid(
        cells=("gru",),
        bidirectional=(False, True),
        hidden_sizes=(8,),
        heads=("direct", "seq2seq", "recursive"),
        lookback=8,
        horizon=2,
    )
    assert set(grid) == {
        "gru-h8",
        "gru-bi-h8",
        "gru-h8-seq2seq",
        "gru-bi-h8-seq2seq",
        "gru-h8-recursive",
    }
    assert grid["gru-bi-h8-seq2seq"].get_params()["head"] == "seq2seq"
