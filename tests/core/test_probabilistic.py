"""Issue 13: quantile and distribution heads, conformal intervals, samples, interval metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from forecast import RNNForecaster, backtest
from forecast.datasets.synthetic import make_panel
from forecast.metrics.interval import (
    coverage,
    crps_quantiles,
    crps_samples,
    msis,
    pinball,
    quantile_columns,
)
from forecast.networks.model import WindowNorm
from forecast.probabilistic.families import (
    NegativeBinomial,
    NLLLoss,
    Normal,
    PinballLoss,
    Quantiles,
    StudentT,
)

TINY = dict(
    hidden_size=8, max_epochs=2, batch_size=64, verbose=False, seed=0, horizon=6, lookback=14
)
Q = (0.05, 0.1, 0.25, 0.75, 0.9, 0.95)


@pytest.fixture(scope="module")
def panel():
    return make_panel(n_series=3, length=120, freq="D", seed=3)


def _quantile_values(fc):
    cols = sorted(quantile_columns(fc.columns).items(), key=lambda kv: kv[1])
    return fc[[c for c, _ in cols]].to_numpy()


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(head="seq2seq"),
        dict(head="recursive"),
        dict(ensemble=3),
        dict(window_norm="seasonal"),
        dict(window_norm="standard", scaler=("log", "standard")),
    ],
)
def test_quantile_heads_never_cross_and_the_median_is_the_point(panel, kw):
    model = RNNForecaster(loss="pinball", quantiles=Q, **{**TINY, **kw}).fit(panel)
    fc = model.predict()
    assert [c for c in fc.columns if c.startswith("y_q")] == [
        "y_q5",
        "y_q10",
        "y_q25",
        "y_q75",
        "y_q90",
        "y_q95",
    ]
    values = _quantile_values(fc)  # ascending levels, y_pred the median among them
    assert np.isfinite(values).all() and (np.diff(values, axis=1) >= 0).all()
    origins = (
        panel.groupby("unique_id").nth(-20)[["unique_id", "ds"]].rename(columns={"ds": "cutoff"})
    )
    at = model.predict_at(panel, origins)
    assert (np.diff(_quantile_values(at), axis=1) >= 0).all()


def test_quantile_projection_is_monotone_by_construction():
    out = Quantiles((0.01, 0.1, 0.3, 0.7, 0.9, 0.99))
    raw = torch.randn(64, 5, out.n_channels) * 10
    q = out.project(raw, WindowNorm("standard"), (torch.randn(64, 1), torch.rand(64, 1) + 0.1))
    assert out.levels[out.median] == 0.5 and (q.diff(dim=-1) >= 0).all()


def test_pinball_and_likelihoods_match_their_formulas():
    y, pred = torch.randn(4, 3), torch.randn(4, 3, 3).sort(-1).values
    levels = [0.1, 0.5, 0.9]
    want = np.mean(
        [pinball(y.numpy().ravel(), pred[..., i].numpy().ravel(), q) for i, q in enumerate(levels)]
    )
    assert PinballLoss(levels)(pred, y).item() == pytest.approx(want, rel=1e-5)
    params = torch.stack(
        [torch.randn(4, 3), torch.rand(4, 3) + 0.5, torch.rand(4, 3) * 5 + 2.5], -1
    )
    assert NLLLoss(Normal())(params[..., :2], y).item() == pytest.approx(
        -stats.norm.logpdf(y.numpy(), params[..., 0].numpy(), params[..., 1].numpy()).mean(),
        rel=1e-5,
    )
    assert NLLLoss(StudentT())(params, y).item() == pytest.approx(
        -stats.t.logpdf(
            y.numpy(), params[..., 2].numpy(), params[..., 0].numpy(), params[..., 1].numpy()
        ).mean(),
        rel=1e-5,
    )
    counts = torch.tensor([[0.0, 3.0, 7.0]])  # loc 0, spread 1: scaled = counts
    nb = torch.stack([torch.tensor([[1.0, 2.0, 5.0]]), torch.tensor([[0.5, 0.2, 1.0]])], -1)
    mu = np.logaddexp(0, nb[..., 0].numpy())
    r = 1 / nb[..., 1].numpy()
    want = -stats.nbinom.logpmf(counts.numpy(), r, r / (r + mu)).mean()
    loss = NLLLoss(NegativeBinomial(), loc=[0.0], spread=[1.0])(nb, counts, torch.tensor([0]))
    assert loss.item() == pytest.approx(want, rel=1e-4)


def test_parametric_quantiles_are_the_distributions():
    params = np.array([[[1.0, 2.0, 4.0]]])
    assert Normal().quantile(params[..., :2], 0.9)[0, 0] == pytest.approx(stats.norm.ppf(0.9, 1, 2))
    assert StudentT().quantile(params, 0.9)[0, 0] == pytest.approx(stats.t.ppf(0.9, 4, 1, 2))


@pytest.mark.parametrize("family", ["normal", "student_t"])
def test_distribution_heads_give_ordered_intervals_and_reproducible_samples(panel, family):
    model = RNNForecaster(loss=family, **TINY).fit(panel)
    fc = model.predict()
    assert list(fc.columns[2:]) == ["y_pred", "y_lo80", "y_hi80", "y_lo95", "y_hi95"]
    assert (
        (fc.y_lo95 <= fc.y_lo80).all()
        and (fc.y_lo80 <= fc.y_pred).all()
        and (fc.y_hi80 <= fc.y_hi95).all()
    )
    assert list(model.set_params(level=(90,)).predict().columns[2:]) == [
        "y_pred",
        "y_lo90",
        "y_hi90",
    ]
    model.set_params(level=None)
    a, b = model.predict(n_samples=50), model.predict(n_samples=50)
    assert len(a) == 3 * 6 * 50 and list(a.columns) == ["unique_id", "ds", "sample", "y_pred"]
    pd.testing.assert_frame_equal(a, b)
    assert np.isfinite(a.y_pred).all()


def test_recursive_distribution_samples_coherent_paths(panel):
    model = RNNForecaster(loss="normal", head="recursive", **TINY).fit(panel)
    paths = model.predict(n_samples=40).pivot_table(
        index=["unique_id", "sample"], columns="ds", values="y_pred"
    )
    assert paths.shape == (3 * 40, 6) and paths.std().gt(0).all()


def test_negative_binomial_forecasts_counts_and_refuses_non_counts(panel):
    counts = panel.assign(y=np.round(np.abs(panel.y)))
    fc = RNNForecaster(loss="negative_binomial", **TINY).fit(counts).predict()
    assert (fc[["y_lo80", "y_hi80"]] >= 0).all().all() and np.allclose(
        fc.y_hi80, np.round(fc.y_hi80)
    )
    with pytest.raises(ValueError, match="non-negative integer counts.*series"):
        RNNForecaster(loss="negative_binomial", **TINY).fit(panel.assign(y=panel.y - 100.5))


def test_conformal_calibration_never_sees_the_calibration_tail(panel):
    model = RNNForecaster(interval=("conformal", 12), **TINY).fit(panel)
    tail = panel.groupby("unique_id").cumcount(ascending=False) < 12
    changed = panel.assign(y=np.where(tail, panel.y * 3 + 50, panel.y))
    other = RNNForecaster(interval=("conformal", 12), **TINY).fit(changed)
    for (k, v), w in zip(model.module_.state_dict().items(), other.module_.state_dict().values()):
        assert torch.equal(v, w), k  # the same training: the tail never reached the weights
    assert model.conformal_["scores"] != other.conformal_["scores"]  # but it is what calibrates
    fc = model.predict()
    assert ((fc.y_lo95 <= fc.y_lo80) & (fc.y_lo80 <= fc.y_pred) & (fc.y_pred <= fc.y_hi80)).all()


def test_conformal_intervals_cover_noise_at_about_their_level():
    rng = np.random.default_rng(0)
    n, S = 400, 20
    frames = [
        pd.DataFrame(
            {
                "unique_id": f"s{i}",
                "ds": pd.date_range("2020", periods=n, freq="D"),
                "y": 5.0 + rng.normal(size=n),
            }
        )
        for i in range(S)
    ]
    df = pd.concat(frames, ignore_index=True)
    train, test = df.groupby("unique_id").head(n - 6), df.groupby("unique_id").tail(6)
    model = RNNForecaster(interval="conformal", **{**TINY, "max_epochs": 4}).fit(train)
    fc = model.predict().merge(test, on=["unique_id", "ds"])
    assert 65 <= coverage(fc.y, fc.y_lo80, fc.y_hi80) <= 95
    assert coverage(fc.y, fc.y_lo95, fc.y_hi95) >= 85


def test_cqr_and_levels(panel):
    model = RNNForecaster(
        loss="pinball", quantiles=(0.1, 0.9), interval="cqr", level=(80,), **TINY
    ).fit(panel)
    fc = model.predict()
    assert {"y_q10", "y_q90", "y_lo80", "y_hi80"} <= set(fc.columns)
    with pytest.raises(ValueError, match="not calibrated"):
        model.predict(level=(90,))
    with pytest.raises(ValueError, match="no intervals"):
        RNNForecaster(**TINY).fit(panel).predict(level=(80,))


def test_wide_series_and_save_load_keep_the_columns(panel, tmp_path):
    wide = panel.pivot(index="ds", columns="unique_id", values="y")
    model = RNNForecaster(interval="conformal", **TINY).fit(wide)
    out = model.predict()
    assert list(out["y_lo80"].columns) == list(wide.columns) and out["y_pred"].shape == (6, 3)
    series = (
        RNNForecaster(loss="pinball", quantiles=(0.1, 0.9), **TINY).fit(wide.iloc[:, 0]).predict()
    )
    assert list(series.columns) == ["y_pred", "y_q10", "y_q90"]
    loaded = RNNForecaster.load(model.save(tmp_path / "m"))
    pd.testing.assert_frame_equal(loaded.predict(), out)
    dist = RNNForecaster(loss="student_t", head="recursive", **TINY).fit(panel)
    again = RNNForecaster.load(dist.save(tmp_path / "d"))
    pd.testing.assert_frame_equal(again.predict(), dist.predict())
    pd.testing.assert_frame_equal(again.predict(n_samples=5), dist.predict(n_samples=5))


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(loss="pinball", quantiles=(0.1, 1.2)), "quantiles"),
        (dict(loss="pinball", quantiles="0.5"), "quantiles"),
        (dict(loss="pinball", quantiles=(0.1, 0.1)), "repeated"),
        (dict(loss="gamma"), "loss"),
        (dict(loss="normal", ensemble=2), "ensemble"),
        (dict(interval="cqr"), "loss='pinball'"),
        (dict(loss="pinball", level=(80, 100)), "level"),
        (dict(interval=(None, 10)), "interval"),
        (dict(interval=("conformal", 3)), "interval"),
        (dict(loss="negative_binomial", scaler=("log", "standard")), "counts"),
    ],
)
def test_bad_probabilistic_parameters_are_named(panel, kw, match):
    with pytest.raises(ValueError, match=match):
        RNNForecaster(**{**TINY, **kw}).fit(panel)


def test_interval_metrics_known_values_and_backtest_columns(panel):
    y = np.array([0.0, 1.0, 2.0, 10.0])
    assert coverage(y, np.zeros(4), np.full(4, 2.0)) == 75.0
    assert msis(y, np.zeros(4), np.full(4, 2.0), level=95, scale=2.0) == pytest.approx(
        (2 + 2 / 0.05 * 8 / 4) / 2
    )
    rng = np.random.default_rng(1)
    draws, obs = rng.normal(size=(500, 2000)), rng.normal(size=500)
    exact = np.mean(
        obs * (2 * stats.norm.cdf(obs) - 1) + 2 * stats.norm.pdf(obs) - 1 / np.sqrt(np.pi)
    )
    assert crps_samples(obs, draws) == pytest.approx(exact, rel=0.02)
    grid = np.linspace(0.01, 0.99, 99)
    assert crps_quantiles(obs, np.tile(stats.norm.ppf(grid), (500, 1)), grid) == pytest.approx(
        exact, rel=0.05
    )
    result = backtest(
        RNNForecaster(loss="pinball", quantiles=(0.1, 0.9), **TINY),
        panel,
        n_windows=2,
        refit=False,
        metrics=("mae", "pinball", "crps"),
    )
    assert {"y_q10", "y_q90"} <= set(result.forecasts.columns) and result.aggregate["crps"] > 0
    assert list(result.by_step["step"]) == list(range(1, 7))


def test_diagnostics_and_validation_read_the_point_of_probabilistic_outputs(panel):
    from forecast.evaluation.diagnostics import gradient_through_time

    model = RNNForecaster(
        loss="pinball", quantiles=(0.1, 0.9), ensemble=2, early_stopping=2, **TINY
    ).fit(panel)
    assert model.history_.records[-1].val_loss > 0  # the pinball loss on the validation windows
    grad = gradient_through_time(model, panel)
    assert grad.shape == (14,) and np.isfinite(grad).all()
