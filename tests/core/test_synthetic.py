"""The seeded generators of synthetic panels."""

import numpy as np
import pandas as pd
import pytest

from forecast.datasets import synthetic


def _is_regular(ds, freq):
    ds = pd.DatetimeIndex(ds)
    return ds.equals(pd.date_range(ds[0], periods=len(ds), freq=freq))


def _rain_spells(rain):
    """(start, end) index pairs of the runs of 1s in a 0/1 array, end exclusive."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], rain, [0]])) != 0)
    return edges[::2], edges[1::2]


def test_make_panel_shape_dtypes_and_calendar():
    df = synthetic.make_panel(
        n_series=4, length=300, freq="h", past_covariates=2, future_covariates=1
    )
    assert list(df.columns) == ["unique_id", "ds", "y", "past_0", "past_1", "future_0"]
    assert df.shape == (1200, 6) and df["unique_id"].nunique() == 4
    assert df["ds"].dtype == "datetime64[ns]" and df["y"].dtype == np.float64
    assert df["ds"].iloc[0] == pd.Timestamp("2024-01-01") and _is_regular(df["ds"].iloc[:300], "h")
    assert df.notna().all().all()
    assert df.equals(df.sort_values(["unique_id", "ds"]))


def test_make_panel_is_deterministic_per_seed_and_differs_across_seeds():
    a = synthetic.make_panel(5, 200, seed=7, past_covariates=1, future_covariates=1)
    b = synthetic.make_panel(5, 200, seed=7, past_covariates=1, future_covariates=1)
    c = synthetic.make_panel(5, 200, seed=8, past_covariates=1, future_covariates=1)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["y"], c["y"])
    per_series = a.groupby("unique_id")["y"].mean()
    assert per_series.nunique() == 5  # series differ from one another


def test_make_panel_has_daily_seasonality():
    df = synthetic.make_panel(n_series=3, length=24 * 56, freq="h", noise=0.01, seed=1)
    for _, g in df.groupby("unique_id"):
        y = g["y"].to_numpy()
        dy = y[24:] - y[:-24]  # a 24-hour difference removes the daily cycle
        d1 = y[1:] - y[:-1]
        lag24 = np.corrcoef(d1[24:], d1[:-24])[0, 1]
        lag12 = np.corrcoef(d1[12:], d1[:-12])[0, 1]
        assert lag24 > lag12 and np.std(dy) < np.std(y)


def test_covariates_drive_the_target():
    lag = 3
    df = synthetic.make_panel(6, 1500, seed=2, past_covariates=1, future_covariates=2, past_lag=lag)
    for _, g in df.groupby("unique_id"):
        dy = np.diff(g["y"].to_numpy())
        dp = np.diff(g["past_0"].to_numpy())
        assert np.corrcoef(dy[lag:], dp[:-lag])[0, 1] > 0.3  # y[t] follows past_0[t - lag] ...
        assert abs(np.corrcoef(dy, dp)[0, 1]) < 0.15  # ... but not past_0[t]
        for col in ["future_0", "future_1"]:
            assert np.corrcoef(dy, np.diff(g[col].to_numpy()))[0, 1] > 0.2
    assert set(np.unique(df["future_0"])) == {0.0, 1.0}  # even future covariates are promotions


def test_make_panel_ragged_series_share_the_end_date():
    df = synthetic.make_panel(8, 100, freq="D", ragged=True, seed=3, future_covariates=1)
    spans = df.groupby("unique_id")["ds"].agg(["min", "max", "count"])
    assert spans["max"].nunique() == 1 and spans["min"].nunique() > 1
    assert spans["count"].between(50, 100).all()
    assert ((spans["max"] - spans["min"]).dt.days + 1 == spans["count"]).all()


def test_make_panel_is_fast_for_100_series_of_2000_points():
    df = synthetic.make_panel(100, 2000, past_covariates=1, future_covariates=1)
    assert len(df) == 200_000


def test_make_routine_cycles_and_sleeps_when_it_rains():
    df = synthetic.make_routine(n_days=400, rain_prob=0.2, spell_length=(2, 5), seed=4, n_series=3)
    assert list(df.columns) == ["unique_id", "ds", "y", "rain"] and len(df) == 1200
    assert _is_regular(df["ds"].iloc[:400], "D")
    for _, g in df.groupby("unique_id"):
        y, rain = g["y"].to_numpy(), g["rain"].to_numpy()
        assert (y[rain == 1] == 3).all() and (y[rain == 0] < 3).all()
        dry = y[rain == 0]
        assert (np.diff(dry) % 3 == 1).all()  # run -> bike -> swim -> run, pauses and all
        starts, ends = _rain_spells(rain)
        lengths = (ends - starts)[:-1] if ends[-1] == len(rain) else ends - starts
        assert len(lengths) > 10 and lengths.min() >= 2 and lengths.max() <= 5
        assert len(set(lengths)) > 1  # lengths are drawn from the range
        for s, e in zip(starts, ends):  # after the rain the cycle resumes where it left off
            if s > 0 and e < len(rain):
                assert y[e] == (y[s - 1] + 1) % 3


def test_make_routine_seeded_and_spell_length_as_int():
    a = synthetic.make_routine(100, seed=1, spell_length=4, rain_prob=0.3)
    pd.testing.assert_frame_equal(
        a, synthetic.make_routine(100, seed=1, spell_length=4, rain_prob=0.3)
    )
    assert not a.equals(synthetic.make_routine(100, seed=2, spell_length=4, rain_prob=0.3))
    rain = a["rain"].to_numpy()
    starts, ends = _rain_spells(rain)
    runs = ends - starts
    assert (runs[:-1] == 4).all() and runs[-1] <= 4  # the last spell may be cut off by the end
    with pytest.raises(ValueError, match="spell_length"):
        synthetic.make_routine(10, spell_length=(3, 1))
