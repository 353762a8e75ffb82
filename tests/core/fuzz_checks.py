"""Checks of the fuzzed operations' answers (fuzz_oracle.py): each raises AssertionError naming
what is wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd

SPAN = 100.0  # a forecast lies within this many value ranges of its series' values


def _finite(frame):
    values = frame.select_dtypes("number").to_numpy(dtype=np.float64)
    assert np.isfinite(values).all(), f"non-finite values ({int((~np.isfinite(values)).sum())})"


def same_times(got, want, design):
    got = pd.Index(got)
    if design.integer:
        return got.dtype.kind in "iu" and list(got) == list(want)
    if not isinstance(got, pd.DatetimeIndex):
        return False
    if design.fixed_offset:
        return got.tz is not None and got.tz_convert("UTC").equals(want.tz_convert("UTC"))
    if (got.tz is None) != (want.tz is None) or (
        want.tz is not None and str(got.tz) != str(want.tz)
    ):
        return False
    return got.as_unit("ns").equals(want.as_unit("ns"))


def _in_scale(case, s, values):
    """Forecasts of series ``s`` within :data:`SPAN` ranges of its values (a forecast of one
    series in another's scale, or overflowed, fails)."""
    if case.params.get("scaler") == "none" or s >= len(case.design.values):
        return  # no scaling: an untrained network on raw values is no fault
    y = np.asarray(case.design.values[s], dtype=np.float64)
    y, x = y[np.isfinite(y)], np.asarray(values, dtype=np.float64)
    if isinstance(case.params.get("scaler"), tuple):  # a log model: its scale is log(y)
        assert (x >= 0).all(), f"series {case.design.uids[s]!r}: a log model forecast {x[:3]}"
        tiny = np.finfo(np.float64).smallest_subnormal  # exp() of a very negative log underflows
        y, x = np.log(y[y > 0]), np.log(np.maximum(x, tiny))
    if len(y) < 2:
        return
    lo, hi = y.min(), y.max()
    if y.std() <= 1e-8:  # the library's scalers take a spread this small as none: scale 1
        span = SPAN * max(1.0, abs(lo), abs(hi))
    else:  # (a near-constant series' range is no measure below a millionth of its level)
        span = SPAN * max(hi - lo, 1e-6 * max(1.0, abs(lo), abs(hi)))
    assert ((x >= lo - span) & (x <= hi + span)).all(), (
        f"series {case.design.uids[s]!r}: forecasts {x[:3]} outside [{lo:.4g}, {hi:.4g}] +- "
        f"{SPAN:g} ranges"
    )


def _expected(design, horizon):
    return {
        str(u): (s, design.future(s, horizon))
        for s, u in enumerate(design.uids)
        if design.lengths[s] > 0
    }


def check_forecast(case, fc):
    """predict(): horizon rows per series, finite, at the times continuing each series, in
    scale, the input's kind and names."""
    design, h, kind = case.design, case.params["horizon"], case.recipe.kind
    want = _expected(design, h)
    if kind == "series":
        frame = fc.to_frame() if isinstance(fc, pd.Series) else fc
        _finite(frame)
        s, times = next(iter(want.values()))
        assert same_times(frame.index, times, design), f"times {list(frame.index[:3])}"
        name = case.recipe.series_name
        if isinstance(fc, pd.Series):
            assert fc.name == (name if name is not None else "y_pred"), f"Series named {fc.name!r}"
        _in_scale(case, s, frame.iloc[:, 0])
        return
    if kind == "wide":
        wide = fc["y_pred"] if isinstance(fc.columns, pd.MultiIndex) else fc
        assert set(map(str, wide.columns)) == set(want), f"columns {list(wide.columns)[:4]}"
        for column in wide.columns:
            values = wide[column].dropna()
            s, times = want[str(column)]
            assert len(values) == h, f"column {column!r}: {len(values)} forecasts"
            assert np.isfinite(values.to_numpy(np.float64)).all(), f"column {column!r}"
            assert same_times(values.index, times, design), f"column {column!r} times"
            _in_scale(case, s, values)
        return
    _finite(fc)
    ids = fc[design.id_col].astype(str)
    assert set(ids) == set(want), f"ids {sorted(set(ids))[:4]} for {sorted(want)[:4]}"
    for uid, rows in fc.groupby(ids, sort=False):
        s, times = want[uid]
        assert len(rows) == h, f"series {uid!r}: {len(rows)} rows for horizon {h}"
        assert same_times(rows[design.time_col], times, design), (
            f"series {uid!r} times {list(rows[design.time_col])[:3]} for {list(times)[:3]}"
        )
        _in_scale(case, s, rows["y_pred"])


def check_origins(case, fc):
    """predict_at(): horizon rows per origin, at the times after each cutoff, in scale."""
    design, h = case.design, case.params["horizon"]
    assert len(fc) == h * len(case.cuts), f"{len(fc)} rows for {len(case.cuts)} origins x {h}"
    _finite(fc)
    ids = fc["unique_id"].astype(str)
    for s, p in case.cuts.items():
        rows = fc[ids == str(design.uids[s])]
        want = design.times(s, p + h + 1)
        assert same_times(rows["ds"], want[p + 1 :], design), (
            f"series {design.uids[s]!r} times {list(rows['ds'])[:3]}"
        )
        assert same_times(rows["cutoff"].iloc[:1], want[p : p + 1], design), "cutoff column"
        _in_scale(case, s, rows["y_pred"])


def check_backtest(case, result):
    fc, h, nw = result.forecasts, case.params["horizon"], case.recipe.n_windows
    design = case.design
    n_series = sum(1 for n in design.lengths if n > 0)
    assert len(fc) == n_series * nw * h, f"{len(fc)} rows for {n_series} series x {nw} x {h}"
    _finite(fc.drop(columns=["window", "step"]))
    metrics = np.array(list(result.aggregate.values()), dtype=np.float64)
    assert not np.isinf(metrics).any(), f"infinite metric {result.aggregate}"
    ids = fc["unique_id"].astype(str)
    for s, u in enumerate(design.uids):
        rows = fc[ids == str(u)]
        if len(rows):
            n = design.lengths[s]
            assert same_times(rows["ds"].iloc[-h:], design.times(s, n)[n - h :], design), (
                f"series {u!r} last window times {list(rows['ds'].iloc[-h:])}"
            )


def same_answer(a, b, what):
    if isinstance(a, pd.Series):
        assert a.index.equals(b.index) and a.name == b.name, f"{what}: index or name differ"
    else:
        assert list(a.columns) == list(b.columns) and a.index.equals(b.index), (
            f"{what}: columns or index differ"
        )
        for column in a.columns:
            if not pd.api.types.is_float_dtype(a[column].dtype):
                assert a[column].equals(b[column]), f"{what}: column {column!r} differs"
    x = (a.to_frame() if isinstance(a, pd.Series) else a).select_dtypes("float").to_numpy()
    y = (b.to_frame() if isinstance(b, pd.Series) else b).select_dtypes("float").to_numpy()
    assert np.allclose(x, y, rtol=1e-4, atol=1e-6, equal_nan=True), f"{what}: values differ"
