"""Issue 23 item 4: what used to grow faster than linearly in the number of series (or with the
whole panel per epoch) now does not, and gives the same answers as before. Correctness only:
the timings live in benchmarks/bench_scale.py --m5 (RESULTS-scale.md)."""

import re

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import RNNForecaster
from forecast.data import frames, future, windows
from forecast.data.calendar import calendar_features, future_dates
from forecast.data.frames import validate
from forecast.data.panel import Layout, build_panel
from forecast.datasets.synthetic import make_panel
from forecast.evaluation import folds as folds_mod
from forecast.evaluation.backtesting import backtest
from forecast.fitted import inference


@pytest.fixture(scope="module")
def ragged():
    """A validated ragged panel (different starts and a few different ends) with covariates."""
    df = make_panel(
        n_series=7, length=60, freq="D", seed=4, ragged=True, past_covariates=1, future_covariates=1
    )
    cut = (
        df.groupby("unique_id").cumcount(ascending=False) >= df["unique_id"].str[-1].astype(int) % 3
    )
    return validate(df[cut], ["past_0", "future_0"])


# ------------------------------------------------------------------ backtest folds and assembly
def test_folds_find_series_by_their_runs_as_np_unique_did(ragged):
    long, _ = ragged
    f = folds_mod.make_folds(long, horizon=5, n_windows=3, step=4)
    ids, starts = np.unique(long["unique_id"].to_numpy(), return_index=True)
    assert list(f.ids) == list(ids)
    assert np.array_equal(f.offsets[:-1], starts)
    assert np.array_equal(f.positions(), long.groupby("unique_id").cumcount().to_numpy())


def _visible_by_groupby(long, pos, last_cut, horizon, known):
    """The former implementation: a copy, NaN after the cutoff, then a groupby forward fill."""
    keep = pos <= last_cut + horizon
    frame = long.loc[keep].copy()
    after = (pos > last_cut)[keep]
    hidden = [c for c in frame.columns if c not in known]
    frame.loc[after, hidden] = np.nan
    frame[hidden] = frame.groupby("unique_id", sort=False)[hidden].ffill()
    return frame


@pytest.mark.parametrize("window", [0, 1, 2])
def test_visible_repeats_the_cutoff_value_exactly_as_a_groupby_ffill(ragged, window):
    long, _ = ragged
    f = folds_mod.make_folds(long, horizon=5, n_windows=3, step=4)
    pos, last = f.positions(), f.row_cutoffs(window)
    est = RNNForecaster(future_covariates=("future_0",), past_covariates=("past_0",))
    got = folds_mod.visible(long, pos, last, 5, est)
    want = _visible_by_groupby(long, pos, last, 5, {"unique_id", "ds", "future_0"})
    pd.testing.assert_frame_equal(got, want)
    assert (got["y"].to_numpy() != long["y"].to_numpy()[got.index]).any()  # something hidden


def test_visible_shares_the_columns_it_keeps_when_every_row_is_kept(ragged):
    long, _ = ragged
    f = folds_mod.make_folds(long, horizon=5, n_windows=1, step=5)
    got = folds_mod.visible(long, f.positions(), f.row_cutoffs(0), 5, RNNForecaster())
    assert len(got) == len(long)
    assert np.shares_memory(got["ds"].to_numpy(), long["ds"].to_numpy())


@pytest.mark.parametrize("refit", [False, 2, True])
def test_backtest_forecasts_come_sorted_by_series_window_and_step(ragged, refit):
    long, _ = ragged
    est = RNNForecaster(hidden_size=4, lookback=7, horizon=3, max_steps=2, season_length=1)
    est.set_params(verbose=False)
    res = backtest(est, long[["unique_id", "ds", "y"]], n_windows=3, refit=refit)
    fc = res.forecasts
    want = fc.sort_values(["unique_id", "window", "step"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(fc, want)
    assert fc.index.equals(pd.RangeIndex(len(fc)))
    assert len(fc) == long["unique_id"].nunique() * 3 * 3


# ------------------------------------------------------------------ the horizon rows of predict
def test_horizon_dates_and_calendar_are_made_once_per_end_and_equal_per_series(ragged, monkeypatch):
    long, freqs = ragged
    layout = Layout(("past_0",), ("future_0",), (), "D", 4)
    panel = build_panel(long, freqs, layout)
    ends = {(d, f) for d, f in zip(panel.last_ds, panel.freqs)}
    assert 1 < len(ends) < panel.n_series  # some series end together, some do not
    calls = []
    monkeypatch.setattr(
        future, "future_dates", lambda *a: calls.append(a) or future_dates(*a), raising=True
    )
    xf = pd.DataFrame(
        {
            "unique_id": np.repeat(panel.ids, 3),
            "ds": np.concatenate([future_dates(d, "D", 3) for d in panel.last_ds]),
            "future_0": np.arange(3 * panel.n_series, dtype=float),
        }
    )
    block, dates = future.future_block(panel, layout, 3, xf)
    assert len(calls) == len(ends)
    for s in range(panel.n_series):
        want = future_dates(panel.last_ds[s], "D", 3)
        assert dates[s].equals(want)
        rows = block[3 * s : 3 * s + 3]
        assert np.array_equal(rows[:, -4:], calendar_features(want, "D"))
        assert np.array_equal(rows[:, 2], np.arange(3 * s, 3 * s + 3, dtype=float))


# ------------------------------------------------------------------ the epoch's windows
def test_small_indexes_keep_the_permutation_draw_for_draw():
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    got = windows.epoch_order(5000, g1, limit=300)
    want = torch.randperm(5000, generator=g2, dtype=torch.int32)[:300]
    assert torch.equal(got, want)
    assert torch.equal(windows.epoch_order(10, shuffle=False, limit=4), torch.arange(4).int())


def test_an_epoch_of_a_large_index_draws_its_windows_without_a_full_permutation(monkeypatch):
    monkeypatch.setattr(windows, "SAMPLE_FROM", 1000)

    def forbidden(*a, **k):
        raise AssertionError("a permutation of every window")

    n, limit = 20_000, 300
    monkeypatch.setattr(torch, "randperm", forbidden)
    a = windows.epoch_order(n, torch.Generator().manual_seed(0), limit=limit)
    b = windows.epoch_order(n, torch.Generator().manual_seed(0), limit=limit)
    g = torch.Generator().manual_seed(0)
    epochs = [windows.epoch_order(n, g, limit=limit) for _ in range(50)]
    assert torch.equal(a, b) and a.dtype == torch.int32  # seeded
    assert len(a) == limit and len(torch.unique(a)) == limit  # distinct
    assert int(a.min()) >= 0 and int(a.max()) < n
    assert not torch.equal(epochs[0], epochs[1])  # each epoch its own draw
    assert not torch.equal(a, torch.sort(a).values)  # in random order
    seen = torch.cat(epochs).long()
    counts = torch.bincount(seen // 2000, minlength=10).float()  # 15,000 draws, 10 bins
    assert (counts - 1500).abs().max() < 200  # uniform over the windows (about 5 sd)


def test_a_fit_over_a_sampled_index_trains_on_the_planned_windows(monkeypatch):
    monkeypatch.setattr(windows, "SAMPLE_FROM", 1000)
    df = make_panel(n_series=4, length=700, freq="h", seed=0)
    seen = []
    real = windows.WindowIndex.locate

    def spy(self, k):
        seen.append(k.clone())
        return real(self, k)

    monkeypatch.setattr(windows.WindowIndex, "locate", spy)
    est = RNNForecaster(
        hidden_size=4,
        lookback=24,
        horizon=6,
        batch_size=8,
        windows_per_epoch=32,
        max_epochs=2,
        season_length=1,
    )
    est.set_params(verbose=False, device="cpu").fit(df)
    assert est.n_train_windows_ >= 32 * windows.SAMPLE_SHARE  # the sampled path was taken
    drawn = torch.cat(seen)
    assert len(drawn) == 2 * 32 and len(torch.unique(drawn[:32])) == 32
    assert np.isfinite(est.predict()["y_pred"]).all()


# ------------------------------------------------------------------ naming a row's series
def test_a_log_scaler_error_names_the_series_of_the_bad_row_without_a_row_id_array():
    df = make_panel(n_series=5, length=80, freq="h", seed=0)
    df["y"] = df["y"].abs() + 1
    df.loc[(df["unique_id"] == "series_3").to_numpy().nonzero()[0][40], "y"] = -2.0
    est = RNNForecaster(horizon=4, lookback=8, scaler=("log", "standard"), max_steps=1)
    est.set_params(season_length=1)
    with pytest.raises(ValueError, match=r"value -2\.0 of series 'series_3'"):
        est.set_params(verbose=False).fit(df)


# ------------------------------------------------------------------ predict_at's origins
@pytest.mark.parametrize("time", ["naive", "zoned", "integer"])
def test_origins_are_found_by_bisection_at_the_rows_an_index_of_every_row_finds(ragged, time):
    long, freqs = ragged
    if time == "zoned":
        long = long.assign(ds=long["ds"].dt.tz_localize("Europe/Paris"))
    if time == "integer":
        long = long.assign(ds=long.groupby("unique_id").cumcount().astype("int64") + 5)
    panel = build_panel(long, freqs, Layout())
    rng = np.random.default_rng(0)
    rows = rng.choice(len(long), 40)  # any rows, in any order, repeats included
    origins = pd.DataFrame({"unique_id": long["unique_id"].to_numpy()[rows]})
    origins["cutoff"] = long["ds"].to_numpy()[rows]
    series, found = inference._find_origins(panel, long, origins)
    ids, want = frames.origin_rows(long, origins, known=panel.ids)
    assert np.array_equal(found, want) and np.array_equal(found, rows)
    assert list(panel.ids[series]) == list(ids)


@pytest.mark.parametrize(
    "bad",
    [
        lambda o: o.assign(unique_id="nope"),
        lambda o: o.assign(cutoff=o["cutoff"] + pd.Timedelta(hours=1)),
        lambda o: o.assign(cutoff=o["cutoff"] + pd.Timedelta(days=400)),
        lambda o: o.assign(cutoff="not a time"),
        lambda o: o.drop(columns="cutoff"),
        lambda o: o.iloc[:0],
        lambda o: o.to_numpy(),
    ],
)
def test_origins_that_are_not_found_get_the_errors_of_the_row_index(ragged, bad):
    long, freqs = ragged
    panel = build_panel(long, freqs, Layout())
    origins = bad(pd.DataFrame({"unique_id": ["series_2"], "cutoff": [long["ds"].iloc[70]]}))
    with pytest.raises((ValueError, TypeError)) as want:
        frames.origin_rows(long, origins, known=panel.ids)
    with pytest.raises(type(want.value), match=re.escape(str(want.value))):
        inference._find_origins(panel, long, origins)


# ------------------------------------------------------------------ new history's frequencies
def test_frequencies_are_compared_once_per_pair_and_the_odd_series_is_named(monkeypatch):
    from forecast.fitted import state as state_mod

    df = make_panel(n_series=6, length=40, freq="D", seed=0)
    est = RNNForecaster(horizon=3, lookback=6, max_steps=1, season_length=1)
    est.set_params(verbose=False).fit(df)
    freqs = {uid: "D" for uid in est.state_.ids}
    freqs["series_4"] = "h"
    calls = []
    real = state_mod.same_frequency
    monkeypatch.setattr(state_mod, "same_frequency", lambda a, b: calls.append(1) or real(a, b))
    found = est.state_.mismatch(freqs)
    assert len(calls) == 2  # ("D", "D") and ("D", "h"), for 6 series
    assert found.frequencies == [("series_4", "h", "D")]
    assert found.unknown == [] and found.missing == []


# ------------------------------------------------------------------ MASE scales and rows_at
def _rows_by_index(long, ids, times):
    """The former ``frames.rows_at``: an index of every row's (id, ds)."""
    key = pd.MultiIndex.from_arrays([long["unique_id"].to_numpy(), long["ds"].to_numpy()])
    times = frames.times_like(times, long["ds"], "origins", "cutoff")
    return key.get_indexer(pd.MultiIndex.from_arrays([ids, times.to_numpy()]))


def _scales_by_groupby(forecasts, train_df, season_length=1):
    """The former ``tables.scales``: the whole frame sorted, grouped by its string ids."""
    from forecast.metrics.point import warn_if

    train = frames.sorted_long(train_df, ("unique_id", "ds", "y"), "train_df")
    pos = train.groupby("unique_id", sort=False).cumcount().to_numpy()
    cum, cnt = {}, {}
    for m in {season_length, 1}:
        lagged = train.groupby("unique_id", sort=False)["y"].shift(m).to_numpy()
        diff = np.abs(train["y"].to_numpy() - lagged)
        ok = (pos >= m) & np.isfinite(diff)
        grouped = train.assign(_d=np.where(ok, diff, 0.0), _n=ok.astype(np.int64)).groupby(
            "unique_id", sort=False
        )
        cum[m], cnt[m] = grouped["_d"].cumsum().to_numpy(), grouped["_n"].cumsum().to_numpy()
    ids = forecasts["unique_id"].astype(str).to_numpy()
    if "cutoff" in forecasts.columns:
        rows = _rows_by_index(train, ids, forecasts["cutoff"])
    else:
        last = pd.Series(np.arange(len(train)), index=train["unique_id"].to_numpy())
        rows = last.groupby(level=0).max().reindex(ids).fillna(-1).to_numpy(dtype=np.int64)
    assert (rows >= 0).all()
    n = pos[rows] + 1
    m = np.where(n > season_length, season_length, 1)
    warn_if(
        (n <= season_length) & (n >= 2),
        ids,
        f"mase: series no longer than season_length={season_length}; using the lag-1 (naive) scale",
    )
    warn_if(n < 2, ids, "mase: fewer than 2 training points, no scale (NaN)")
    total = np.where(m == season_length, cum[season_length][rows], cum[1][rows])
    count = np.where(m == season_length, cnt[season_length][rows], cnt[1][rows])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n >= 2) & (count > 0), total / count, np.nan)


def _messy_history(time, ids="str", seed=0):
    """Rows in no order, with gaps (rows left out), missing targets, a series of one point and
    one shorter than a week, at ``time``'s frequency."""
    rng = np.random.default_rng(seed)
    df = make_panel(n_series=7, length=45, freq="D", seed=seed)[["unique_id", "ds", "y"]]
    step = df.groupby("unique_id").cumcount()
    if time == "hourly":
        df["ds"] = pd.Timestamp("2024-03-30") + pd.to_timedelta(step, "h")
    elif time == "zoned":  # across a daylight-saving change
        utc = pd.Timestamp("2024-03-30 20:00", tz="UTC") + pd.to_timedelta(step, "h")
        df["ds"] = utc.dt.tz_convert("Europe/Paris")
    elif time == "integer":
        df["ds"] = (step * 3 + 5).astype("int64")
    df.loc[rng.random(len(df)) < 0.1, "y"] = np.nan
    number = df["unique_id"].str[-1].astype(int)
    first, short = (number == 0) & (step == 0), (number == 1) & (step <= 4)
    keep = np.where(number < 2, first | short, rng.random(len(df)) > 0.15)
    df = df[keep]
    if ids == "int":
        df = df.assign(unique_id=df["unique_id"].str[-1].astype(int))
    return df.iloc[rng.permutation(len(df))].reset_index(drop=True)


@pytest.mark.parametrize("season_length", [1, 7])
@pytest.mark.parametrize(
    "time,ids", [("daily", "str"), ("hourly", "str"), ("zoned", "str"), ("integer", "int")]
)
def test_mase_scales_from_series_offsets_equal_the_sorted_groupby_ones(
    time, ids, season_length, monkeypatch
):
    from forecast.metrics import tables

    train = _messy_history(time, ids)
    first = train.groupby("unique_id")["ds"].idxmin().to_numpy()  # n = 1: no scale, a warning
    picks = np.r_[np.random.default_rng(1).choice(len(train), 60), first]  # repeats too
    at_cutoffs = pd.DataFrame(
        {
            "unique_id": train["unique_id"].astype(str).to_numpy()[picks],
            "cutoff": train["ds"].iloc[picks],
        }
    )
    at_ends = at_cutoffs[["unique_id"]].iloc[::-1]  # no cutoff: all of each series' history
    monkeypatch.setattr(tables, "CHUNK", 50)  # several passes, series split between none
    for forecasts in (at_cutoffs, at_ends):
        with pytest.warns(RuntimeWarning) as want:
            old = _scales_by_groupby(forecasts, train, season_length)
        with pytest.warns(RuntimeWarning) as got:
            new = tables.scales(forecasts, train, season_length)
        assert np.array_equal(new, old, equal_nan=True)  # bit for bit, NaN where no scale
        assert np.isfinite(new).sum() > len(new) // 2
        assert [str(w.message) for w in got] == [str(w.message) for w in want]


def test_a_backtest_scores_mase_as_the_groupby_scales_did(ragged, monkeypatch):
    from forecast.metrics import tables

    long, _ = ragged
    fc = long[["unique_id", "ds", "y"]].groupby("unique_id").tail(12)
    fc = fc.assign(y_pred=fc["y"] * 1.1, cutoff=fc.groupby("unique_id")["ds"].transform("min"))
    fc = fc.assign(cutoff=fc["cutoff"] - pd.Timedelta(days=1))
    new = tables.evaluate(fc, long, ["mase", "mae"], season_length=7)
    monkeypatch.setattr(tables, "scales", _scales_by_groupby)
    old = tables.evaluate(fc, long, ["mase", "mae"], season_length=7)
    pd.testing.assert_frame_equal(new, old, check_exact=True)


@pytest.mark.parametrize("time", ["daily", "zoned", "integer"])
def test_rows_at_finds_by_bisection_the_rows_an_index_of_every_row_finds(time):
    long = _messy_history(time)
    rng = np.random.default_rng(2)
    picks = rng.choice(len(long), 50)
    ids = long["unique_id"].to_numpy()[picks].astype(object)
    ids[::7] = "nope"  # series it does not hold
    times = long["ds"].iloc[picks].reset_index(drop=True)
    if time == "integer":
        times[::5] += 1  # times it does not hold
    else:
        times[::5] += pd.Timedelta(minutes=1)
    for frame in (long, long.sort_values(["unique_id", "ds"], ignore_index=True)):
        want = _rows_by_index(frame, ids, times)
        assert np.array_equal(frames.rows_at(frame, ids, times), want)
        assert (want == -1).sum() >= 10 and (want >= 0).sum() >= 20


def test_a_time_held_twice_is_named_instead_of_picked(ragged):
    from forecast.metrics import tables

    long, _ = ragged
    twice = pd.concat([long, long.iloc[[30]]], ignore_index=True)
    origins = long[["unique_id", "ds"]].iloc[[5]].rename(columns={"ds": "cutoff"})
    uid, when = long["unique_id"].iloc[30], long["ds"].iloc[30]
    with pytest.raises(ValueError, match=re.escape(f"series '{uid}' has time {when} twice")):
        frames.rows_at(twice, origins["unique_id"].to_numpy(), origins["cutoff"])
    with pytest.raises(ValueError, match=re.escape(f"series '{uid}' has time {when} twice")):
        tables.scales(origins, twice, 7)
