"""The recurrent family: direct / seq2seq (+attention) / recursive heads, TBPTT, residual stacks, diagnostics."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import RNNForecaster
from forecast.datasets.synthetic import make_routine
from forecast.evaluation.diagnostics import gradient_through_time
from forecast.fitted import fitting
from forecast.training.callbacks import TeacherForcing
from forecast.training.tbptt import train_tbptt

L, H = 10, 4
HEAD_CASES = {
    "direct": dict(head="direct"),
    "seq2seq": dict(head="seq2seq"),
    "seq2seq_dot_bi": dict(head="seq2seq_dot", bidirectional=True, cell="gru"),
    "seq2seq_additive": dict(head="seq2seq_additive", bidirectional="sum"),
    "recursive": dict(head="recursive", cell="gru"),
    "recursive_tbptt": dict(head=("recursive", 8), num_layers=(2, "residual_layer_norm")),
}


@pytest.fixture(scope="module")
def routine():
    return make_routine(n_days=90, spell_length=(1, 3), seed=0, n_series=3)


@pytest.fixture(scope="module")
def fitted(routine):
    models = {}
    for name, kw in HEAD_CASES.items():
        est = RNNForecaster(
            hidden_size=8,
            lookback=L,
            horizon=H,
            future_covariates=("rain",),
            max_epochs=2,
            batch_size=64,
            learning_rate=1e-2,
            verbose=False,
            seed=0,
            **kw,
        )
        forcing = [TeacherForcing(0.5)] if name == "seq2seq" else []
        models[name] = est.fit(routine, callbacks=forcing)
    return models


def _future(df):
    last = df.groupby("unique_id").tail(H)
    return df.drop(last.index), last[["unique_id", "ds", "rain"]]


@pytest.mark.parametrize("name", list(HEAD_CASES))
def test_every_head_forecasts_the_horizon_with_finite_values(fitted, routine, name):
    est = fitted[name]
    history, x_future = _future(routine)
    fc = est.predict(history, X_future=x_future)
    assert fc.shape == (3 * H, 3) and np.isfinite(fc["y_pred"]).all()
    assert np.isfinite(est.history_.records[-1].train_loss)
    assert est.score(routine) <= 0


@pytest.mark.parametrize("name", list(HEAD_CASES))
def test_no_head_looks_past_the_origin(fitted, routine, name):
    est = fitted[name]
    cutoff = pd.Timestamp("2024-02-20")
    origins = pd.DataFrame({"unique_id": routine["unique_id"].unique(), "cutoff": cutoff})
    poisoned = routine.assign(y=np.where(routine["ds"] > cutoff, 1e3, routine["y"]))
    a = est.predict_at(routine, origins)
    b = est.predict_at(poisoned, origins)
    assert len(a) == 3 * H
    np.testing.assert_array_equal(a["y_pred"].to_numpy(), b["y_pred"].to_numpy())


@pytest.mark.parametrize("name", list(HEAD_CASES))
def test_save_load_gives_identical_forecasts_for_every_head(fitted, routine, name, tmp_path):
    est = fitted[name]
    history, x_future = _future(routine)
    loaded = RNNForecaster.load(est.save(tmp_path / name))
    assert loaded.get_params() == est.get_params()
    pd.testing.assert_frame_equal(
        est.predict(history, X_future=x_future), loaded.predict(history, X_future=x_future)
    )


@pytest.mark.parametrize("name", ["seq2seq_dot_bi", "seq2seq_additive"])
def test_attention_weights_sum_to_one_over_the_lookback(fitted, routine, name):
    history, x_future = _future(routine)
    w = fitted[name].attention_weights(history, X_future=x_future)
    assert w.shape == (3, H, L)
    assert (w >= 0).all()
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)


def test_attention_weights_need_an_attention_head(fitted):
    with pytest.raises(ValueError, match="attention"):
        fitted["direct"].attention_weights()


def test_teacher_forcing_decays_linearly_to_zero_and_is_off_after_training(fitted):
    sched = TeacherForcing(0.5, max_epochs=5)
    assert [sched.ratio(e) for e in range(1, 6)] == [0.5, 0.375, 0.25, 0.125, 0.0]
    assert fitted["seq2seq"].module_.head.teacher_forcing == 0.0


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(head="seq2seq_cosine"), "head"),
        (dict(head=("direct", 10)), "truncated BPTT"),
        (dict(head=("recursive", 0)), "truncated BPTT"),
        (dict(head=("recursive", 4), windows_per_epoch=64), "windows_per_epoch"),
        (dict(head=("recursive", 4), loss="normal"), "point forecasts only"),
        (dict(head="recursive", bidirectional=True), "bidirectional"),
        (dict(head="recursive", bidirectional="sum"), "bidirectional"),
        (dict(bidirectional="concat"), "bidirectional"),
        (dict(bidirectional=1), "bidirectional"),
        (dict(num_layers=(2, "yes")), "num_layers"),
        (dict(num_layers=(0, "residual")), "num_layers"),
        (dict(cell="rnn_gelu"), "cell"),
    ],
)
def test_bad_head_parameters_are_named(routine, kw, match):
    with pytest.raises(ValueError, match=match):
        RNNForecaster(lookback=L, horizon=H, max_epochs=1, verbose=False, **kw).fit(routine)


def test_teacher_forcing_without_a_seq2seq_head_is_refused_before_training(routine):
    est = RNNForecaster(lookback=L, horizon=H, max_epochs=1, verbose=False)
    with pytest.raises(ValueError, match="TeacherForcing.*head='seq2seq'"):
        est.fit(routine, callbacks=[TeacherForcing(0.5)])
    with pytest.raises(ValueError, match="start"):
        TeacherForcing(1.5)


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_residual_and_layer_norm_stacks_train(routine, cell):
    est = RNNForecaster(
        cell=cell,
        hidden_size=8,
        num_layers=(3, "residual_layer_norm"),
        lookback=L,
        horizon=H,
        max_epochs=4,
        batch_size=32,
        learning_rate=1e-2,
        verbose=False,
    )
    est.fit(routine[["unique_id", "ds", "y"]])
    losses = [r.train_loss for r in est.history_.records]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert len(est.module_.encoder.layers) == 3


def test_residual_stack_equals_fused_stack_without_skips_and_norms():
    from forecast.networks import RNNEncoder

    torch.manual_seed(0)
    fused = RNNEncoder(3, 6, "gru", num_layers=2, bidirectional=True)
    stacked = RNNEncoder(3, 6, "gru", num_layers=2, bidirectional=True, residual=True)
    stacked.skips = None  # same computation as the fused stack once the skips are gone
    for i, layer in enumerate(stacked.layers):
        for name, p in layer.named_parameters():
            p.data.copy_(getattr(fused.rnn, name.replace("_l0", f"_l{i}")))
    x = torch.randn(4, 7, 3)
    for a, b in zip(fused(x), stacked(x)):
        torch.testing.assert_close(a, b)


# ---------------------------------------------------------------- truncated BPTT
def _recall_series(n_series, n, seed, period=8, recall=4):
    """A random sign at each period's start, asked for again ``recall`` steps later (``probe`` = 1)."""
    rng = np.random.default_rng(seed)
    frames = []
    for s in range(n_series):
        y, probe = np.zeros(n), np.zeros(n)
        for start in range(0, n - recall, period):
            y[start] = y[start + recall] = rng.choice([-1.0, 1.0])
            probe[start + recall] = 1.0
        frames.append(
            pd.DataFrame(
                {
                    "unique_id": f"s{s}",
                    "ds": pd.date_range("2020-01-01", periods=n, freq="D"),
                    "y": y,
                    "probe": probe,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_tbptt_carried_state_learns_a_dependency_longer_than_the_chunk(monkeypatch):
    # The sign is needed 4 steps after it was seen; chunks are 3 steps long. Reset at every chunk,
    # the model can never see it; carried across chunks (detached), it can.
    train, test = _recall_series(4, 600, seed=0), _recall_series(2, 120, seed=99)
    probes = test[(test["probe"] == 1) & (test["ds"] >= "2020-01-20")]
    origins = pd.DataFrame(
        {"unique_id": probes["unique_id"], "cutoff": probes["ds"] - pd.Timedelta(days=1)}
    )
    mse = {}
    for carry in (True, False):
        # the estimator always carries; the reset ablation lives in forecast.training.tbptt
        monkeypatch.setattr(
            fitting, "train_tbptt", functools.partial(train_tbptt, carry_state=carry)
        )
        est = RNNForecaster(
            cell="lstm",
            hidden_size=32,
            head=("recursive", 3),
            lookback=16,
            horizon=1,
            future_covariates=("probe",),
            scaler="none",
            max_epochs=8,
            loss="mse",
            batch_size=4,
            learning_rate=1e-2,
            verbose=False,
            seed=0,
        )
        fc = est.fit(train).predict_at(test, origins).merge(test, on=["unique_id", "ds"])
        mse[carry] = float(np.mean((fc["y_pred"] - fc["y"]) ** 2))
    assert mse[False] > 0.9  # no better than guessing 0 for a random sign
    assert mse[True] < 0.5 * mse[False]


def test_tbptt_right_aligns_ragged_series_and_masks_their_padding():
    from forecast.data.windows import Gatherer
    from forecast.networks.model import build_network
    from forecast.training.tbptt import series_chunks

    lengths = np.array(
        [11, 7]
    )  # 10 and 6 one-step targets: 3 and 2 chunks of 3 (oldest 1 and 0 dropped)
    data = np.arange(18, dtype=np.float32)[:, None]
    gatherer = Gatherer(data, np.zeros((2, 0)), 2, 1, slice(1, 1))
    net = build_network(1, 0, 0, 1, cell="gru", hidden_size=4, head="recursive")
    X, T, mask = series_chunks(net, gatherer, np.array([0, 11, 18]), lengths, 3)
    assert X.shape == (2, 3, 3, 1) and mask.tolist() == [[True, True, True], [False, True, True]]
    assert T[0].flatten().tolist() == list(range(2, 11))  # series 0: targets y_2..y_10
    assert T[1, 1:].flatten().tolist() == list(range(12, 18)) and T[1, 0].abs().sum() == 0
    assert X[1, 1, 0, 0] == 11  # its first input is its first value


# ---------------------------------------------------------------- gradient through time
def _weak_memory_model(cell, routine):
    est = RNNForecaster(
        cell=cell,
        hidden_size=16,
        lookback=30,
        horizon=1,
        max_epochs=1,
        learning_rate=1e-6,
        batch_size=256,
        window_norm=None,
        verbose=False,
        seed=0,
    )
    est.fit(routine[["unique_id", "ds", "y"]])
    with (
        torch.no_grad()
    ):  # small recurrent weights: the constructed case where a tanh RNN forgets fast
        est.module_.encoder.rnn.weight_hh_l0.mul_(0.5)
    return est


def test_gradient_through_time_vanishes_for_a_tanh_rnn_much_faster_than_for_an_lstm(routine):
    g = {
        cell: gradient_through_time(_weak_memory_model(cell, routine), routine, n_windows=64)
        for cell in ("rnn", "lstm")
    }
    assert g["rnn"].shape == (30,) and np.isfinite(g["rnn"]).all()
    assert g["rnn"][0] < 1e-3 * g["rnn"][-1]  # early steps get almost nothing
    early, middle, late = np.log(g["rnn"]).reshape(3, 10).mean(1)
    assert early < middle < late  # it rises toward the origin
    assert g["rnn"][0] / g["rnn"][-1] < 1e-2 * g["lstm"][0] / g["lstm"][-1]


def test_gradient_through_time_from_the_stored_tail(fitted, routine):
    est = RNNForecaster(hidden_size=8, lookback=L, horizon=H, max_epochs=1, verbose=False)
    est.fit(routine[["unique_id", "ds", "y"]])
    assert gradient_through_time(est).shape == (L,)
    with pytest.raises(ValueError, match="future covariates"):
        gradient_through_time(fitted["direct"])


# ---------------------------------------------------------------- per-window normalisation
@pytest.mark.parametrize("head", ["direct", "seq2seq", "recursive"])
@pytest.mark.parametrize("norm", ["last", "standard"])
def test_window_norm_makes_forecasts_shift_and_scale_equivariant(head, norm, tmp_path):
    from forecast.datasets.synthetic import make_panel

    df = make_panel(n_series=3, length=150, seed=0, future_covariates=1)
    last = df.groupby("unique_id").cumcount(ascending=False) < 6
    hist, fut = df[~last], df.loc[last, ["unique_id", "ds", "future_0"]]
    model = RNNForecaster(
        head=head,
        window_norm=norm,
        scaler="none",
        lookback=24,
        horizon=6,
        hidden_size=8,
        max_epochs=2,
        future_covariates=("future_0",),
        verbose=False,
    ).fit(df, callbacks=[TeacherForcing(0.5)] if head == "seq2seq" else [])
    base = model.predict(hist, X_future=fut).y_pred.to_numpy()
    shifted = model.predict(hist.assign(y=hist.y + 1000.0), X_future=fut).y_pred.to_numpy()
    np.testing.assert_allclose(
        shifted, base + 1000.0, atol=1e-3
    )  # the level does not reach the network
    if norm == "standard":
        scaled = model.predict(hist.assign(y=3.0 * hist.y - 50.0), X_future=fut).y_pred.to_numpy()
        np.testing.assert_allclose(scaled, 3.0 * base - 50.0, atol=1e-3)
    model.save(tmp_path / "m")
    np.testing.assert_array_equal(
        RNNForecaster.load(tmp_path / "m").predict(hist, X_future=fut).y_pred, base
    )


def test_without_window_norm_the_forecast_is_not_shift_equivariant():
    from forecast.datasets.synthetic import make_panel

    df = make_panel(n_series=2, length=120, seed=0)[["unique_id", "ds", "y"]]
    model = RNNForecaster(
        scaler="none",
        window_norm=None,
        lookback=24,
        horizon=6,
        hidden_size=8,
        max_epochs=2,
        verbose=False,
    ).fit(df)
    base = model.predict(df).y_pred.to_numpy()
    assert (
        np.abs(model.predict(df.assign(y=df.y + 1000.0)).y_pred.to_numpy() - (base + 1000.0)).max()
        > 1.0
    )


def test_window_norm_tracks_a_trend_beyond_the_training_range():
    """A linear trend plus a season: the test level lies above everything seen in training. With
    the per-window shift the network only has to learn the (stationary) changes."""
    t = np.arange(400.0)
    df = pd.DataFrame(
        {
            "unique_id": "a",
            "ds": pd.date_range("2020-01-01", periods=400, freq="D"),
            "y": 0.5 * t + 5 * np.sin(2 * np.pi * t / 7),
        }
    )
    train, test = df.iloc[:-14], df.iloc[-14:]
    err = {}
    for norm in (None, "last"):
        model = RNNForecaster(
            cell="gru",
            window_norm=norm,
            lookback=28,
            horizon=14,
            hidden_size=16,
            max_epochs=30,
            batch_size=32,
            learning_rate=5e-3,
            verbose=False,
        ).fit(train)
        err[norm] = float(np.abs(model.predict().y_pred.to_numpy() - test.y.to_numpy()).mean())
    assert err["last"] < 0.5 * err[None], err


def test_window_norm_is_refused_with_truncated_bptt_and_swept_by_the_grid():
    from forecast.evaluation.selection import candidate_grid

    with pytest.raises(ValueError, match="window_norm='last' normalises fixed windows"):
        RNNForecaster(head=("recursive", 4), window_norm="last").fit(
            pd.DataFrame(
                {"unique_id": "a", "ds": pd.date_range("2020", periods=80, freq="D"), "y": 1.0}
            )
        )
    with pytest.raises(ValueError, match="window_norm must be one of"):
        RNNForecaster(window_norm="minmax").fit(
            pd.DataFrame(
                {"unique_id": "a", "ds": pd.date_range("2020", periods=80, freq="D"), "y": 1.0}
            )
        )
    grid = candidate_grid(
        cells=("gru",), bidirectional=(False,), hidden_sizes=(8,), window_norms=(None, "last")
    )
    assert set(grid) == {"gru-h8", "gru-h8-wlast"} and grid["gru-h8-wlast"].window_norm == "last"
