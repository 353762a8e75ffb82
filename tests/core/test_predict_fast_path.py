"""The fast path of ``predict(df)`` (``forecast.fitted.known``): a small, plainly valid history of
known series gives exactly what the general path gives, and anything else goes to the general
path, which accepts it the same way or refuses it by name."""

import warnings

import numpy as np
import pandas as pd
import pytest

from forecast import RNNForecaster
from forecast.datasets.synthetic import make_panel
from forecast.fitted import inference, known
from forecast.fitted.known import known_panel

TINY = dict(hidden_size=8, lookback=12, horizon=4, max_steps=3, batch_size=16, device="cpu")
TINY.update(season_length=4, verbose=False)


def fitted(df, **more):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return RNNForecaster(**{**TINY, **more}).fit(df)


@pytest.fixture(scope="module")
def hourly():
    df = make_panel(n_series=3, length=60, freq="h", seed=1)
    return fitted(df), df


def recent(df, n=20):
    return df.groupby("unique_id").tail(n).reset_index(drop=True)


def general(model, history, **kwargs):
    """``model.predict(history)`` with the fast path switched off."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(inference, "known_panel", lambda *a: None)
        return model.predict(history, **kwargs)


def general_panel(model, history):
    from forecast.data.frames import to_long

    long, _ = to_long(history)
    return inference.history_panel(model.state_, long, "predict data")[0]


def fast_panel(model, history):
    from forecast.data.frames import to_long

    state = model.state_
    return known_panel(to_long(history)[0], state.freqs, state.layout)


def assert_same_panel(fast, slow):
    assert fast is not None, "the fast path did not apply"
    np.testing.assert_array_equal(fast.ids, slow.ids)
    np.testing.assert_array_equal(fast.offsets, slow.offsets)
    np.testing.assert_array_equal(fast.data, slow.data)
    assert fast.data.dtype == slow.data.dtype and fast.static.shape == slow.static.shape
    assert fast.first_ds == slow.first_ds and fast.last_ds == slow.last_ds
    assert [type(t) for t in fast.last_ds] == [type(t) for t in slow.last_ds]
    assert fast.freqs == slow.freqs


def test_a_plain_history_takes_the_fast_path_and_gives_exactly_the_general_answer(hourly):
    model, df = hourly
    history = recent(df)
    assert_same_panel(fast_panel(model, history), general_panel(model, history))
    pd.testing.assert_frame_equal(model.predict(history), general(model, history))
    one = history[history["unique_id"] == "series_1"]  # one series of three, as a request sends
    pd.testing.assert_frame_equal(model.predict(one), general(model, one))
    for ids in ("object", "category"):  # text ids in other dtypes: the same panel
        other = history.assign(unique_id=history["unique_id"].astype(ids))
        assert_same_panel(fast_panel(model, other), general_panel(model, other))
        pd.testing.assert_frame_equal(model.predict(other), general(model, other))


def test_short_histories_are_padded_the_same_way_and_refused_the_same_way(hourly):
    model, df = hourly
    short = recent(df, 5)  # fewer rows than lookback=12: left-padded with the first value
    assert_same_panel(fast_panel(model, short), general_panel(model, short))
    pd.testing.assert_frame_equal(model.predict(short), general(model, short))
    strict = fitted(df, short_series="error")
    with pytest.raises(ValueError, match="series_0.*5 points, fewer than lookback=12"):
        strict.predict(short)


@pytest.mark.parametrize(
    ("make", "kwargs"),
    [
        (lambda: make_panel(n_series=2, length=60, freq="D", seed=2), {}),  # "D": not a Tick
        (lambda: make_panel(n_series=2, length=60, freq="15min", seed=3), {"calendar": True}),
        (
            lambda: make_panel(n_series=2, length=60, seed=4).assign(
                ds=lambda d: d.groupby("unique_id").cumcount() + 7
            ),
            {},
        ),  # integer time steps
    ],
    ids=["daily", "calendar-15min", "integer-steps"],
)
def test_other_fixed_frequencies_and_calendar_features_match_the_general_path(make, kwargs):
    df = make()
    model = fitted(df, **kwargs)
    history = recent(df)
    assert_same_panel(fast_panel(model, history), general_panel(model, history))
    pd.testing.assert_frame_equal(model.predict(history), general(model, history))


def test_an_unsorted_history_falls_back_and_is_forecast_as_if_sorted(hourly):
    model, df = hourly
    history = recent(df)
    shuffled = history.sample(frac=1.0, random_state=0).reset_index(drop=True)
    assert fast_panel(model, shuffled) is None
    pd.testing.assert_frame_equal(model.predict(shuffled), model.predict(history))
    swapped = pd.concat([history[history["unique_id"] == "series_2"], history[:20]])
    assert fast_panel(model, swapped) is None  # contiguous runs, but not in order


def _gap(h):
    return h.drop(index=5)


def _duplicate(h):
    return pd.concat([h[:6], h[5:]], ignore_index=True)


def _other_step(h):
    return h.assign(ds=h["ds"].iloc[0] + 2 * (h["ds"] - h["ds"].iloc[0]))


def _nan(h):
    return h.assign(y=h["y"].where(h.index != 7))


def _inf(h):
    return h.assign(y=h["y"].where(h.index != 7, np.inf))


def _huge(h):
    return h.assign(y=h["y"].where(h.index != 7, 1e39))


def _nat(h):
    return h.assign(ds=h["ds"].where(h.index != 7))


def _unknown(h):
    return h.assign(unique_id="no_such_series")


def _integer_ds(h):
    return h.assign(ds=np.arange(len(h)))


REFUSED = [
    (_gap, "gap or irregular timestamp"),
    (_duplicate, "duplicate"),
    (_other_step, "series_0.*frequency"),
    (_nan, "NaN in series 'series_0'"),
    (_inf, "infinite value in series 'series_0'"),
    (_huge, "beyond the float32 range"),
    (_nat, "column 'ds' has a missing value"),
    (_unknown, "no_such_series"),
    (_integer_ds, "series_0"),
]


@pytest.mark.parametrize(("bad", "named"), REFUSED, ids=[f.__name__.strip("_") for f, _ in REFUSED])
def test_a_history_the_fast_path_cannot_vouch_for_is_refused_by_name(hourly, bad, named):
    model, df = hourly
    history = bad(recent(df)[lambda d: d["unique_id"] == "series_0"].reset_index(drop=True))
    assert fast_panel(model, history) is None
    with pytest.raises(ValueError, match=named):
        model.predict(history)


def test_what_the_general_path_would_convert_falls_back_to_it(hourly):
    model, df = hourly
    history = recent(df)
    for other in (
        history.assign(y=history["y"].astype("float32")),  # numeric() casts it
        history.assign(y=history["y"].astype("Float64")),  # a nullable float column
        history.assign(ds=history["ds"].dt.tz_localize("UTC")),
        history.assign(ds=history["ds"].astype(str)),  # parse_times reads text
    ):
        assert fast_panel(model, other) is None, other.dtypes
    fc = model.predict(history.assign(y=history["y"].astype("float32")))
    want = general(model, history.assign(y=history["y"].astype("float32")))
    pd.testing.assert_frame_equal(fc, want)
    text = history.assign(ds=history["ds"].astype(str))
    pd.testing.assert_frame_equal(model.predict(text), model.predict(history))


def test_a_model_with_covariates_always_takes_the_general_path():
    df = make_panel(n_series=2, length=60, freq="h", seed=5, past_covariates=1)
    model = fitted(df, past_covariates=("past_0",))
    history = recent(df)
    assert fast_panel(model, history) is None
    with pytest.raises(ValueError, match="past_0"):
        model.predict(history.drop(columns="past_0"))


def test_steps_that_wrap_around_int64_are_not_mistaken_for_regular_ones():
    step = 3_600 * 10**9
    top = np.iinfo(np.int64).max
    ticks = np.array([top - step, top, top + step - 2**64], dtype=np.int64)  # last one: 1677
    assert ticks[2] == np.iinfo(np.int64).min + step - 1 and ticks[2] < ticks[1]
    steps = np.array([step], dtype=np.int64)
    assert not known._regular(ticks, np.array([0]), steps)
    assert known._regular(ticks[:2], np.array([0]), steps)
