"""The registered champion over HTTP (issue 24): ``forecast serve-model`` runs MLflow's model server
(``mlflow models serve --env-manager local``) as a real process on a free loopback port.

One tiny interval model (conformal 80 %) is logged and registered as champion in a temporary
store; the command line the CLI would exec is started, and POSTs of a history in both JSON
formats must equal ``predict`` on the same history; bad requests get a 400 that names the column
or series, without a traceback.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import subprocess
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast import RNNForecaster
from forecast.datasets.synthetic import make_panel
from pipelines import cli, logged_model, registry, runs, serving, store

from .conftest import free_port, stop, wait_for

pytestmark = pytest.mark.slow  # ~30-40 s: the server's start (torch, mlflow imports) dominates

NAME = "forecaster-serving"
ENV_KEYS = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The champion of a temporary store, served by the process ``forecast serve-model`` starts."""
    import mlflow

    saved = (store.ACTIVE.config, {k: os.environ.get(k) for k in ENV_KEYS})
    saved_uris = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    root = tmp_path_factory.mktemp("serving")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    store.configure(uri, experiment="serving")
    panel = make_panel(n_series=3, length=96, freq="h", seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lookback shorter than two seasons: not the point here
        est = RNNForecaster(
            hidden_size=8, lookback=24, horizon=6, max_epochs=1, interval="conformal", level=(80,),
            seed=0, device="cpu", verbose=False,
        ).fit(panel)  # fmt: skip
    with runs.run("serving") as run:
        logged_model.log_model(est, run_id=run.run_id)
        registry.register_and_promote(run.run_id, NAME, "holdout_mase", 1.0)
    port, log = free_port(), root / "server.log"
    code, out, (argv, env) = _serve_model(uri, port)
    assert code is None, out
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            argv, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/ping", 180, proc, log)
        yield dict(
            url=f"http://127.0.0.1:{port}", est=est, panel=panel, out=out, argv=argv, env=env
        )
    finally:
        stop(proc)
        store.ACTIVE.config = saved[0]
        mlflow.set_tracking_uri(saved_uris[0])
        mlflow.set_registry_uri(saved_uris[1])
        for key, value in saved[1].items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def _serve_model(uri, port, *more):
    """``forecast serve-model`` in this process, its exec caught: (exit code, stdout, (argv, env))."""
    caught = []
    buf = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(buf):
        mp.setattr(cli.os, "execvpe", lambda path, argv, env: caught.append((argv, env)))
        code = cli.main(["serve-model", "--model-name", NAME, "--tracking-uri", uri,
                         "--port", str(port), *more])  # fmt: skip
    return code, buf.getvalue(), caught[0] if caught else None


def post(url, payload):
    """(status, decoded JSON body) of a POST to /invocations."""
    req = urllib.request.Request(
        f"{url}/invocations",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def request(frame, orient):
    """A ``dataframe_<orient>`` payload, ``ds`` as ISO strings (what a JSON client sends)."""
    return {f"dataframe_{orient}": json.loads(frame.to_json(orient=orient, date_format="iso"))}


def test_the_command_prints_the_url_and_a_curl_of_the_models_own_example(served):
    out, argv = served["out"], served["argv"]
    assert served["url"] in out and "/invocations" in out, out
    assert argv[2:5] == ["mlflow", "models", "serve"] and f"models:/{NAME}@champion" in argv
    # torch on one thread in the server unless the caller's environment says otherwise
    assert served["env"]["OMP_NUM_THREADS"] == os.environ.get("OMP_NUM_THREADS", "1")
    assert served["env"][serving.SERVER_FLAG] == "1" and serving.SERVER_FLAG not in os.environ
    example = out.split("-d @")[1].split()[0]
    status, body = post(served["url"], json.loads(Path(example).read_text()))
    assert status == 200 and len(body["predictions"]) > 0, body


def test_only_the_model_server_freezes_its_heap_out_of_full_collections(served, monkeypatch):
    history = served["panel"].groupby("unique_id").tail(30).reset_index(drop=True)
    want = served["est"].predict(history)
    serving._settle.cache_clear()
    frozen = gc.get_freeze_count()
    pd.testing.assert_frame_equal(serving.answer(served["est"], history), want)
    assert gc.get_freeze_count() == frozen  # a Python caller of the pyfunc model: untouched
    monkeypatch.setenv(serving.SERVER_FLAG, "1")
    serving._settle.cache_clear()
    try:
        pd.testing.assert_frame_equal(serving.answer(served["est"], history), want)
        assert gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
        serving._settle.cache_clear()


@pytest.mark.parametrize(
    ("orient", "series"),
    [("split", None), ("records", None), ("split", ["series_1"])],  # one series, as timed
)
def test_the_served_champion_equals_predict_with_its_intervals(served, orient, series):
    history = served["panel"].groupby("unique_id").tail(40).reset_index(drop=True)
    if series is not None:
        history = history[history["unique_id"].isin(series)].reset_index(drop=True)
    status, body = post(served["url"], request(history, orient))
    assert status == 200, body
    got = pd.DataFrame(body["predictions"])
    want = served["est"].predict(history)
    assert (
        list(got.columns) == list(want.columns) == ["unique_id", "ds", "y_pred", "y_lo80", "y_hi80"]
    )
    assert (got["unique_id"] == want["unique_id"]).all()
    assert (pd.to_datetime(got["ds"]) == want["ds"]).all()
    for col in ("y_pred", "y_lo80", "y_hi80"):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-9, err_msg=col)


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        (lambda h: h.drop(columns="y"), "['y']"),
        (lambda h: h.assign(unique_id="no_such_series"), "no_such_series"),
        (lambda h: h.assign(y="high"), "column y"),
        (lambda h: pd.concat([h, h.iloc[[3]]]), "duplicate (unique_id, ds) = ('series_0'"),
    ],
    ids=["missing-y", "unknown-series", "non-numeric-y", "duplicate-row"],
)
def test_a_bad_request_gets_400_naming_the_column_or_series(served, bad, named):
    history = served["panel"].groupby("unique_id").tail(30).reset_index(drop=True)
    status, body = post(served["url"], request(bad(history), "split"))
    assert status == 400, body
    assert named in body["message"], body["message"]
    assert "stack_trace" not in body and "Traceback" not in body["message"]


def test_serve_model_refuses_a_model_with_no_champion_by_name(served):
    err = io.StringIO()
    uri = os.environ["MLFLOW_TRACKING_URI"]
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["serve-model", "--model-name", "nobody", "--tracking-uri", uri])
    assert code == cli.EXIT_USAGE and "'nobody'" in err.getvalue(), err.getvalue()
