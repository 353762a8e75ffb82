"""A model saved before the library moved into layered subpackages (the flat ``forecast/*.py``
layout, format 1) still loads and forecasts exactly what it did when it was saved."""

from pathlib import Path

import numpy as np

from forecast import RNNForecaster

DATA = Path(__file__).with_name("data")


def test_a_model_saved_by_the_flat_layout_loads_and_predicts_the_same():
    model = RNNForecaster.load(DATA / "saved-flat-layout")
    expected = np.load(DATA / "saved-flat-layout-predict.npy")
    np.testing.assert_array_equal(model.predict()["y_pred"].to_numpy(), expected)
    assert model.lookback_ == 12 and model.horizon == 4 and model.past_covariates == ("past_0",)
