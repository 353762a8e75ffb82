"""Per-series scalers: fitted on the training part only, exact inverse, safe on flat series."""

import numpy as np

from forecast.data.scaling import SeriesScaler


def test_inverse_is_exact_per_series_and_fit_uses_only_the_given_prefix():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(5, 2, 50), rng.normal(-3, 0.5, 30)])[:, None]
    offsets = np.array([0, 50, 80])
    series = np.repeat([0, 1], [50, 30])
    for method in ("standard", "robust", "none"):
        sc = SeriesScaler(method).fit(values, offsets, np.array([40, 20]))
        scaled = sc.transform(values, series)
        back = sc.inverse(scaled, series)  # (N, 1)
        assert np.allclose(back[:, 0], values[:, 0], atol=1e-12)
    sc = SeriesScaler("standard").fit(values, offsets, np.array([40, 20]))
    assert np.isclose(sc.loc_[0, 0], values[:40, 0].mean()) and np.isclose(
        sc.loc_[1, 0], values[50:70, 0].mean()
    )


def test_flat_and_mostly_flat_series_get_a_usable_scale():
    flat = np.full((10, 1), 7.0)
    spiky = np.array([0, 0, 0, 0, 0, 0, 0, 0, 10.0, 0, 0, 0])[:, None]
    sc = SeriesScaler("standard").fit(flat, np.array([0, 10]), np.array([10]))
    assert sc.scale_[0, 0] == 1.0 and sc.loc_[0, 0] == 7.0
    sc = SeriesScaler("robust").fit(spiky, np.array([0, 12]), np.array([12]))
    assert np.isclose(sc.scale_[0, 0], spiky.std())  # IQR is 0: the std keeps spikes in range
