"""Issue 21: one parameter per group of settings, old names refused with the new spelling (and
mapped when a saved model has them), and no setting that the others would leave unread."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from forecast import RNNForecaster
from forecast.fitted.migration import RENAMED, upgrade

TINY = dict(hidden_size=4, lookback=12, horizon=3, max_epochs=1, verbose=False)


@pytest.fixture(scope="module")
def df():
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "unique_id": np.repeat(["a", "b"], 60),
            "ds": np.tile(pd.date_range("2021", periods=60, freq="D"), 2),
            "y": rng.normal(size=120).cumsum() + 50,
        }
    )


def test_the_constructor_has_at_most_36_plain_parameters():
    params = RNNForecaster().get_params()
    assert len(params) <= 36
    assert all(isinstance(v, (str, int, float, bool, tuple, type(None))) for v in params.values())


@pytest.mark.parametrize("old", sorted(RENAMED))
def test_an_old_parameter_name_is_refused_with_its_new_spelling(old):
    with pytest.raises(TypeError, match=f"{old}= is now"):
        RNNForecaster(**{old: 1})
    with pytest.raises(ValueError, match=f"{old}= is now"):
        RNNForecaster().set_params(**{old: 1})


def test_folded_settings_round_trip_through_clone():
    est = RNNForecaster(
        cell="rnn_relu",
        bidirectional="sum",
        num_layers=(2, "residual"),
        head="seq2seq_dot",
        ensemble=(12, (24, "mase")),
        scaler=("log", "robust"),
        optimizer=("adamw", 0.01),
        learning_rate=(1e-3, "cosine"),
        clip=("value", 0.5),
        interval=("conformal", 30),
        strategy="ddp",
    )
    assert clone(est).get_params() == est.get_params()


@pytest.mark.parametrize(
    "kw,match",
    [  # each combination that an earlier version accepted and then ignored, or failed late on
        (dict(level=(80,)), "a point model gives no intervals"),
        (dict(quantiles=(0.1, 0.9)), "set loss='pinball'"),
        (dict(quantiles=(0.1, 0.9), loss="normal"), "set loss='pinball'"),
        (dict(loss="pinball", quantiles=(0.1, 0.9), level=(95,)), "level=95 needs the quantiles"),
        (dict(dropout=0.2), "needs num_layers >= 2"),
        (dict(head=("recursive", 4), windows_per_epoch=64), "windows_per_epoch=64 would be unread"),
        (dict(ensemble=("mae", "mase")), "loss='mae' would be unread"),
        (dict(interval=(None, 10)), "calibrates nothing"),
        (dict(strategy="ddp", head=("recursive", 4)), "strategy='ddp' splits each batch"),
        (dict(strategy="horovod"), r"strategy must be one of \(None, 'ddp'\)"),
    ],
)
def test_a_setting_that_would_be_unread_is_refused_before_training(df, kw, match):
    est = RNNForecaster(**{**TINY, **kw})
    with pytest.raises(ValueError, match=match):
        est.fit(df)
    assert not hasattr(est, "module_")  # refused before any training


def test_pinball_without_quantiles_trains_the_default_levels(df):
    fc = RNNForecaster(loss="pinball", level=(80,), **TINY).fit(df).predict()
    assert {"y_q10", "y_q50", "y_q90", "y_lo80", "y_hi80"} <= set(fc.columns)
    assert (fc.y_lo80 <= fc.y_pred).all() and (fc.y_pred <= fc.y_hi80).all()


def test_old_saved_parameters_map_onto_the_new_ones():
    old = dict(
        cell="rnn", nonlinearity="relu", bidirectional=True, merge="sum", head="seq2seq",
        attention="dot", num_layers=2, residual=True, layer_norm=False, skip="seasonal",
        window_norm="auto", n_models=2, member_lookbacks=[12, 24], member_losses=["mae", "mase"],
        distribution=None, quantiles=None, loss="mse", clip="value", clip_value=0.5,
        weight_decay=0.01, optimizer="adamw", lr_scheduler="plateau", learning_rate=1e-3,
        target_transform="log", scaler="standard", interval="conformal", calibration_size=30,
        carry_state=False, stride=2, teacher_forcing=0.5, tbptt_steps=None, dropout=0.0,
    )  # fmt: skip
    new = upgrade(old)
    assert not set(new) & set(RENAMED)
    assert new["cell"] == "rnn_relu" and new["bidirectional"] == "sum"
    assert new["head"] == "seq2seq_dot" and new["num_layers"] == (2, "residual")
    assert new["window_norm"] == "seasonal" and new["ensemble"] == (12, (24, "mase"))
    assert new["loss"] == "mae" and new["clip"] == ("value", 0.5)
    assert new["optimizer"] == ("adamw", 0.01) and new["learning_rate"] == (1e-3, "plateau")
    assert new["scaler"] == ("log", "standard") and new["interval"] == ("conformal", 30)
    RNNForecaster(**new)  # a valid estimator
    recursive = upgrade(dict(head="recursive", tbptt_steps=8, distribution="normal", loss="mae"))
    assert recursive["head"] == ("recursive", 8) and recursive["loss"] == "normal"
