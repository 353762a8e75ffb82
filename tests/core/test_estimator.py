"""RNNForecaster: shapes, covariates, scikit-learn contract, save/load, determinism, accuracy."""

import itertools
import time

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from forecast import Naive, RNNForecaster, SeasonalNaive
from forecast.training import schedules as lr_schedules
from forecast.training.callbacks import TeacherForcing

TINY = dict(hidden_size=8, lookback=24, horizon=6, max_epochs=2, batch_size=64, seed=0)


def panel(n=3, length=120, freq="h", seed=0, covariates=True):
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        ds = pd.date_range("2024-01-01", periods=length + 5 * i, freq=freq)
        t = np.arange(len(ds))
        promo = (rng.random(len(ds)) < 0.2).astype(float)
        temp = np.sin(t / 7.0)
        y = 10 + i + 2 * np.sin(2 * np.pi * t / 24) + 3 * promo + rng.normal(0, 0.2, len(ds))
        frame = pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": y})
        if covariates:
            frame = frame.assign(promo=promo, temp=temp, size=float(i + 1))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def future_frame(df, horizon, freq="h", **cols):
    rows = []
    for uid, g in df.groupby("unique_id"):
        ds = pd.date_range(g.ds.max(), periods=horizon + 1, freq=freq)[1:]
        rows.append(pd.DataFrame({"unique_id": uid, "ds": ds, **{c: v for c, v in cols.items()}}))
    return pd.concat(rows, ignore_index=True)


COVARIATE_KINDS = {
    "none": {},
    "past": {"past_covariates": ("temp",)},
    "future": {"future_covariates": ("promo",)},
    "static": {"static_covariates": ("size",)},
    "calendar": {"calendar": True},
}


@pytest.mark.parametrize(
    "cell,bidirectional,kind",
    list(itertools.product(["rnn", "lstm", "gru"], [False, True], COVARIATE_KINDS)),
)
def test_every_cell_direction_and_covariate_kind_forecasts_right_shape(cell, bidirectional, kind):
    df = panel()
    model = RNNForecaster(
        cell=cell, bidirectional=bidirectional, **{**TINY, "max_epochs": 1}, **COVARIATE_KINDS[kind]
    )
    model.fit(df)
    x_future = future_frame(df, 6, promo=0.0) if kind == "future" else None
    fc = model.predict(X_future=x_future)
    assert list(fc.columns) == ["unique_id", "ds", "y_pred"]
    assert len(fc) == 3 * 6
    assert np.isfinite(fc.y_pred).all()
    for uid, g in fc.groupby("unique_id"):
        last = df.loc[df.unique_id == uid, "ds"].max()
        assert list(g.ds) == list(pd.date_range(last, periods=7, freq="h")[1:])


def test_sum_merge_and_relu_rnn_train():
    df = panel(covariates=False)
    model = RNNForecaster(
        cell="rnn_relu", bidirectional="sum", num_layers=2, dropout=0.1, **TINY
    ).fit(df)
    assert model.predict().shape == (18, 3)
    encoder = model.module_.encoder
    assert encoder.rnn.nonlinearity == "relu" and encoder.merge == "sum" and encoder.out_size == 8


def test_wide_frame_and_series_round_trip_kind():
    df = panel(covariates=False)
    wide = df.pivot(index="ds", columns="unique_id", values="y").dropna()
    out = RNNForecaster(**TINY).fit(wide).predict()
    assert (
        isinstance(out, pd.DataFrame) and list(out.columns) == ["s0", "s1", "s2"] and len(out) == 6
    )
    series = wide["s1"].rename("sales")
    out = RNNForecaster(**TINY).fit(series).predict()
    assert isinstance(out, pd.Series) and out.name == "sales" and len(out) == 6


def test_wide_frame_with_series_of_different_lengths_equals_the_long_frame():
    df = panel(covariates=False)  # s0, s1, s2 end 5 hours apart: NaN-padded at the end when wide
    df = df[~((df.unique_id == "s2") & (df.ds < "2024-01-01 10:00"))]  # and s2 starts later
    wide = df.pivot(index="ds", columns="unique_id", values="y")
    assert wide.isna().any().all()
    from_wide = RNNForecaster(**TINY).fit(wide).predict()
    from_long = RNNForecaster(**TINY).fit(df).predict()
    back = (
        from_wide.rename_axis(index="ds", columns=None)
        .reset_index()
        .melt(id_vars="ds", var_name="unique_id", value_name="y_pred")
        .dropna()
    )
    assert len(back) == len(from_long) == 18
    merged = from_long.merge(back, on=["unique_id", "ds"])
    assert np.allclose(merged.y_pred_x, merged.y_pred_y, atol=1e-5)
    with pytest.raises(ValueError, match=r"column\(s\) \['empty'\] hold no values"):
        RNNForecaster(**TINY).fit(wide.assign(empty=np.nan))


def test_custom_column_names_come_back():
    df = panel(covariates=False).rename(columns={"unique_id": "store", "ds": "time", "y": "sales"})
    fc = (
        RNNForecaster(**TINY).fit(df, id_col="store", time_col="time", target_col="sales").predict()
    )
    assert list(fc.columns) == ["store", "time", "y_pred"]


def test_unsorted_input_is_sorted_not_rejected():
    df = panel(covariates=False)
    a = RNNForecaster(**TINY).fit(df).predict()
    b = RNNForecaster(**TINY).fit(df.sample(frac=1.0, random_state=1)).predict()
    pd.testing.assert_frame_equal(a, b)


def test_future_covariates_required_at_predict():
    df = panel()
    model = RNNForecaster(future_covariates=("promo",), **TINY).fit(df)
    with pytest.raises(ValueError, match="X_future"):
        model.predict()
    partial = future_frame(df, 6, promo=0.0).iloc[:-1]
    with pytest.raises(ValueError, match="lacks values for series 's2'"):
        model.predict(X_future=partial)


def test_future_covariate_changes_forecast():
    df = panel(n=4, length=300)
    model = RNNForecaster(future_covariates=("promo",), **{**TINY, "max_epochs": 15}).fit(df)
    low = model.predict(X_future=future_frame(df, 6, promo=0.0))
    high = model.predict(X_future=future_frame(df, 6, promo=1.0))
    assert (high.y_pred - low.y_pred).mean() > 1.0  # the promotion lifts y by 3 in the data


def test_predict_from_new_history_without_refit():
    df = panel(covariates=False)
    model = RNNForecaster(**TINY).fit(df)
    cut = df.groupby("unique_id").head(100)
    fc = model.predict(cut)
    assert len(fc) == 18
    assert (fc.groupby("unique_id").ds.min() > cut.groupby("unique_id").ds.max()).all()
    only_one = model.predict(cut[cut.unique_id == "s1"])
    assert set(only_one.unique_id) == {"s1"}


def test_sklearn_contract_clone_params_not_fitted():
    model = RNNForecaster(cell="gru", bidirectional=True, lookback=10, horizon=3)
    params = model.get_params()
    assert params["cell"] == "gru" and params["bidirectional"] is True
    twin = clone(model)
    assert twin.get_params() == params and twin is not model
    twin.set_params(cell="rnn", hidden_size=4)
    assert twin.cell == "rnn" and model.cell == "gru"
    with pytest.raises(NotFittedError):
        model.predict()
    for value in params.values():
        assert value is None or isinstance(value, (str, int, float, bool, tuple))
    assert model.fit(panel(covariates=False)) is model


def test_save_load_identical_forecasts(tmp_path):
    df = panel()
    model = RNNForecaster(
        cell="lstm",
        bidirectional=True,
        past_covariates=("temp",),
        future_covariates=("promo",),
        static_covariates=("size",),
        calendar=True,
        **TINY,
    ).fit(df)
    xf = future_frame(df, 6, promo=1.0)
    before = model.predict(X_future=xf)
    model.save(tmp_path / "m")
    loaded = RNNForecaster.load(tmp_path / "m")
    pd.testing.assert_frame_equal(before, loaded.predict(X_future=xf))
    pd.testing.assert_frame_equal(model.predict(df, X_future=xf), loaded.predict(df, X_future=xf))
    assert loaded.get_params() == model.get_params()
    model.save(tmp_path / "m")  # overwrite in place keeps a loadable model
    pd.testing.assert_frame_equal(before, RNNForecaster.load(tmp_path / "m").predict(X_future=xf))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_load_missing_folder_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nope")):
        RNNForecaster.load(tmp_path / "nope")


def test_same_seed_same_forecasts_and_different_seed_differs():
    df = panel(covariates=False)
    a = RNNForecaster(**TINY).fit(df).predict()
    b = RNNForecaster(**TINY).fit(df).predict()
    c = RNNForecaster(**{**TINY, "seed": 1}).fit(df).predict()
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a.y_pred, c.y_pred)


def test_history_records_gradient_norms_and_clipping():
    df = panel(covariates=False)
    model = RNNForecaster(val_size=12, **TINY).fit(df)
    h = model.history_.to_frame()
    assert list(h.epoch) == [1, 2]
    assert (h.grad_norm_max >= h.grad_norm_mean).all() and (h.grad_norm_mean > 0).all()
    assert h.clipped_fraction.between(0, 1).all() and h.val_loss.notna().all()
    off = RNNForecaster(clip=None, **TINY).fit(df).history_.to_frame()
    assert (off.clipped_fraction == 0).all()
    tight = RNNForecaster(clip=1e-4, **TINY).fit(df).history_.to_frame()
    assert (tight.clipped_fraction == 1).all()
    by_value = RNNForecaster(clip=("value", 1e-4), **TINY).fit(df).history_.to_frame()
    assert (by_value.clipped_fraction == 1).all()


def test_early_stopping_restores_best_and_max_steps():
    df = panel(covariates=False)
    model = RNNForecaster(
        early_stopping=1, **{**TINY, "max_epochs": 30, "learning_rate": 0.05}
    ).fit(df)
    h = model.history_
    assert len(h.records) < 30 and h.best_epoch is not None
    steps = RNNForecaster(max_steps=3, **{**TINY, "max_epochs": 50}).fit(df).history_
    assert sum(r.steps for r in steps.records) == 3


def test_lr_schedulers_change_learning_rate():
    df = panel(covariates=False)
    h = (
        RNNForecaster(**{**TINY, "max_epochs": 3, "learning_rate": (3e-3, "cosine")})
        .fit(df)
        .history_.to_frame()
    )
    assert h.learning_rate.iloc[-1] < h.learning_rate.iloc[0]
    RNNForecaster(val_size=6, **{**TINY, "learning_rate": (3e-3, "plateau")}).fit(df)
    # cooldown: the base rate for the first 70 % of the plan, then down to the floor at its end
    h = (
        RNNForecaster(learning_rate=(1e-2, "cooldown"), **{**TINY, "max_epochs": 10})
        .fit(df)
        .history_
    )
    rates = [r.learning_rate for r in h.records]
    assert (
        rates[:6] == [1e-2] * 6
        and rates[7] < rates[6]
        and rates[-1] == pytest.approx(1e-2 * lr_schedules.FLOOR)
    )


def test_schedule_follows_the_time_budget_when_the_clock_ends_the_fit():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    now = time.perf_counter()
    half = lr_schedules.ProgressSchedule(
        opt, "cosine", total_steps=1000, max_time=10.0, started=now - 5.0
    )
    half.step(1)  # 0.1 % of the steps but half the time: progress 0.5
    assert opt.param_groups[0]["lr"] == pytest.approx(lr_schedules.factor("cosine", 0.5), abs=0.01)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    late = lr_schedules.ProgressSchedule(
        opt, "cooldown", total_steps=1000, max_time=10.0, started=now - 20.0
    )
    late.step(1)
    assert opt.param_groups[0]["lr"] == pytest.approx(lr_schedules.FLOOR)
    assert [lr_schedules.factor("cooldown", p) for p in (0.0, 0.69)] == [1.0, 1.0]
    assert (
        lr_schedules.factor("cosine", 2.0)
        == lr_schedules.factor("cosine", 1.0)
        == pytest.approx(lr_schedules.FLOOR)
    )


def test_exploding_training_raises_or_rolls_back_never_nan_forecast():
    df = panel(covariates=False)
    model = RNNForecaster(cell="rnn_relu", clip=None, learning_rate=1e12, **TINY)
    try:
        model.fit(df)
    except FloatingPointError as exc:
        assert "non-finite" in str(exc)
    else:
        assert np.isfinite(model.predict().y_pred).all()


def test_lstm_beats_per_series_mean_on_noisy_seasonal_panel():
    rng = np.random.default_rng(3)
    frames = []
    for i in range(4):
        t = np.arange(400)
        y = 5 + 3 * np.sin(2 * np.pi * t / 24 + i) + rng.normal(0, 0.3, len(t))
        frames.append(
            pd.DataFrame(
                {"unique_id": f"s{i}", "ds": pd.date_range("2024", periods=400, freq="h"), "y": y}
            )
        )
    df = pd.concat(frames, ignore_index=True)
    train = df.groupby("unique_id").head(376)
    test = df.groupby("unique_id").tail(24)
    model = RNNForecaster(
        cell="lstm",
        hidden_size=32,
        lookback=48,
        horizon=24,
        max_epochs=12,
        learning_rate=5e-3,
        seed=0,
    ).fit(train)
    fc = model.predict().merge(test, on=["unique_id", "ds"])
    mean = train.groupby("unique_id").y.mean().rename("mean")
    fc = fc.join(mean, on="unique_id")
    mae_model = (fc.y - fc.y_pred).abs().mean()
    mae_mean = (fc.y - fc["mean"]).abs().mean()
    assert mae_model < 0.6 * mae_mean


def test_baselines_share_the_api():
    df = panel(covariates=False)
    naive = Naive(horizon=4).fit(df).predict()
    last = df.groupby("unique_id").y.last()
    assert np.allclose(naive.groupby("unique_id").y_pred.first(), last)
    seasonal = SeasonalNaive(horizon=30, season_length=24).fit(df).predict()
    g = df[df.unique_id == "s0"].y.to_numpy()
    expect = np.concatenate([g[-24:], g[-24:]])[:30]
    assert np.allclose(seasonal[seasonal.unique_id == "s0"].y_pred, expect)
    with pytest.raises(NotFittedError):
        Naive().predict()
    assert clone(SeasonalNaive(horizon=3, season_length=7)).get_params() == {
        "horizon": 3,
        "season_length": 7,
        "fill": None,
    }


def test_predict_at_matches_predict_from_truncated_history():
    df = panel()
    model = RNNForecaster(future_covariates=("promo",), past_covariates=("temp",), **TINY).fit(df)
    cutoff = pd.Timestamp("2024-01-04 05:00")
    hist = df[df.ds <= cutoff]
    fut = df[(df.ds > cutoff)].groupby("unique_id").head(6)[["unique_id", "ds", "promo"]]
    direct = model.predict(hist, X_future=fut)
    origins = pd.DataFrame({"unique_id": ["s0", "s1", "s2"], "cutoff": [cutoff] * 3})
    batched = model.predict_at(df, origins)
    assert np.allclose(direct.y_pred.to_numpy(), batched.y_pred.to_numpy(), atol=1e-5)
    assert (batched.cutoff == cutoff).all()


def test_fits_in_concurrent_threads_match_fits_alone():
    from concurrent.futures import ThreadPoolExecutor

    df = panel(covariates=False)
    models = [
        RNNForecaster(cell=c, **{**TINY, "seed": k})
        for k, c in enumerate(["gru", "lstm", "rnn", "gru"])
    ]
    models.append(RNNForecaster(cell="gru", head="seq2seq", **{**TINY, "seed": 5}))

    def fit(m):  # the seq2seq model with teacher forcing, from its own seeded generator
        forcing = [TeacherForcing(0.5, seed=5)] if m.head == "seq2seq" else []
        return clone(m).fit(df, callbacks=forcing).predict()

    alone = [fit(m) for m in models]
    with ThreadPoolExecutor(len(models)) as pool:
        together = list(pool.map(fit, models))
    for a, b in zip(alone, together):
        pd.testing.assert_frame_equal(a, b)


def test_stride_keeps_the_most_recent_window():
    from forecast.data.windows import WindowIndex

    index = WindowIndex(np.array([0, 100]), np.array([0]), np.array([57]), stride=5)
    starts = index.locate(torch.arange(index.n_windows))[1].tolist()
    assert starts[-1] == 57 and np.all(np.diff(starts) == 5) and starts[0] == 2


def test_split_future_sets_aside_trailing_rows_without_a_target():
    from pipelines.future import split_future

    df = pd.DataFrame(
        {
            "unique_id": ["a"] * 5 + ["b"] * 3,
            "ds": [*pd.date_range("2024", periods=5), *pd.date_range("2024", periods=3)],
            "y": [1, np.nan, 3, np.nan, np.nan, 1, 2, 3],
            "promo": range(8),
        }
    ).sample(frac=1, random_state=0)
    history, future = split_future(df, ["promo"])
    # the interior NaN of "a" stays in the history (validation or fill see it); "b" has no future rows
    assert sorted(map(tuple, history[["unique_id", "promo"]].to_numpy())) == [
        ("a", 0),
        ("a", 1),
        ("a", 2),
        ("b", 5),
        ("b", 6),
        ("b", 7),
    ]
    assert list(future.columns) == ["unique_id", "ds", "promo"] and future.promo.tolist() == [3, 4]
    with pytest.raises(ValueError, match=r"missing column\(s\) \['price'\]"):
        split_future(df, ["price"])


def test_split_future_rows_feed_predict_like_x_future():
    from pipelines.future import split_future

    df = panel()
    model = RNNForecaster(future_covariates=("promo",), **TINY).fit(df)
    ends = df.groupby("unique_id").ds.max()  # the series end at different times
    fut = pd.concat(
        [
            pd.DataFrame(
                {
                    "unique_id": uid,
                    "promo": [0.0, 1.0, 0.0, 1.0, 1.0, 0.0],
                    "ds": pd.date_range(end + pd.Timedelta("1h"), periods=6, freq="h"),
                }
            )
            for uid, end in ends.items()
        ],
        ignore_index=True,
    )
    combined = pd.concat([df, fut.assign(y=np.nan)], ignore_index=True)
    history, future = split_future(combined, ["promo"])
    pd.testing.assert_frame_equal(
        model.predict(history, X_future=future), model.predict(X_future=fut)
    )


def test_x_future_in_the_users_column_names():
    df = panel().rename(columns={"unique_id": "store", "ds": "week", "y": "sales"})
    model = RNNForecaster(future_covariates=("promo",), **TINY).fit(
        df, id_col="store", time_col="week", target_col="sales"
    )
    ends = df.groupby("store").week.max()
    fut = pd.concat(
        [
            pd.DataFrame(
                {
                    "store": uid,
                    "promo": 1.0,
                    "week": pd.date_range(end + pd.Timedelta("1h"), periods=6, freq="h"),
                }
            )
            for uid, end in ends.items()
        ],
        ignore_index=True,
    )
    ours = model.predict(X_future=fut)
    internal = model.predict(X_future=fut.rename(columns={"store": "unique_id", "week": "ds"}))
    pd.testing.assert_frame_equal(ours, internal)
    assert list(ours.columns) == ["store", "week", "y_pred"]
    with pytest.raises(ValueError, match=r"unknown store\(s\) \['zz'\]"):
        model.predict(df[df.store == "s0"].assign(store="zz"), X_future=fut)
