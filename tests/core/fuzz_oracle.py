"""The fuzz property: run a generated :class:`~fuzz_inputs.Case` through every entry point and
judge each answer.

Operations: ``fit``, ``predict``, ``predict(df_history)``, ``predict_at`` (with some empty origin
frames), ``backtest``, ``save``/``load``, and the forecast flow's input validation
(``pipelines.io.standard_columns`` -> ``pipelines.future.split_future`` -> ``tasks.validate_data`` ->
``tasks.check_matches_model``, called as plain functions: no Prefect run starts).

Each answer is one :class:`Outcome`: ``ok`` (it worked, and every forecast is finite, for the right
series, at the timestamps that continue each series' frequency, ``horizon`` rows each),
``refused`` (a ValueError/TypeError raised by our own code whose message names a column, series,
parameter or value), or ``fault`` with a kind (an exception from inside pandas/numpy/torch, a
refusal that names nothing, a bad answer, or an answer to an input that must be refused).
"""

from __future__ import annotations

import tempfile
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecast import RNNForecaster, backtest

ROOT = Path(__file__).resolve().parents[2]
OURS = (str(ROOT / "forecast"), str(ROOT / "pipelines"))
PARAMS = (
    "lookback",
    "horizon",
    "val_size",
    "short_series",
    "fill",
    "window_norm",
    "target_transform",
    "calendar",
    "n_windows",
    "step",
    "season_length",
    "past_covariates",
    "future_covariates",
    "static_covariates",
    "head",
    "scaler",
    "origins",
    "cutoff",
    "X_future",
    "index",
    "empty",
    "DatetimeIndex",
    "series_0",
    "'fuzz'",
)  # fuzz: the flow's one series of a file without ids


@dataclass
class Outcome:
    op: str
    status: str  # ok | refused | fault
    kind: str = ""  # the fault's kind (one line), or the refusal's first words
    detail: str = ""


def run_case(case, flow=True):
    """[Outcome] of every operation the case's recipe asks for (fit and predict always)."""
    out = []
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp:
        warnings.simplefilter("ignore")
        model, fc = _fit_predict(case, out)
        ops = case.recipe.ops
        if model is not None:
            _op(out, "predict(df)", case.expect, lambda: _predict_history(case, model, fc), case)
            if "predict_at" in ops:
                _op(out, "predict_at", case.expect, lambda: _predict_at(case, model), case)
            if "save_load" in ops:
                _op(
                    out,
                    "save/load",
                    case.expect,
                    lambda: _save_load(case, model, fc, Path(tmp) / "model"),
                    case,
                )
        if "backtest" in ops and not {"renamed", "missing_column"} <= set(case.recipe.faults):
            # (backtest takes the standard column names: a renamed frame lacking one may read as a wide frame)
            _op(out, "backtest", case.expect_backtest, lambda: _backtest(case), case)
        if flow and "flow" in ops and case.recipe.kind == "long":
            # trailing rows without a target are the future there, not a fault
            # (a static column is read from the model, not the data, so its changes are no fault there either)
            # (nor is a file without an id column: it is one series)
            loose = {"nan_last", "nan", "renamed", "missing_column"} & set(
                case.recipe.faults
            ) or any(fault == "varying" for _, _, fault in case.recipe.covariates)
            flow_expect = "either" if loose else case.expect
            _op(out, "flow validation", flow_expect, lambda: _flow(case, model), case)
    return out


def _fit_predict(case, out):
    holder = {}

    def fit():
        holder["model"] = RNNForecaster(**case.params).fit(case.data, **case.fit_kwargs)

    _op(out, "fit", case.expect, fit, case)
    model = holder.get("model")
    if model is None:
        return None, None

    def predict():
        holder["fc"] = model.predict(X_future=case.x_future)
        _check_forecast(case, holder["fc"])

    _op(out, "predict", case.expect, predict, case)
    return (model, holder["fc"]) if "fc" in holder else (None, None)


def _op(out, name, expect, fn, case):
    """Run ``fn`` and judge it: an exception, or (``fn`` returning) an answer its checks accepted."""
    try:
        problem = fn()
    except (ValueError, TypeError) as exc:
        out.append(_refusal(name, exc, case))
        return
    except AssertionError as exc:  # a check of the answer failed
        out.append(Outcome(name, "fault", f"{name}: bad answer: {exc}"))
        return
    except Exception as exc:  # noqa: BLE001 -- anything else is a fault to record
        out.append(
            Outcome(
                name, "fault", f"{name}: {type(exc).__name__} at {_where(exc)}", _first_line(exc)
            )
        )
        return
    if problem:
        out.append(Outcome(name, "fault", f"{name}: bad answer: {problem}"))
    elif expect == "refuse":
        out.append(Outcome(name, "fault", f"{name}: accepted an input it must refuse"))
    else:
        out.append(Outcome(name, "ok"))


def _refusal(name, exc, case):
    where, message = _where(exc), str(exc)
    if not where.startswith(("forecast", "pipelines")):
        return Outcome(name, "fault", f"{name}: {type(exc).__name__} at {where}", _first_line(exc))
    if not names_something(message, case):
        return Outcome(
            name, "fault", f"{name}: a refusal that names nothing at {where}", _first_line(exc)
        )
    return Outcome(name, "refused", _first_line(exc)[:80], _first_line(exc))


def names_something(message, case):
    """Whether a refusal names a column, series, parameter or value of the case."""
    data = case.data
    columns = list(data.columns) if isinstance(data, pd.DataFrame) else []
    names = [
        *columns,
        case.design.id_col,
        case.design.time_col,
        case.design.target_col,
        *[
            c
            for cov in ("past_covariates", "future_covariates", "static_covariates")
            for c in case.params.get(cov, ())
        ],
    ]
    tokens = [repr(str(c)) for c in names] + [repr(c) for c in names]
    tokens += [repr(str(u)) for u in case.design.uids] + [repr(u) for u in case.design.uids]
    if isinstance(data, pd.Series):
        tokens += [repr(str(data.name)), "Series"]
    return any(t in message for t in tokens) or any(p in message for p in PARAMS)


def _where(exc):
    """``module:function`` of the innermost frame that raised ``exc``."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    path = last.filename
    for root in OURS:
        if path.startswith(root):
            return f"{Path(root).name}/{Path(path).relative_to(root)}:{last.name}"
    parts = Path(path).parts
    package = (
        parts[parts.index("site-packages") + 1] if "site-packages" in parts else Path(path).name
    )
    return f"{package}:{last.name}"


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


# ---------------------------------------------------------------------------------------------- checks
def _finite(frame):
    values = frame.select_dtypes("number").to_numpy(dtype=np.float64)
    assert np.isfinite(values).all(), (
        f"non-finite forecast values ({int((~np.isfinite(values)).sum())})"
    )


def _same_times(got, want, design):
    got = pd.Index(got)
    if design.integer:
        return got.dtype.kind == "i" and list(got) == list(want)
    if not isinstance(got, pd.DatetimeIndex):
        return False
    if design.fixed_offset:
        return got.tz is not None and got.tz_convert("UTC").equals(want.tz_convert("UTC"))
    if (got.tz is None) != (want.tz is None) or (
        want.tz is not None and str(got.tz) != str(want.tz)
    ):
        return False
    return got.as_unit("ns").equals(want.as_unit("ns"))


def _check_forecast(case, fc):
    """predict(): horizon rows per series, finite, at the times continuing each series."""
    design, h, kind = case.design, case.params["horizon"], case.recipe.kind
    want = {uid: times for uid, times in _expected(design, h).items()}
    if kind == "series":
        assert isinstance(fc, pd.Series), f"a Series input gave {type(fc).__name__}"
        _finite(fc.to_frame())
        assert _same_times(fc.index, next(iter(want.values())), design), (
            f"times {list(fc.index[:3])}"
        )
        name = case.recipe.series_name
        assert fc.name == (name if name is not None else "y_pred"), (
            f"Series name {fc.name!r} for {name!r}"
        )
        return
    if kind == "wide":
        assert set(map(str, fc.columns)) == set(want), f"columns {list(fc.columns)[:4]}"
        for col in fc.columns:
            values = fc[col].dropna()
            assert len(values) == h and np.isfinite(values.to_numpy(np.float64)).all(), (
                f"column {col!r}: {values}"
            )
            assert _same_times(values.index, want[str(col)], design), (
                f"column {col!r} times {list(values.index)}"
            )
        return
    _finite(fc)
    ids = fc[design.id_col]
    assert set(map(str, ids)) == set(want), (
        f"ids {sorted(set(map(str, ids)))[:4]} for {sorted(want)[:4]}"
    )
    for uid, rows in fc.groupby(ids.astype(str), sort=False):
        assert _same_times(rows[design.time_col], want[uid], design), (
            f"series {uid!r} times {list(rows[design.time_col])} for {list(want[uid])}"
        )


def _expected(design, horizon):
    return {
        str(u): design.future(s, horizon)
        for s, u in enumerate(design.uids)
        if design.lengths[s] > 0
    }


def _predict_history(case, model, fc):
    again = model.predict(case.data, X_future=case.x_future)
    _check_forecast(case, again)
    _same_answer(fc, again, "predict(df) of the fit data")


def _same_answer(a, b, what):
    if isinstance(a, pd.Series):
        assert a.index.equals(b.index) and a.name == b.name, f"{what}: index or name differ"
    else:
        assert list(a.columns) == list(b.columns) and a.index.equals(b.index), (
            f"{what}: columns or index differ"
        )
        for col in a.columns:
            if not pd.api.types.is_float_dtype(a[col].dtype):
                assert a[col].equals(b[col]), f"{what}: column {col!r} differs"
    x, y = (
        (a.to_frame() if isinstance(a, pd.Series) else a),
        (b.to_frame() if isinstance(b, pd.Series) else b),
    )
    x, y = x.select_dtypes("float"), y.select_dtypes("float")
    assert np.allclose(x.to_numpy(), y.to_numpy(), rtol=1e-4, atol=1e-6, equal_nan=True), (
        f"{what}: values differ"
    )


def _predict_at(case, model):
    design, h = case.design, case.params["horizon"]
    rng = np.random.default_rng(case.recipe.seed + 1)
    cut = {s: n - h - 1 for s, n in enumerate(design.lengths) if n > h}
    if rng.random() < 0.2:
        cut = {}  # an empty origins frame
    origins = pd.DataFrame(
        {
            "unique_id": pd.Series([design.uids[s] for s in cut], dtype=object),
            "cutoff": pd.Series([design.times(s, n + 1)[n] for s, n in cut.items()], dtype=object),
        }
    )
    fc = model.predict_at(case.data, origins)
    assert len(fc) == h * len(cut), f"{len(fc)} rows for {len(cut)} origins x horizon {h}"
    _finite(fc)
    for s, n in cut.items():
        rows = fc[fc["unique_id"].astype(str) == str(design.uids[s])]
        want = design.times(s, n + h + 1)[n + 1 :]
        assert _same_times(rows["ds"], want, design), (
            f"series {design.uids[s]!r} times {list(rows['ds'])}"
        )


def _backtest(case):
    n_windows = 1 + case.recipe.seed % 2
    result = backtest(
        RNNForecaster(**case.params),
        case.data,
        n_windows=n_windows,
        refit=bool(case.recipe.seed % 3),
    )
    fc, h = result.forecasts, case.params["horizon"]
    n_series = sum(1 for n in case.design.lengths if n > 0)
    assert len(fc) == n_series * n_windows * h, (
        f"{len(fc)} rows for {n_series} series x {n_windows} windows x {h}"
    )
    _finite(fc.drop(columns=["window", "step"]))
    metrics = np.array(list(result.aggregate.values()), dtype=np.float64)
    assert not np.isinf(metrics).any(), f"infinite metric {result.aggregate}"
    for s, u in enumerate(case.design.uids):
        rows = fc[fc["unique_id"].astype(str) == str(u)]
        if len(rows):
            n = case.design.lengths[s]
            assert _same_times(
                rows["ds"].iloc[-h:], case.design.times(s, n)[n - h :], case.design
            ), f"series {u!r} last window times {list(rows['ds'].iloc[-h:])}"


def _save_load(case, model, fc, path):
    model.save(path)
    loaded = RNNForecaster.load(path)
    again = loaded.predict(X_future=case.x_future)
    _check_forecast(case, again)
    _same_answer(fc, again, "predict() after save/load")


def _flow(case, model):
    """The forecast flow's opening on the case's frame, as if read from a file (a long frame)."""
    from pipelines import io, tasks
    from pipelines.future import split_future

    d = case.design
    df = io.standard_columns(
        case.data.copy(), "data file fuzz.csv", "fuzz", d.id_col, d.time_col, d.target_col
    )
    future_cols = (
        list(model.layout_.future)
        if model is not None
        else list(case.params.get("future_covariates", ()))
    )
    history, _ = split_future(df, future_cols)
    names = tasks.column_names(d.id_col, d.time_col, d.target_col)
    columns = (
        tasks.model_columns(model)
        if model is not None
        else [
            *case.params.get("past_covariates", ()),
            *future_cols,
            *case.params.get("static_covariates", ()),
        ]
    )
    long = tasks.validate_data.fn(history, columns=columns, names=names, fill=case.params["fill"])
    assert np.isfinite(long["y"].to_numpy(np.float64)).all(), "non-finite targets passed validation"
    if model is not None:
        tasks.check_matches_model.fn(long, model)
