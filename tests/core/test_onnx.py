"""ONNX export of the whole forecast: onnxruntime on the exported file gives ``predict_at``'s
columns (within 1e-4 relative) for every cell, bidirectional, every head, every window
normalisation, covariates, quantile, distribution and conformal models; what cannot be exported
is refused by name; the file is written atomically and the export is quiet."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import forecast
from forecast import RNNForecaster
from forecast.datasets.synthetic import make_panel
from forecast.export import onnx_inputs, read_metadata

pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
ort = pytest.importorskip("onnxruntime")

L, H = 8, 3
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime", "onnx_ir")
CASES = {  # together: every cell, bidirectional both ways, every head and window norm
    "rnn_direct_standard_quantiles_log_ensemble": dict(
        cell="rnn",
        num_layers=2,
        window_norm="standard",
        loss="pinball",
        quantiles=(0.1, 0.9),
        level=(80,),
        scaler=("log", "robust"),
        ensemble=2,
    ),
    "rnn_relu_recursive_last_normal_log1p": dict(
        cell="rnn_relu",
        head="recursive",
        window_norm="last",
        loss="normal",
        scaler=("log1p", "standard"),
    ),
    "lstm_bi_dot_es_covariates": dict(
        cell="lstm",
        bidirectional=True,
        head="seq2seq_dot",
        window_norm="es",
        past_covariates=("past_0",),
        future_covariates=("future_0",),
        static_covariates=("size",),
        calendar=True,
    ),
    "gru_bisum_additive_seasonal_stacked_conformal": dict(
        cell="gru",
        bidirectional="sum",
        head="seq2seq_additive",
        window_norm="seasonal",
        num_layers=(2, "residual_layer_norm"),
        interval="conformal",
    ),
    "gru_seq2seq_none_cqr": dict(
        cell="gru",
        head="seq2seq",
        window_norm=None,
        loss="pinball",
        quantiles=(0.05, 0.1, 0.9, 0.95),
        interval="cqr",
        level=(80, 90),
    ),
}
POINT = "lstm_bi_dot_es_covariates"


@pytest.fixture(scope="module")
def panel():
    df = make_panel(n_series=3, length=60, freq="D", seed=1, past_covariates=1, future_covariates=1)
    df["y"] = df["y"].abs() + 20.0  # positive, for the log scaler
    return df.assign(size=df["unique_id"].str[-1].astype(float))


def fit(df, **kw):
    # season_length 2: four cycles in the window, so the smoothing hybrid learns a profile
    params = dict(hidden_size=4, lookback=L, horizon=H, season_length=2, max_steps=3, verbose=False)
    return RNNForecaster(**params | kw).fit(df)


@pytest.fixture(scope="module")
def exported(panel, tmp_path_factory):
    """{case: (model, path, stdout, warnings)}, exported on first use."""
    cache = {}

    def get(name):
        if name not in cache:
            model = fit(panel, **CASES[name])
            path = tmp_path_factory.mktemp("onnx") / f"{name}.onnx"
            out = io.StringIO()
            with contextlib.redirect_stdout(out), warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model.export_onnx(path)
            cache[name] = model, path, out.getvalue(), caught
        return cache[name]

    return get


def origins_of(df):
    """Three origins per series: one with a window left-padded (fewer than L points), two
    inside."""
    days = np.sort(df["ds"].unique())
    ids = df["unique_id"].unique()
    cutoffs = days[[L - 4, 30, len(days) - H - 1]]
    return pd.DataFrame({"unique_id": np.repeat(ids, 3), "cutoff": np.tile(cutoffs, len(ids))})


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("name", list(CASES))
def test_onnxruntime_gives_predict_at_columns(exported, panel, name):
    model, path, _, _ = exported(name)
    origins = origins_of(panel)
    want = model.predict_at(panel, origins)
    sess = session(path)
    got = sess.run(None, onnx_inputs(model, panel, origins))
    names = [o.name for o in sess.get_outputs()]
    assert names == [c for c in want.columns if c.startswith("y_")]
    for column, values in zip(names, got):
        assert values.shape == (len(origins), H)
        np.testing.assert_allclose(values.ravel(), want[column], rtol=1e-4, err_msg=column)
    one = {k: v[4:5] for k, v in onnx_inputs(model, panel, origins).items()}  # batch of 1
    np.testing.assert_allclose(sess.run(None, one)[0][0], got[0][4], rtol=1e-6)


def test_forecast_from_the_end_matches_predict(exported, panel):
    model, path, _, _ = exported("lstm_bi_dot_es_covariates")
    last = panel.groupby("unique_id").tail(H)
    history, x_future = panel.drop(last.index), last[["unique_id", "ds", "future_0"]]
    want = model.predict(history, X_future=x_future)
    inputs = onnx_inputs(model, history, X_future=x_future)
    (got,) = session(path).run(None, inputs)
    np.testing.assert_allclose(got.ravel(), want["y_pred"], rtol=1e-4)
    series = np.asarray(read_metadata(path)["series"])[inputs["series"]]
    assert list(np.repeat(series, H)) == list(want["unique_id"])


def test_metadata_describes_what_to_feed(exported):
    model, path, _, _ = exported("lstm_bi_dot_es_covariates")
    meta = read_metadata(path)
    sess = session(path)
    assert json.loads(sess.get_modelmeta().custom_metadata_map["forecast"]) == meta
    assert [i["name"] for i in meta["inputs"]] == [i.name for i in sess.get_inputs()]
    assert [i["name"] for i in meta["inputs"]] == [
        "y",
        "series",
        "past_covariates",
        "future_covariates",
        "calendar",
    ]
    shapes = {i.name: i.shape for i in sess.get_inputs()}
    assert shapes["y"] == ["batch", L] and shapes["future_covariates"] == ["batch", L + H, 1]
    assert meta["series"] == list(model.ids_) and meta["lookback"] == L and meta["horizon"] == H
    assert "'future_0'" in meta["inputs"][3]["units"]


def test_the_export_is_quiet(exported):
    _, _, out, caught = exported(POINT)
    assert out == "" and [str(w.message) for w in caught] == []


@pytest.mark.parametrize("loss", ["student_t", "negative_binomial"])
def test_a_family_without_an_onnx_quantile_is_refused_by_name(panel, tmp_path, loss):
    df = panel.assign(y=panel["y"].round()) if loss == "negative_binomial" else panel
    model = fit(df, loss=loss, max_steps=1)
    with pytest.raises(ValueError, match=f"loss='{loss}' cannot be exported"):
        model.export_onnx(tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


def test_bad_levels_and_paths_are_refused(exported, tmp_path):
    model, _, _, _ = exported(POINT)
    with pytest.raises(ValueError, match="level"):
        model.export_onnx(tmp_path / "m.onnx", level=(80,))  # a point model has no intervals
    conformal, _, _, _ = exported("gru_bisum_additive_seasonal_stacked_conformal")
    with pytest.raises(ValueError, match="level=50 was not calibrated"):
        conformal.export_onnx(tmp_path / "m.onnx", level=(50,))
    with pytest.raises(ValueError, match="is a folder"):
        model.export_onnx(tmp_path)


def test_a_failed_write_leaves_the_old_file(exported, tmp_path, monkeypatch):
    import onnx

    from forecast.export import onnx as export

    model, _, _, _ = exported(POINT)
    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous")
    empty = onnx.helper.make_model(onnx.helper.make_graph([], "empty", [], []))
    monkeypatch.setattr(export, "trace", lambda *args: empty)  # no tracing: only the write

    def broken(proto, f, *args, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(onnx, "save_model", broken)
    with pytest.raises(OSError, match="disk full"):
        model.export_onnx(target)
    assert target.read_bytes() == b"previous" and [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_onnx_inputs_names_an_origin_without_its_horizon(exported, panel):
    model, _, _, _ = exported(POINT)
    last = panel["ds"].max()
    with pytest.raises(ValueError, match="needs 3 points after the cutoff"):
        onnx_inputs(model, panel, pd.DataFrame({"unique_id": ["series_0"], "cutoff": [last]}))


def test_the_library_imports_onnx_only_inside_functions():
    """``import forecast`` (and any of its modules) never needs the serving extra."""
    found = []
    for path in sorted(Path(forecast.__file__).parent.rglob("*.py")):
        todo = list(ast.parse(path.read_text()).body)
        while todo:
            node = todo.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue  # runs when called, not at import
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ONNX_PACKAGES]
            todo.extend(ast.iter_child_nodes(node))
    assert found == []
