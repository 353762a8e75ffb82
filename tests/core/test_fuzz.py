"""Generated-input fuzzing (issues 15 and 25): every generated input gets what it must get: a
valid one a forecast that passes every check, one with a planted fault a refusal whose message
names that fault; and one regression test for each fault the fuzzing found
(benchmarks/RESULTS-reliability.md lists them).

The inputs and the judge live beside this file (fuzz_inputs.py and the modules it uses,
fuzz_oracle.py); benchmarks/fuzz.py runs the same at scale and replays one case from its seed.
The test suite runs a small seeded sample, the same on every run.
"""

import functools
import logging
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the fuzz modules (importlib mode)
import fuzz_inputs  # noqa: E402
import fuzz_oracle  # noqa: E402
from fuzz_faults import Expect  # noqa: E402

from forecast import RNNForecaster, backtest  # noqa: E402

# A small seeded sample, the same on every run (FUZZ_EXAMPLES=n for more; benchmarks/fuzz.py
# runs thousands and replays one from its seed); FUZZ_RANDOM=1 draws new seeds each run.
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "70")),
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
TINY = dict(
    hidden_size=4,
    lookback=4,
    horizon=2,
    max_epochs=1,
    windows_per_epoch=8,
    batch_size=8,
    verbose=False,
    device="cpu",
)
logging.getLogger("pipelines").setLevel(logging.ERROR)  # the flow's notes on future rows


def _faults(seed):
    outcomes = fuzz_oracle.run_case(fuzz_inputs.case(seed))
    return [(o.op, o.kind, o.message) for o in outcomes if o.status == "fault"]


@FUZZ
@given(st.integers(0, 2**31 - 1))
def test_generated_inputs_are_answered_or_refused_naming_the_planted_fault(seed):
    assert _faults(seed) == [], f"replay: python benchmarks/fuzz.py --replay {seed}"


@pytest.mark.parametrize("edge", [None, "constant_all", "short_season"])
def test_generated_auto_search_inputs_are_answered_or_refused_by_name(edge):
    seed = next(
        s
        for s in range(100_000)
        if (r := fuzz_inputs.recipe(s)).model == "auto"
        and r.mode == "valid"
        and (edge in r.extras if edge else not r.extras)
    )
    case = fuzz_inputs.case(seed)
    assert case.expect["fit"].level == "answer"
    outcomes = fuzz_oracle.run_case(case)
    assert [o.status for o in outcomes] == ["answer"] * len(outcomes), outcomes


def test_at_least_30_percent_of_generated_inputs_are_valid():
    cases = [fuzz_inputs.case(seed) for seed in range(100)]
    valid = sum(c.expect["fit"].level == "answer" for c in cases)
    assert valid >= 0.3 * len(cases)
    kinds = {(c.recipe.kind, c.recipe.mode) for c in cases if c.expect["fit"].level == "answer"}
    assert {("long", "valid"), ("wide", "valid"), ("series", "valid")} <= kinds


def test_a_case_is_the_same_input_whenever_its_seed_is_replayed():
    a, b = fuzz_inputs.case(1234), fuzz_inputs.case(1234)
    assert a.recipe == b.recipe and a.expect == b.expect
    pd.testing.assert_frame_equal(pd.DataFrame(a.data), pd.DataFrame(b.data))


# ------------------------------------------------------------------ the judge can fail on good input
@functools.cache
def _valid_seed():
    return next(
        s
        for s in range(1000)
        if fuzz_inputs.recipe(s).kind == "long"
        and fuzz_inputs.case(s).expect["fit"].level == "answer"
    )


def _valid_case():
    return fuzz_inputs.case(_valid_seed())


def _judged(expect, fn):
    out, case = [], _valid_case()
    case.expect["fit"] = expect
    fuzz_oracle._op(out, "fit", case, fn)
    return out[0]


def test_a_refusal_of_a_valid_input_is_a_fault():
    outcome = _judged(Expect("answer"), lambda: fit(panel().iloc[:0]))  # a real refusal of ours
    assert outcome.status == "fault" and "refused a valid input" in outcome.kind
    assert outcome.message == "fit data: the frame is empty"


def test_a_refusal_naming_another_fault_than_the_planted_one_is_a_fault():
    expect = Expect("refuse", (("'y'", "NaN", ("'s1'",)),), ("target NaN",))
    nan, duplicate = panel(), pd.concat([panel(), panel().iloc[[3]]])
    nan.loc[25, "y"] = np.nan
    assert _judged(expect, lambda: fit(nan)).status == "refused"
    outcome = _judged(expect, lambda: fit(duplicate))  # refused, but for another fault
    assert outcome.status == "fault" and "names other than the planted fault" in outcome.kind


def test_an_answer_to_an_input_that_must_be_refused_is_a_fault():
    out, case = [], _valid_case()
    case.expect["fit"] = Expect("refuse", (("'y'",),), ("planted",))
    fuzz_oracle._op(out, "fit", case, lambda: None)
    assert out[0].status == "fault" and "must refuse" in out[0].kind


def test_an_error_from_c_code_called_on_our_line_or_from_pandas_is_not_ours():
    from forecast.data import values

    with pytest.raises(Exception) as raised:  # numpy's C code, called on a line of ours
        values.check_finite(pd.DataFrame({"y": ["a"]}), "y", "fit", {}, False)
    where, ours = fuzz_oracle.origin(raised.value)
    assert not ours and where.startswith("in C code called at forecast/data/values.py")
    with pytest.raises(Exception) as raised:
        pd.to_datetime(pd.Series(["2024-01-01 00:00+01:00", "2024-07-01 00:00+02:00"]))
    where, ours = fuzz_oracle.origin(raised.value)
    assert not ours and where.startswith("in pandas")
    with pytest.raises(ValueError) as raised:
        values.check_ids(pd.Series([1, "1"], dtype=object), "fit", "unique_id")
    assert fuzz_oracle.origin(raised.value) == ("forecast/data/values.py:check_ids", True)


def panel(n=2, length=20, freq="D", start="2024-01-01", tz=None):
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "unique_id": f"s{i}",
                    "ds": pd.date_range(start, periods=length, freq=freq, tz=tz),
                    "y": np.arange(length, dtype=float) + i,
                }
            )
            for i in range(n)
        ],
        ignore_index=True,
    )


def refusal(fn, *args, **kwargs):
    with warnings.catch_warnings(), pytest.raises(ValueError) as info:
        warnings.simplefilter("ignore")
        fn(*args, **kwargs)
    return str(info.value)


def fit(df, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RNNForecaster(**TINY).fit(df, **kwargs)


# ------------------------------------------------------------------ backtest validates its whole frame
def test_backtest_drops_text_columns_it_does_not_read_and_refuses_text_covariates_by_name():
    df = panel().assign(note="ünïcode", c=lambda d: pd.Series(["a", "b"] * 20, dtype="category"))
    assert len(backtest(RNNForecaster(**TINY), df.drop(columns="c"), n_windows=1).forecasts) == 4
    msg = refusal(backtest, RNNForecaster(**TINY, past_covariates=("c",)), df, n_windows=1)
    assert "'c'" in msg and "backtest data" in msg


@pytest.mark.parametrize("bad, said", [(np.nan, "NaN"), (np.inf, "infinite"), ("n/a", "'n/a'")])
def test_backtest_refuses_a_bad_actual_after_the_last_cutoff(bad, said):
    df = panel().astype({"y": object})
    df.loc[39, "y"] = bad  # the last point of series s1: an actual no fit ever sees
    msg = refusal(backtest, RNNForecaster(**TINY), df, n_windows=1)
    assert said in msg and "'s1'" in msg and "2024-01-20" in msg


def test_backtest_refuses_a_missing_series_id_and_reads_times_once():
    df = panel()
    df.loc[3, "unique_id"] = np.nan
    assert "'unique_id'" in refusal(backtest, RNNForecaster(**TINY), df, n_windows=1)
    df = panel().assign(ds=lambda d: d.ds.dt.to_period("D"))
    assert "'ds'" in refusal(backtest, RNNForecaster(**TINY), df, n_windows=1)


def test_backtest_with_a_log_target_hides_the_future_with_valid_values():
    df = panel().assign(
        y=lambda d: d.y + 1.0
    )  # the 0.0 written after the cutoff failed the log transform
    result = backtest(
        RNNForecaster(**TINY, scaler=("log", "standard")), df, n_windows=2, refit=False
    )
    assert len(result.forecasts) == 8 and np.isfinite(result.forecasts["y_pred"]).all()


def test_backtest_on_integer_time_steps_dates_nothing_1970():
    df = panel().assign(ds=np.tile(np.arange(100, 120), 2))
    fc = backtest(RNNForecaster(**TINY), df, n_windows=1).forecasts
    assert fc["ds"].dtype == np.int64 and sorted(set(fc["ds"])) == [118, 119]


# ------------------------------------------------------------------ fit: targets that are not real numbers
@pytest.mark.parametrize(
    "values, said",
    [
        (lambda y: y + 1j, "complex"),
        (lambda y: pd.to_timedelta(y, unit="D"), "durations"),
        (lambda y: (y % 2 == 0).astype(object), "booleans"),
        (lambda y: pd.Series(pd.to_datetime(y, unit="D")), "dates"),
    ],
)
def test_fit_refuses_targets_that_are_not_real_numbers(values, said):
    df = panel().assign(y=lambda d: values(d.y))
    msg = refusal(fit, df)
    assert said in msg and "'y'" in msg


def test_complex_numbers_among_floats_and_ids_equal_as_text_are_refused():
    df = panel().assign(y=lambda d: d.y.astype(object))
    df.loc[5, "y"] = (
        1 + 1j
    )  # to_numeric made the column complex; astype(float) dropped the imaginary parts
    assert "complex" in refusal(fit, df)
    df = panel().assign(unique_id=[1] * 20 + ["1"] * 20)
    df["ds"] = list(
        pd.date_range("2024-01-01", periods=40, freq="D")
    )  # 1 and "1" would merge into one series
    msg = refusal(fit, df)
    assert "'unique_id'" in msg and "[1, '1']" in msg


def test_values_beyond_float32_are_refused_naming_series_and_value():
    df = panel()
    df.loc[23, "y"] = 1e300  # overflowed to -inf forecasts before
    msg = refusal(fit, df)
    assert "1e+300" in msg and "'s1'" in msg and "2024-01-04" in msg and "float32" in msg


def test_string_times_with_renamed_columns_and_ids_at_the_integer_limits():
    df = (
        panel()
        .rename(columns={"unique_id": "id", "ds": "when", "y": "sales"})
        .assign(when=lambda d: d.when.astype(str))
    )
    fc = fit(df, id_col="id", time_col="when", target_col="sales").predict()
    assert list(fc.columns[:2]) == ["id", "when"] and fc["when"].iloc[0] == pd.Timestamp(
        "2024-01-21"
    )
    top = np.iinfo(np.uint64).max
    df = panel().assign(unique_id=lambda d: np.where(d.unique_id == "s0", top, 1).astype(np.uint64))
    fc = fit(df).predict()
    assert fc["unique_id"].dtype == np.uint64 and set(fc["unique_id"]) == {top, 1}


def test_dates_past_2262_are_refused_naming_the_column_or_the_horizon():
    late = panel(start="2262-03-23")  # the data fit; a horizon after 2262-04-11 does not
    assert "horizon" in refusal(fit(late).predict)
    beyond = panel().assign(
        ds=lambda d: (
            pd.Series(pd.date_range("2262-04-01", periods=20, freq="D", unit="s")).tolist() * 2
        )
    )
    beyond["ds"] = beyond["ds"].astype("datetime64[s]")
    assert "'ds'" in refusal(fit, beyond)


def test_a_two_row_series_must_step_by_the_frequency_of_the_others():
    df = pd.concat(
        [
            panel(n=1),
            pd.DataFrame(
                {
                    "unique_id": "short",
                    "ds": pd.to_datetime(["2024-01-01 00:00", "2024-01-01 05:00"]),
                    "y": 1.0,
                }
            ),
        ]
    )
    msg = refusal(fit, df)
    assert "'short'" in msg and "'D'" in msg


# ------------------------------------------------------------------ save / load
def test_save_load_keeps_the_zone_name_and_steps_across_daylight_saving(tmp_path):
    df = panel(
        length=30, freq="h", start="2024-03-30 20:00", tz="Europe/Berlin"
    )  # forecasts cross 31 March 02:00
    model = fit(df)
    model.save(tmp_path / "m")
    before, after = model.predict(), RNNForecaster.load(tmp_path / "m").predict()
    assert str(after["ds"].dt.tz) == "Europe/Berlin"
    pd.testing.assert_frame_equal(before, after)
    later = pd.date_range("2024-03-30 20:00", periods=32, freq="h", tz="Europe/Berlin")[30:]
    assert list(after["ds"].iloc[:2]) == list(later)


def test_save_load_keeps_a_tuple_series_name_and_1850_dates_in_a_named_zone(tmp_path):
    s = pd.Series(
        np.arange(20.0), index=pd.date_range("2024-01-01", periods=20, freq="D"), name=("store", 7)
    )
    fit(s).save(tmp_path / "s")
    assert RNNForecaster.load(tmp_path / "s").predict().name == ("store", 7)
    old = fit(panel(start="1850-01-01", tz="Europe/Berlin"))
    old.save(tmp_path / "old")
    pd.testing.assert_frame_equal(RNNForecaster.load(tmp_path / "old").predict(), old.predict())


# ------------------------------------------------------------------ predict_at, the flow's validation
def test_predict_at_with_no_origins_is_refused_by_name():
    model = fit(panel())
    assert "origins is empty" in refusal(
        model.predict_at, panel(), pd.DataFrame({"unique_id": [], "cutoff": []})
    )


def test_the_forecast_flows_split_refuses_a_missing_series_id_by_name():
    from pipelines.future import split_future

    df = panel()
    df.loc[[3, 39], ["unique_id", "y"]] = [np.nan, np.nan]
    assert "'unique_id'" in refusal(split_future, df)


def test_the_forecast_flows_data_step_names_the_users_id_and_time_columns():
    """A file with other column names: the missing id or time is named as the file names it,
    not by the internal 'unique_id' / 'ds' (found by benchmarks/fuzz.py, seed 1002274)."""
    from pipelines import io
    from pipelines.data_tasks import check_data
    from pipelines.parameters import Source

    source = Source(data="shop.csv", id_col="store", time_col="when", target_col="sales")
    for column in ("store", "when"):
        df = panel().rename(columns={"unique_id": "store", "ds": "when", "y": "sales"})
        df.loc[3, column] = None
        df.loc[39, "sales"] = np.nan  # a trailing row without a target: future rows are split off
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = io.standard_columns(df, "data file shop.csv", "shop", "store", "when", "sales")
        msg = refusal(check_data.fn, raw, source)
        assert f"column {column!r} has a missing value" in msg, msg


# ------------------------------------------------------------------ backtest, probabilistic fits
def test_backtest_with_horizon_0_names_the_horizon_not_the_step_derived_from_it():
    msg = refusal(backtest, RNNForecaster(**(TINY | {"horizon": 0})), panel(), n_windows=1)
    assert "horizon must be an integer >= 1, got 0" in msg and "step" not in msg


def test_a_normal_likelihood_fit_on_flat_windows_at_a_large_level_answers():
    """lookback=1 at 1.8e5 without scaling: the window norm's inverse cancelled to a scale of 0
    in float32, and torch refused the Normal (found by benchmarks/fuzz.py, seed 2008458)."""
    df = pd.DataFrame(
        {
            "unique_id": "flat",
            "ds": pd.date_range("2024-01-01", periods=12, freq="D"),
            "y": 180_000.0 + np.arange(12) * 1e-3,
        }
    )
    params = TINY | {"lookback": 1, "scaler": "none", "loss": "normal", "window_norm": "auto"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = RNNForecaster(**params).fit(df).predict(level=(80,))
    values = fc[["y_pred", "y_lo80", "y_hi80"]].to_numpy()
    assert np.isfinite(values).all() and (fc["y_lo80"] <= fc["y_hi80"]).all()
    assert np.abs(values - 180_000.0).max() < 100.0


@pytest.mark.parametrize("loss", ["normal", "student_t"])
def test_a_nan_in_a_likelihood_fit_reaches_the_loops_guard(monkeypatch, loss):
    """A non-finite parameter or target of a likelihood loss is the training loop's to handle
    (roll back, or FloatingPointError in epoch 1), never torch's argument validation error."""
    from forecast.data import windows

    batches = windows.Gatherer.batches
    for bad_epoch in (2, 1):

        def poisoned(self, *args, bad_epoch=bad_epoch, seen=[0], **kwargs):  # noqa: B006
            seen[0] += kwargs.get("shuffle", True)
            for i, batch in enumerate(batches(self, *args, **kwargs)):
                if kwargs.get("shuffle", True) and seen[0] == bad_epoch and i == 0:
                    batch.y[0, 0] = np.nan
                yield batch

        monkeypatch.setattr(windows.Gatherer, "batches", poisoned)
        model = RNNForecaster(**(TINY | {"loss": loss, "max_epochs": 3, "season_length": 1}))
        if bad_epoch == 1:
            with pytest.raises(FloatingPointError, match="non-finite in epoch 1"):
                model.fit(panel())
            continue
        with pytest.warns(RuntimeWarning, match="rolled back to epoch 1"):
            model.fit(panel())
        assert np.isfinite(model.predict(level=(80,)).select_dtypes("number")).all().all()


@pytest.mark.parametrize("where", ["first", "last", "inside"])
def test_a_wide_frames_time_listed_twice_once_empty_is_padding_whatever_the_row_order(where):
    f = pd.DataFrame(
        {"a": np.arange(30.0), "b": np.arange(30.0) * 2},
        index=pd.date_range("2020", periods=30, freq="D"),
    )
    row = f.iloc[[5]] * np.nan
    wide = {"first": pd.concat([row, f]), "last": pd.concat([f, row]), "inside": None}[where]
    if wide is None:
        wide = pd.concat([f.iloc[:6], row, f.iloc[6:]])
    model = RNNForecaster(**TINY).fit(wide)  # answered in every order
    assert model.predict().shape == (2, 2)
    with pytest.raises(ValueError, match="duplicate"):  # two values at one time: refused
        RNNForecaster(**TINY).fit(pd.concat([f, f.iloc[[5]]]))
