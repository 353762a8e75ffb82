"""Issue 11's components: season lengths, default lookback, scale-free losses, the seasonal skip
connection, exponential smoothing (window_norm="es"), log targets, ensembles and the time budget."""

from __future__ import annotations

import datetime
import math
import time

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

from forecast import RNNForecaster, SeasonalNaive
from forecast.data.seasonality import default_lookback, resolve_season_length, season_length_for
from forecast.datasets.synthetic import make_panel
from forecast.networks import build_network
from forecast.networks.model import Ensemble, seasonal_base
from forecast.training.losses import ForecastLoss, seasonal_mae

TINY = dict(hidden_size=8, max_epochs=2, batch_size=64, verbose=False, seed=0)


@pytest.fixture(scope="module")
def hourly():
    return make_panel(n_series=3, length=240, freq="h", seed=1)


@pytest.mark.parametrize(
    "freq,m",
    [
        ("h", 24),
        ("15min", 96),
        ("D", 7),
        ("B", 5),
        ("W-SUN", 52),
        ("MS", 12),
        ("ME", 12),
        ("QS-OCT", 4),
        ("YS-JAN", 1),
        ("2h", 12),
        (1, 1),
        ("step", 1),
    ],
)
def test_season_length_follows_the_frequency(freq, m):
    assert season_length_for(freq) == m


def test_inferred_season_falls_back_to_one_on_series_too_short_for_two_seasons():
    assert resolve_season_length(None, ["W-SUN"] * 3, [200, 300, 400], 13) == 52
    assert resolve_season_length(None, ["W-SUN"] * 3, [80, 90, 100], 13) == 1
    assert resolve_season_length(7, ["h"], [10], 3) == 7  # the parameter wins


def test_default_lookback_grows_with_horizon_and_season_and_fits_the_data():
    assert default_lookback(24, 24, [1000]) == 48
    assert default_lookback(12, 18, [120]) == 36
    assert (
        default_lookback(1, 6, [20]) == 12
    )  # 2 horizons; the median series (20) leaves room for 14
    assert default_lookback(1, 6, [14]) == 8
    assert default_lookback(24, 96, [20000]) == 192
    assert default_lookback(24, 336, [20000]) == 336  # long horizons: one horizon back
    assert default_lookback(52, 13, [900]) == 104


def test_fit_resolves_lookback_and_season_length_and_save_load_keeps_them(hourly, tmp_path):
    est = RNNForecaster(lookback=None, horizon=6, **TINY).fit(hourly)
    assert (est.season_length_, est.lookback_) == (24, 48)
    assert est.get_params()["lookback"] is None  # the parameter is untouched (clone round-trips)
    again = RNNForecaster.load(est.save(tmp_path / "m"))
    assert (again.season_length_, again.lookback_) == (24, 48)
    pd.testing.assert_frame_equal(est.predict(), again.predict())


def test_mase_loss_weighs_every_series_the_same_whatever_its_scale():
    values = np.concatenate([np.arange(10.0) % 3, 100 * (np.arange(10.0) % 3)])
    scale = seasonal_mae(values, np.array([0, 10, 20]), np.array([10, 10]), 1)
    assert scale[1] == pytest.approx(100 * scale[0])
    loss = ForecastLoss("mase", series_scale=scale)
    y = torch.zeros(2, 3)
    pred = torch.tensor(
        [[1.0, 1, 1], [100, 100, 100]]
    )  # the same error relative to each series' scale
    terms = loss.pointwise(pred, y, torch.tensor([0, 1]))
    assert torch.allclose(terms[0], terms[1])
    assert loss(pred, y, torch.tensor([0, 1])).item() == pytest.approx(1.0 / scale[0])


def test_smape_loss_is_scored_on_the_targets_own_scale():
    loss = ForecastLoss("smape", loc=np.array([10.0]), spread=np.array([2.0]))
    pred, y = torch.tensor([[0.5]]), torch.tensor([[0.0]])  # raw 11 vs 10
    assert loss(pred, y, torch.tensor([0])).item() == pytest.approx(2 * 1 / 21, rel=1e-5)


def test_masked_points_do_not_count_in_the_loss():
    loss = ForecastLoss("mae")
    pred, y = torch.tensor([[1.0, 50.0]]), torch.zeros(1, 2)
    assert loss(pred, y, mask=torch.tensor([[1.0, 0.0]])).item() == pytest.approx(1.0)


@pytest.mark.parametrize("loss", ["mase", "smape", "mae"])
def test_scale_free_losses_train_and_forecast(hourly, loss):
    fc = RNNForecaster(lookback=24, horizon=6, loss=loss, **TINY).fit(hourly).predict()
    assert len(fc) == 18 and np.isfinite(fc["y_pred"]).all()


def test_seasonal_skip_at_zero_weights_is_seasonal_naive(hourly):
    net = build_network(1, 0, 0, horizon=30, skip_period=24)
    x = torch.randn(5, 48, 1)
    out = net(x, torch.zeros(5, 30, 0), torch.zeros(5, 0))
    want = torch.cat([x[:, -24:, 0], x[:, -24:-18, 0]], dim=1)
    assert torch.allclose(out, want)
    # and through the estimator: a model that has not learned (learning rate ~0) forecasts seasonal naive
    est = RNNForecaster(
        lookback=48, horizon=30, window_norm="seasonal", learning_rate=1e-12, **TINY
    ).fit(hourly)
    naive = SeasonalNaive(horizon=30, season_length=24).fit(hourly).predict()
    np.testing.assert_allclose(est.predict()["y_pred"], naive["y_pred"], rtol=1e-4, atol=1e-4)


def test_seasonal_base_falls_back_to_the_last_value_when_the_window_is_shorter_than_a_season():
    y = torch.arange(6.0)[None]
    assert torch.equal(seasonal_base(y, 3, 12), torch.full((1, 3), 5.0))


def test_exponential_smoothing_is_equivariant_and_starts_at_its_own_forecast():
    torch.manual_seed(0)
    net = build_network(1, 0, 0, horizon=8, window_norm="es", n_series=2, season_length=4)
    x = torch.randn(3, 16, 1)
    series = torch.tensor([0, 1, 0])
    z = (torch.zeros(3, 8, 0), torch.zeros(3, 0))
    out = net(x, *z, series=series)
    assert torch.allclose(net(3 * x + 7, *z, series=series), 3 * out + 7, atol=1e-4)
    # untrained (zero output layer): the forecast is level + seasonal profile; at full seasonal
    # strength a pure seasonal pattern continues exactly
    net.norm.set_strength(torch.ones(2))
    pattern = torch.tensor([1.0, 5.0, 2.0, 0.0]).repeat(4)[None, :, None]
    flat = net(pattern + 10, torch.zeros(1, 8, 0), torch.zeros(1, 0), series=torch.tensor([1]))
    assert torch.allclose(flat[0], torch.tensor([1.0, 5.0, 2.0, 0.0]).repeat(2) + 10, atol=1e-2)


def test_seasonal_strength_starts_from_how_regular_the_season_is():
    t = np.arange(240)
    seasonal = pd.DataFrame(
        {
            "unique_id": "s",
            "ds": pd.date_range("2020", periods=240, freq="h"),
            "y": np.sin(2 * np.pi * t / 24) + 0.1 * np.random.default_rng(0).normal(size=240),
        }
    )
    noise = seasonal.assign(unique_id="n", y=np.random.default_rng(1).normal(size=240))
    est = RNNForecaster(
        lookback=48, horizon=6, window_norm="es", max_steps=1, **{**TINY, "max_epochs": 1}
    )
    est.fit(pd.concat([seasonal, noise]))
    beta = dict(zip(est.ids_, est.module_.norm.coefficients()[:, 2].detach().numpy()))
    assert (
        beta["s"] > 0.8 and 0.45 < beta["n"] < 0.6
    )  # regular: nearly whole; none: shrunk to about half


def test_seasonal_regularity_of_a_clean_season_is_near_one_and_of_noise_near_zero():
    from forecast.data.seasonality import seasonal_regularity

    t = np.arange(120)
    trend_and_season = 0.5 * t + np.sin(2 * np.pi * t / 12)
    assert (
        seasonal_regularity(trend_and_season, 12) > 0.85
    )  # the trend is removed first (acf: at most (n - m) / n)
    assert abs(seasonal_regularity(np.random.default_rng(0).normal(size=500), 12)) < 0.15
    assert np.isnan(seasonal_regularity(np.arange(20.0), 12))  # shorter than three seasons


def test_exponential_smoothing_learns_per_series_coefficients(hourly, tmp_path):
    est = RNNForecaster(lookback=48, horizon=6, window_norm="es", learning_rate=5e-2, **TINY).fit(
        hourly
    )
    coef = est.module_.norm.coefficients().detach().numpy()
    assert coef.shape == (3, 3) and ((coef > 0) & (coef < 1)).all()
    assert not np.allclose(coef, coef[0])  # moved, per series
    again = RNNForecaster.load(est.save(tmp_path / "es"))
    pd.testing.assert_frame_equal(est.predict(), again.predict())


def test_log_target_forecasts_stay_positive_and_refuse_non_positive_values(hourly):
    positive = hourly.assign(y=hourly["y"] - hourly["y"].min() + 1.0)
    fc = (
        RNNForecaster(lookback=24, horizon=6, scaler=("log", "standard"), **TINY)
        .fit(positive)
        .predict()
    )
    assert (fc["y_pred"] > 0).all()
    bad = positive.copy()
    bad.loc[bad.index[300], "y"] = 0.0
    with pytest.raises(
        ValueError, match=r"scaler=\('log', \.\.\.\) needs positive.*series 'series_1'"
    ):
        RNNForecaster(lookback=24, horizon=6, scaler=("log", "standard"), **TINY).fit(bad)


def test_log1p_target_takes_zeros_refuses_negatives_and_reloads(hourly, tmp_path):
    zeros = hourly.assign(y=(hourly["y"] - hourly["y"].median()).clip(lower=0.0))
    assert (zeros["y"] == 0).mean() > 0.3  # half the points are zeros
    est = RNNForecaster(lookback=24, horizon=6, scaler=("log1p", "standard"), loss="smape", **TINY)
    fc = est.fit(zeros).predict()
    assert np.isfinite(fc["y_pred"]).all() and (fc["y_pred"] > -1).all()  # expm1 > -1
    assert np.isfinite(est.history_.to_frame()["train_loss"]).all()
    again = RNNForecaster.load(est.save(tmp_path / "log1p"))
    assert again.target_transform_ == "log1p"
    pd.testing.assert_frame_equal(fc, again.predict())
    bad = zeros.copy()
    bad.loc[bad.index[300], "y"] = -2.0
    with pytest.raises(
        ValueError, match=r"column 'y': scaler=\('log1p', \.\.\.\) needs non-neg.*'series_1'"
    ):
        RNNForecaster(lookback=24, horizon=6, scaler=("log1p", "standard"), **TINY).fit(bad)
    with pytest.raises(ValueError, match=r"scaler must be a method or \('log' \| 'log1p'"):
        RNNForecaster(scaler=("sqrt", "standard"), **TINY).fit(zeros)


def test_ensemble_forecast_is_the_median_of_its_members():
    class Const(torch.nn.Module):
        def __init__(self, v):
            super().__init__()
            self.v = torch.nn.Parameter(torch.tensor(float(v)))

        def forward(self, x, x_future, static, series=None):
            return self.v.expand(x.shape[0], x_future.shape[1])

    ens = Ensemble([Const(1), Const(7), Const(3)])
    out = ens(torch.zeros(2, 4, 1), torch.zeros(2, 5, 0), torch.zeros(2, 0))
    assert torch.equal(out, torch.full((2, 5), 3.0))


def test_ensemble_members_differ_and_are_saved(hourly, tmp_path):
    est = RNNForecaster(lookback=24, horizon=6, ensemble=3, **TINY).fit(hourly)
    members = est.module_.members
    assert len(members) == 3
    w = [next(m.parameters()).detach() for m in members]
    assert not torch.equal(w[0], w[1])
    again = RNNForecaster.load(est.save(tmp_path / "ens"))
    pd.testing.assert_frame_equal(est.predict(), again.predict())
    assert clone(est).get_params()["ensemble"] == 3


def test_max_time_stops_training_within_an_epoch(hourly):
    big = make_panel(n_series=20, length=400, freq="h", seed=2)
    t0 = time.perf_counter()
    est = RNNForecaster(
        lookback=24,
        horizon=6,
        max_epochs=10_000,
        max_time=1.0,
        hidden_size=8,
        batch_size=32,
        verbose=False,
    ).fit(big)
    elapsed = time.perf_counter() - t0
    epochs = len(est.history_.records)
    assert 1 <= epochs < 10_000
    longest = max(r.seconds for r in est.history_.records)
    assert elapsed < 1.0 + 2 * longest + 2.0  # one (partial) epoch past the budget, plus set-up
    est2 = RNNForecaster(
        lookback=24, horizon=6, max_time=datetime.timedelta(seconds=0.5), **TINY
    ).fit(hourly)
    assert est2.history_.records


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(max_time=0), "max_time"),
        (dict(max_time="5"), "max_time"),
        (dict(ensemble=0), "ensemble"),
        (dict(window_norm="naive"), "window_norm"),
        (dict(scaler=("sqrt", "standard")), "scaler"),
        (dict(loss="mape"), "loss"),
        (dict(season_length=0), "season_length"),
        (dict(window_norm="seasonal", head="recursive"), "window_norm='seasonal'"),
        (dict(window_norm="es", head="recursive"), "window_norm='es'"),
    ],
)
def test_bad_accuracy_parameters_are_named(hourly, kw, match):
    with pytest.raises(ValueError, match=match):
        RNNForecaster(**{**TINY, "lookback": 24, "horizon": 6, **kw}).fit(hourly)


def test_models_saved_before_resolved_values_were_recorded_still_load(hourly, tmp_path):
    import json

    est = RNNForecaster(lookback=24, horizon=6, window_norm=None, **TINY).fit(hourly)
    path = est.save(tmp_path / "old")
    cfg = json.loads((path / "config.json").read_text())
    del cfg["resolved"]
    (path / "config.json").write_text(json.dumps(cfg))
    (path / "checksums.json").unlink(missing_ok=True)  # saved before checksums were written too
    pd.testing.assert_frame_equal(RNNForecaster.load(path).predict(), est.predict())


def test_a_timedelta_budget_saves_as_seconds(hourly, tmp_path):
    est = RNNForecaster(
        lookback=24, horizon=6, max_time=datetime.timedelta(seconds=30), **TINY
    ).fit(hourly)
    assert RNNForecaster.load(est.save(tmp_path / "td")).max_time == 30.0


def test_smape_loss_on_log_targets_is_scored_on_the_original_scale():
    loss = ForecastLoss("smape", loc=np.array([0.0]), spread=np.array([1.0]), shift=0.0)
    pred, y = torch.log(torch.tensor([[1.05]])), torch.log(torch.tensor([[0.95]]))
    assert loss(pred, y, torch.tensor([0])).item() == pytest.approx(0.1, rel=1e-4)
    log1p = ForecastLoss("smape", loc=np.array([0.0]), spread=np.array([1.0]), shift=1.0)
    pred, y = torch.log1p(torch.tensor([[1.05]])), torch.log1p(torch.tensor([[0.95]]))
    assert log1p(pred, y, torch.tensor([0])).item() == pytest.approx(0.1, rel=1e-4)
    zero = torch.zeros(1, 1)  # a zero forecast of a zero: no error, not 0 / 0
    assert log1p(zero, zero, torch.tensor([0])).item() == 0.0


def test_tbptt_and_ensembles_are_refused_together(hourly):
    with pytest.raises(ValueError, match="truncated BPTT.*ensemble=2"):
        RNNForecaster(head=("recursive", 4), ensemble=2, lookback=24, horizon=6, **TINY).fit(hourly)


def test_ensemble_members_vary_lookback_and_loss_and_keep_their_own_history(hourly):
    model = RNNForecaster(
        horizon=6,
        loss="mae",
        ensemble=(12, (24, "mase"), (48, "smape")),
        **TINY,
    ).fit(hourly)
    assert model.lookback_ == 48  # the window holds every member's
    assert [m.input_steps for m in model.module_.members] == [12, 24, 48]
    for record in model.history_.records:
        assert len(record.member_train_loss) == 3 and all(np.isfinite(record.member_train_loss))
    # each member's loss is its own kind: mae, mase (scale-free) and smape (bounded by 2) differ
    assert len(set(np.round(model.history_.records[-1].member_train_loss, 6))) == 3
    assert np.isfinite(model.predict().y_pred).all()
    short = model.module_.members[0]
    x = torch.randn(2, 48, 1)
    same_tail = torch.cat(
        [torch.randn(2, 36, 1), x[:, -12:]], dim=1
    )  # only the last 12 steps reach member 0
    args = (torch.zeros(2, 6, 0), torch.zeros(2, 0))
    assert torch.allclose(
        short(x, *args, series=torch.tensor([0, 1])),
        short(same_tail, *args, series=torch.tensor([0, 1])),
    )


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(ensemble=((12, 24),)), "each member"),
        (dict(ensemble=(None, "l1")), "member losses"),
        (dict(ensemble=(None, "normal")), "member losses"),
        (dict(lookback=12, ensemble=(12, 24)), "exceed"),
        (dict(ensemble=(None, "mse"), loss="pinball"), "point losses only"),
        (dict(ensemble=()), "ensemble"),
    ],
)
def test_bad_member_settings_are_named(hourly, kw, match):
    with pytest.raises(ValueError, match=match):
        RNNForecaster(horizon=6, **{**TINY, **kw}).fit(hourly)


def test_default_plan_caps_passes_over_small_panels():
    from forecast.training.loop import plan

    assert plan(327673) == (256, 12800, 40)  # large: about 2,000 steps (40 epochs of 50 batches)
    batch, per_epoch, epochs = plan(4351)  # M3-yearly-sized: 20 passes, not 60
    assert (batch, per_epoch) == (128, 4351) and epochs == 20
    batch, per_epoch, epochs = plan(97)  # tiny: no fewer than 500 steps
    assert epochs * math.ceil(97 / batch) >= 500 and epochs <= 2000
    assert plan(4351, max_epochs=7)[2] == 7  # an explicit value passes through
