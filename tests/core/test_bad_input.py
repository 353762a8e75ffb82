"""Every bad input gets a ValueError naming what is wrong and where."""

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from forecast import RNNForecaster

TINY = dict(hidden_size=4, lookback=10, horizon=3, max_epochs=1)


def good(n=2, length=40):
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "unique_id": f"s{i}",
                    "ds": pd.date_range("2024-01-01", periods=length, freq="D"),
                    "y": np.arange(length, dtype=float) + i,
                }
            )
            for i in range(n)
        ],
        ignore_index=True,
    )


def fit_error(df, **params):
    with pytest.raises(ValueError) as info:
        RNNForecaster(**{**TINY, **params}).fit(df)
    return str(info.value)


def test_missing_column_is_named():
    assert "'y'" in fit_error(good().drop(columns="y"))


def test_non_numeric_target_names_series_and_value():
    df = good().astype({"y": object})
    df.loc[5, "y"] = "oops"
    msg = fit_error(df)
    assert "'y'" in msg and "'s0'" in msg and "oops" in msg


def test_infinite_target_names_series_and_time():
    df = good()
    df.loc[45, "y"] = np.inf
    msg = fit_error(df)
    assert "infinite" in msg and "'s1'" in msg and "2024-01-06" in msg


def test_nan_target_is_error_unless_fill_chosen():
    df = good()
    df.loc[3, "y"] = np.nan
    msg = fit_error(df)
    assert "NaN" in msg and "'s0'" in msg and "fill=" in msg
    for how in ("ffill", "interpolate", "zero"):
        fc = RNNForecaster(fill=how, **TINY).fit(df).predict()
        assert np.isfinite(fc.y_pred).all()


def test_duplicate_rows_are_named():
    df = pd.concat([good(), good().iloc[[7]]])
    msg = fit_error(df)
    assert "duplicate" in msg and "'s0'" in msg and "2024-01-08" in msg


def test_gap_names_series_and_first_bad_timestamp():
    df = good().drop(index=50)
    msg = fit_error(df)
    assert "'s1'" in msg and "gap or irregular" in msg and "2024-01-12" in msg


def test_short_series_named_with_lengths():
    df = pd.concat([good(1), good(1, 8).assign(unique_id="tiny")])
    msg = fit_error(df, short_series="error")
    assert "'tiny'" in msg and "8 points" in msg and "10 + 3 = 13" in msg


def test_empty_frame():
    assert "empty" in fit_error(good().iloc[:0])


def test_mixed_time_zones():
    df = good(1, 20)
    ds = list(df.ds.dt.tz_localize("UTC"))
    ds[5] = ds[5].tz_convert("Europe/Paris")
    df["ds"] = pd.Series(ds, dtype=object)
    assert "time zone" in fit_error(df)


def test_unknown_series_at_predict():
    model = RNNForecaster(**TINY).fit(good())
    other = good().assign(unique_id=lambda d: d.unique_id.str.replace("s1", "zz"))
    with pytest.raises(ValueError, match="unknown unique_id.*'zz'"):
        model.predict(other)


def test_frequency_mismatch_at_predict():
    model = RNNForecaster(**TINY).fit(good())
    hourly = good().assign(
        ds=lambda d: (
            d.groupby("unique_id")
            .cumcount()
            .map(lambda k: pd.Timestamp("2024-01-01") + pd.Timedelta(hours=k))
        )
    )
    with pytest.raises(ValueError, match="frequency"):
        model.predict(hourly)


def test_static_must_be_constant_per_series():
    df = good().assign(size=lambda d: np.arange(len(d), dtype=float))
    assert "varies within series" in fit_error(df, static_covariates=("size",))


def test_covariate_nan_named():
    df = good().assign(temp=1.0)
    df.loc[4, "temp"] = np.nan
    msg = fit_error(df, past_covariates=("temp",))
    assert "'temp'" in msg and "NaN" in msg


@pytest.mark.parametrize(
    "param,value",
    [
        ("cell", "transformer"),
        ("lookback", 0),
        ("horizon", -1),
        ("num_layers", (2, "dense")),
        ("ensemble", "two"),
        ("interval", ("conformal", 1)),
        ("head", ("seq2seq", 4)),
        ("dropout", 1.5),
        ("scaler", "minmax"),
        ("loss", "l3"),
        ("clip", "sometimes"),
        ("learning_rate", 0),
        ("past_covariates", "temp"),
        ("bidirectional", "yes"),
        ("calendar", "yes"),
        ("seed", "x"),
        ("optimizer", ("adamw", -1)),
    ],
)
def test_bad_parameters_are_named(param, value):
    assert param in fit_error(good(), **{param: value})


def test_not_a_frame():
    with pytest.raises(TypeError, match="DataFrame"):
        RNNForecaster(**TINY).fit([1, 2, 3])


def test_import_pulls_neither_prefect_nor_mlflow():
    code = "import sys, forecast, forecast.datasets; print(sorted(m for m in ('prefect', 'mlflow') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_id_or_timestamp_named_not_silently_dropped():
    df = good().astype({"unique_id": object})
    df.loc[5, "unique_id"] = None
    assert "'unique_id' has a missing value" in fit_error(df) and "row 5" in fit_error(df)
    df = good()
    df.loc[7, "ds"] = pd.NaT
    assert "'ds' has a missing value" in fit_error(df)


@pytest.mark.parametrize(
    "device", ["tpu", "cuda:0" if not __import__("torch").cuda.is_available() else "nope"]
)
def test_bad_or_unavailable_device_is_named(device):
    assert "device" in fit_error(good(), device=device)


def test_save_refuses_to_replace_what_is_not_a_model(tmp_path):
    model = RNNForecaster(**TINY).fit(good())
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "data.csv").write_text("important")
    with pytest.raises(FileExistsError, match="not a saved model"):
        model.save(tmp_path / "proj")
    assert (tmp_path / "proj" / "data.csv").read_text() == "important"
    (tmp_path / "afile").write_text("x")
    with pytest.raises(FileExistsError):
        model.save(tmp_path / "afile")
    (tmp_path / "empty").mkdir()
    model.save(tmp_path / "empty")
    model.save(tmp_path / "empty")  # a saved model may be overwritten


def test_integer_ids_come_back_as_integers():
    df = good().assign(unique_id=lambda d: d.unique_id.str[1:].astype(int) + 7)
    fc = RNNForecaster(**TINY).fit(df).predict()
    assert fc.unique_id.dtype == "int64" and set(fc.unique_id) == {7, 8}


def test_wide_frame_with_a_series_named_y_or_ds():
    idx = pd.date_range("2024-01-01", periods=40, freq="D")
    wide = pd.DataFrame({"y": np.arange(40.0), "ds": np.arange(40.0) * 2}, index=idx)
    out = RNNForecaster(**TINY).fit(wide).predict()
    assert list(out.columns) == ["y", "ds"] and len(out) == 3


def test_predict_at_and_select_model_reject_wrong_container_types():
    from forecast import select_model

    model = RNNForecaster(**TINY).fit(good())
    with pytest.raises(TypeError, match="origins must be a DataFrame"):
        model.predict_at(good(), ["2024-01-20"])
    with pytest.raises(TypeError, match="dict name -> estimator"):
        select_model([RNNForecaster(**TINY)], good())


def test_non_integer_time_column_is_refused_not_read_as_1970_nanoseconds():
    df = good().assign(ds=lambda d: d.groupby("unique_id").cumcount() + 0.5)
    msg = fit_error(df)
    assert "column 'ds' holds non-integer numbers" in msg and "astype('int64')" in msg
    years = (
        good()
        .rename(columns={"ds": "year"})
        .assign(year=lambda d: 1900.0 + d.groupby("unique_id").cumcount())
    )
    with pytest.raises(ValueError, match="column 'year' holds non-integer numbers"):
        RNNForecaster(**TINY).fit(years, time_col="year")
    # integers are time steps (positions), not nanoseconds: forecasts continue them
    steps = good().assign(ds=lambda d: d.groupby("unique_id").cumcount())
    assert RNNForecaster(**TINY).fit(steps).predict()["ds"].tolist() == [40, 41, 42] * 2


def test_messages_use_the_users_column_names():
    df = good().rename(columns={"unique_id": "store", "ds": "day", "y": "sales"})
    df.loc[3, "sales"] = np.nan
    with pytest.raises(ValueError, match="column 'sales' has NaN in series 's0'"):
        RNNForecaster(**TINY).fit(df, id_col="store", time_col="day", target_col="sales")
    with pytest.raises(ValueError, match=r"duplicate \(store, day\)"):
        RNNForecaster(**TINY).fit(
            pd.concat([df.fillna(0), df.fillna(0).head(1)]),
            id_col="store",
            time_col="day",
            target_col="sales",
        )


def test_boolean_target_is_refused():
    assert "holds booleans" in fit_error(good().assign(y=lambda d: d.y > 10))


def test_unfitted_score_and_x_future_without_future_covariates():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        RNNForecaster(**TINY).score(good())
    model = RNNForecaster(**TINY).fit(good())
    with pytest.raises(ValueError, match="no future_covariates"):
        model.predict(X_future=good()[["unique_id", "ds"]])


def test_sklearn_fit_x_y_and_none_covariates():
    df = good()
    a = RNNForecaster(**TINY).fit(df).predict()
    b = RNNForecaster(past_covariates=None, **TINY).fit(df[["unique_id", "ds"]], df["y"]).predict()
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(ValueError, match="y has 5 values for 80 rows"):
        RNNForecaster(**TINY).fit(df[["unique_id", "ds"]], df["y"].head(5))
    with pytest.raises(ValueError, match="already has a target column 'y'"):
        RNNForecaster(**TINY).fit(df, df["y"])


def test_candidate_grid_names_a_swept_parameter_and_checks_its_dimensions():
    from forecast.evaluation.selection import candidate_grid

    with pytest.raises(ValueError, match="pass hidden_sizes="):
        candidate_grid(hidden_size=8)
    with pytest.raises(TypeError, match="window_norms must be a tuple or list"):
        candidate_grid(window_norms="last")
    with pytest.raises(TypeError, match="cells must be a tuple or list"):
        candidate_grid(cells="gru")
    with pytest.raises(ValueError, match=r"cells has unknown value\(s\) \['transformer'\]"):
        candidate_grid(cells=("gru", "transformer"))
    assert set(
        candidate_grid(
            cells=("gru",), bidirectional=(False,), hidden_sizes=(4,), window_norms=("none", "last")
        )
    ) == {"gru-h4", "gru-h4-wlast"}


def test_window_norm_standard_needs_a_lookback_with_a_spread():
    assert "lookback >= 3" in fit_error(good(), window_norm="standard", lookback=2)


def test_selection_on_an_undefined_metric_says_why():
    from forecast import SeasonalNaive, select_model

    flat = good().assign(y=5.0)
    with pytest.raises(ValueError, match="undefined .* for every candidate, though all ran"):
        select_model({"last": SeasonalNaive(horizon=3)}, flat, metric="mase", refit_best=False)


def test_nan_in_x_future_is_named_apart_from_a_missing_row():
    df = good().assign(promo=0.0)
    model = RNNForecaster(future_covariates=("promo",), **TINY).fit(df)
    fut = pd.DataFrame(
        {
            "unique_id": np.repeat(["s0", "s1"], 3),
            "promo": 1.0,
            "ds": np.tile(pd.date_range("2024-02-10", periods=3, freq="D"), 2),
        }
    )
    fut.loc[4, "promo"] = np.nan
    with pytest.raises(
        ValueError, match=r"X_future column\(s\) \['promo'\] are NaN for series 's1'"
    ):
        model.predict(X_future=fut)
    with pytest.raises(ValueError, match="X_future lacks values for series 's1'"):
        model.predict(X_future=fut.drop(index=4))


def test_review_edge_cases_of_frames():
    from pipelines.future import split_future

    # a shuffled wide frame with NaN padding trims by time, not by row position
    w = pd.DataFrame(
        {"a": np.arange(20.0), "b": [np.nan, np.nan, *np.arange(18.0)]},
        index=pd.date_range("2020-01-01", periods=20, freq="D"),
    )
    shuffled = w.iloc[np.random.default_rng(0).permutation(20)]
    a = RNNForecaster(**TINY).fit(w).predict()
    b = RNNForecaster(**TINY).fit(shuffled).predict()
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(ValueError, match="duplicate column name"):
        RNNForecaster(**TINY).fit(
            pd.DataFrame({1: np.arange(20.0), "1": np.arange(20.0)}, index=w.index)
        )
    # numbers stored as objects are refused like numeric columns
    df = good().astype({"ds": object})
    df["ds"] = [2000.5 + i for i in range(len(df))]
    assert "holds non-integer numbers" in fit_error(df.astype({"ds": object}))
    # string dates are ordered as dates when splitting off the future rows
    s = pd.DataFrame(
        {
            "unique_id": "a",
            "ds": ["1/8/2020", "1/9/2020", "1/10/2020", "1/11/2020"],
            "y": [1.0, 2.0, 3.0, np.nan],
        }
    )
    assert split_future(s)[1]["ds"].tolist() == ["1/11/2020"]


def test_backtest_and_grid_accept_none_covariates_and_check_flags():
    from forecast import backtest
    from forecast.evaluation.selection import candidate_grid

    est = RNNForecaster(future_covariates=None, static_covariates=None, **TINY)
    assert len(backtest(est, good(), n_windows=1).forecasts) == 2 * 3
    with pytest.raises(ValueError, match="bidirectional must hold True/False"):
        candidate_grid(bidirectional=(0, 1))
    with pytest.raises(ValueError, match="hidden_sizes must hold integers"):
        candidate_grid(hidden_sizes=("8",))


# ------------------------------------------------------------------ issue 25: the generated-input probe
def test_a_column_named_like_an_internal_one_beside_the_users_names_is_ignored():
    df = good().rename(columns={"unique_id": "store", "ds": "date", "y": "sales"})
    names = dict(id_col="store", time_col="date", target_col="sales")
    stray = df.assign(ds="x", y=-1.0, unique_id=3.5)  # AttributeError inside pandas before
    fc = RNNForecaster(**TINY, seed=1).fit(stray, **names).predict()
    expected = RNNForecaster(**TINY, seed=1).fit(df, **names).predict()
    pd.testing.assert_frame_equal(fc, expected)
    assert list(fc.columns) == ["store", "date", "y_pred"]


def test_future_covariates_beside_a_stray_internal_column_are_read_by_the_users_names():
    df = good().rename(columns={"unique_id": "store", "ds": "date", "y": "sales"})
    df["price"] = np.arange(len(df), dtype=float)
    names = dict(id_col="store", time_col="date", target_col="sales")
    model = RNNForecaster(**TINY, future_covariates=("price",)).fit(df.assign(ds="x"), **names)
    future = pd.DataFrame(
        {
            "store": np.repeat(["s0", "s1"], 3),
            "date": list(pd.date_range("2024-02-10", periods=3)) * 2,
            "price": 1.0,
        }
    )
    fc = model.predict(X_future=future.assign(ds="not a time"))
    assert len(fc) == 6 and list(fc["date"][:3]) == list(future["date"][:3])


@pytest.mark.parametrize(
    "covariate, said",
    [
        ("ds", "has the name this library gives the time column (yours is 'date')"),
        ("y", "has the name this library gives the target column (yours is 'sales')"),
        ("date", "'date' is the time column"),
        ("store", "'store' is the id column"),
    ],
)
def test_a_covariate_that_is_or_is_named_like_an_id_time_or_target_column_is_refused(
    covariate, said
):
    df = good().rename(columns={"unique_id": "store", "ds": "date", "y": "sales"})
    df = df.assign(ds=1.0, y=2.0)
    with pytest.raises(ValueError, match=re.escape(said)):
        RNNForecaster(**TINY, past_covariates=(covariate,)).fit(
            df, id_col="store", time_col="date", target_col="sales"
        )
    assert "'y' is the target column" in fit_error(good(), past_covariates=("y",))


def test_two_columns_of_one_name_that_the_model_reads_are_refused_by_name():
    twice = pd.concat([good(), good()[["y"]]], axis=1)
    assert "more than one column named ['y']" in fit_error(twice)
    price = pd.concat([good().assign(c=1.0), good()[["y"]].rename(columns={"y": "c"})], axis=1)
    assert "more than one column named ['c']" in fit_error(price, past_covariates=("c",))
    assert len(RNNForecaster(**TINY).fit(price).predict()) == 6  # an unread pair is no matter


def _berlin_model():
    df = pd.DataFrame(
        {
            "unique_id": "a",
            "ds": pd.date_range("2024-03-20", periods=20, freq="D", tz="Europe/Berlin"),
            "y": np.arange(20.0),
        }
    )
    return df, RNNForecaster(**{**TINY, "lookback": 4, "horizon": 2}).fit(df)


def test_predict_at_reads_text_cutoffs_of_different_utc_offsets_as_instants():
    df, model = _berlin_model()  # 31 March: +01:00 before, +02:00 after
    cutoffs = df["ds"].iloc[[8, 13]]  # 2024-03-28 +01:00 and 2024-04-02 +02:00
    by_time = model.predict_at(df, pd.DataFrame({"unique_id": "a", "cutoff": cutoffs}))
    for text in (
        cutoffs.astype(str),
        cutoffs.dt.tz_convert("UTC"),
        cutoffs.dt.tz_convert("Asia/Tokyo"),
    ):
        got = model.predict_at(df, pd.DataFrame({"unique_id": "a", "cutoff": list(text)}))
        pd.testing.assert_frame_equal(got, by_time)
    assert str(by_time["cutoff"].dt.tz) == "Europe/Berlin"


@pytest.mark.parametrize(
    "cutoffs, said",
    [
        (["2024-03-28 00:00:00"], "holds naive times"),
        (["2024-03-28 00:00:00+01:00", "2024-03-29"], "mixes times with a zone or UTC offset"),
        (["not a time"], "'not a time', which cannot be read as a timestamp"),
        ([8], "must hold timestamps like the data's time column"),
        ([None], "has a missing value"),
    ],
)
def test_predict_at_refuses_cutoffs_it_cannot_place_naming_the_column(cutoffs, said):
    df, model = _berlin_model()
    with pytest.raises(ValueError, match=re.escape(said)) as info:
        model.predict_at(df, pd.DataFrame({"unique_id": "a", "cutoff": cutoffs}))
    assert "'cutoff'" in str(info.value)


@pytest.mark.parametrize("freq, alias", [("SMS", "SMS-15"), ("SME", "SME-15")])
def test_semi_month_series_are_read_at_their_frequency(freq, alias):
    df = pd.concat(
        [
            pd.DataFrame(
                {"unique_id": f"s{i}", "ds": pd.date_range("2024-01-01", periods=n, freq=freq)}
            ).assign(y=lambda d: np.arange(len(d), dtype=float))
            for i, n in enumerate([20, 2, 1])
        ]
    )
    model = RNNForecaster(**{**TINY, "lookback": 4}).fit(df)
    assert set(model.freqs_.values()) == {alias}
    want = pd.date_range(df["ds"].iloc[19], periods=4, freq=freq)[1:]
    assert list(model.predict()["ds"][:3]) == list(want)


def test_an_irregular_series_near_2262_is_refused_by_name_not_by_pandas():
    ds = pd.date_range("2262-03-01", periods=9, freq="D") + pd.to_timedelta(
        [0, 5, 9, 12, 30, 31, 40, 41, 49], unit="min"
    )  # checking the semi-month steps ran past 2262: OutOfBoundsDatetime
    df = pd.DataFrame({"unique_id": "a", "ds": ds, "y": np.arange(9.0)})
    assert "'a' has a gap or irregular timestamp" in fit_error(df)


def test_booleans_among_numbers_in_a_text_column_are_refused_not_read_as_0_and_1():
    df = good().astype({"y": object})
    df.loc[:39, "y"] = [i % 2 == 0 for i in range(40)]  # a flag column, one number left in it
    msg = fit_error(df)
    assert "column 'y' mixes booleans with numbers" in msg and "'s0'" in msg and "True" in msg
    covariate = good().assign(c=pd.Series([True, 1.5] * 40, dtype=object))
    assert "column 'c' mixes booleans" in fit_error(covariate, past_covariates=("c",))


def _business_days(uid, start, n):
    ds = pd.bdate_range(start, periods=n)
    return pd.DataFrame({"unique_id": uid, "ds": ds, "y": np.arange(n, dtype=float)})


def test_a_short_run_of_weekdays_is_read_at_the_models_business_day_frequency():
    fit_data = pd.concat(
        [_business_days("s0", "2024-01-01", 40), _business_days("s1", "2024-01-04", 2)]
    )
    model = RNNForecaster(**{**TINY, "lookback": 3, "horizon": 2}).fit(fit_data)
    assert model.freqs_ == {"s0": "B", "s1": "B"}
    # four weekdays alone show daily data; the model's series steps by business days
    new = pd.concat([_business_days("s0", "2024-01-01", 40), _business_days("s1", "2024-02-05", 4)])
    fc = model.predict(new)  # refused before: 's1' has frequency 'D', the model 'B'
    assert list(fc.loc[fc.unique_id == "s1", "ds"]) == list(
        pd.to_datetime(["2024-02-09", "2024-02-12"])
    )
    origins = pd.DataFrame({"unique_id": ["s1"], "cutoff": [pd.Timestamp("2024-02-05")]})
    at = model.predict_at(new, origins)
    assert list(at["ds"]) == list(pd.to_datetime(["2024-02-06", "2024-02-07"]))
    weekend = new.copy()
    weekend.loc[weekend.unique_id == "s1", "ds"] = pd.date_range("2024-02-09", periods=4)
    with pytest.raises(ValueError, match="'s1' has frequency 'D' but the model was fitted at 'B'"):
        model.predict(weekend)


def test_checking_half_month_steps_onto_a_missing_local_hour_is_no_pandas_error():
    ds = pd.to_datetime(["2002-03-15 02:09", "2002-03-30 02:09", "2002-04-15 02:09"])
    df = pd.DataFrame({"unique_id": "a", "ds": ds.tz_localize("Europe/Berlin"), "y": [1.0, 2, 3]})
    assert "'a' has a gap or irregular timestamp" in fit_error(df)  # 31 March 02:09 never was
