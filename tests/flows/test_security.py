"""Security checks: servers on loopback unless told otherwise; no pickle in any load path (model,
tail, the MLflow pyfunc model); series ids and model names with ``../``, ``/``, NUL or shell
metacharacters never write outside the output folder; a database URL's password never reaches
logs, MLflow params, tags or descriptions; SQL table names are quoted (never executed)."""

from __future__ import annotations

import pickle
import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast import RNNForecaster
from forecast.datasets import load
from pipelines import flows, io, logged_model, runs, schedules, server, serving, signals, store

pytestmark = pytest.mark.usefixtures(
    "restore_tracking"
)  # tests here point MLflow at their own stores

REPO = Path(__file__).resolve().parents[2]
SECRET = "s3cretPassw0rd"
URL = f"postgresql://forecaster:{SECRET}@db.example.com:5432/sales"
HOSTILE_IDS = ["../../escape", "a/b", "x; rm -rf ~", "$(touch pwned)", "`id`", "nul\x00id"]
HOSTILE_NAME = "../../evil;$(touch pwned)"
TINY = dict(
    lookback=24,
    horizon=12,
    cells=["gru"],
    bidirectional=[False],
    window_norms=["none"],
    hidden_sizes=[8],
    max_epochs=1,
    batch_size=64,
    n_windows=1,
    season_length=12,
    device="cpu",
)


def test_every_server_the_project_starts_binds_loopback():
    argvs = [
        server.ui_command(5000)[0],
        schedules.server_command(4200)[0],
        signals.server_command(4300),
        serving.serve_command("forecaster", uri="sqlite:///x.db")[0],
    ]
    for argv in argvs:
        assert argv[argv.index("--host") + 1] == "127.0.0.1", argv
    for script in [
        *REPO.glob("scripts/*.sh"),
        *REPO.glob("mlflow/*.sh"),
        *REPO.glob("pipelines/*.py"),
    ]:
        text = script.read_text()
        assert "0.0.0.0" not in text, script
        # a literal address after --host (a variable holding the host is checked through argvs)
        assert all(h == "127.0.0.1" for h in re.findall(r"--host[\"',\s]+([\d.]+)", text)), script


def test_the_mlflow_pyfunc_model_logs_no_pickle_and_loads_without_one(tmp_path, monkeypatch):
    import mlflow

    store.configure(f"sqlite:///{tmp_path / 'mlflow.db'}", experiment="security")
    model = RNNForecaster(
        cell="gru",
        hidden_size=8,
        lookback=24,
        horizon=12,
        max_epochs=1,
        device="cpu",
        verbose=False,
    ).fit(load("airpassengers"))
    with runs.run("pyfunc") as run:
        ref = logged_model.log_model(model, run_id=run.run_id)
    local = Path(
        mlflow.artifacts.download_artifacts(ref.model_uri, dst_path=str(tmp_path / "model"))
    )
    files = [p.name for p in local.rglob("*") if p.is_file()]
    assert files and not [
        f for f in files if f.endswith((".pkl", ".pickle", ".cloudpickle", ".joblib"))
    ], files

    def refuse(*args, **kwargs):
        raise AssertionError("pickle used in a load path")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    loaded = mlflow.pyfunc.load_model(str(local))
    fc = loaded.predict(logged_model.pyfunc_input(load("airpassengers")))
    assert len(fc) == 12 and np.isfinite(fc["y_pred"]).all()


@pytest.mark.slow
def test_hostile_ids_names_and_a_database_password_stay_where_they_belong(
    prefect_harness, tmp_path, monkeypatch, capsys, caplog
):
    """A train flow whose data is a database URL with a password (the rows are served from memory)
    and whose series ids are path and shell tricks: forecasts land in the output folder only, no
    file appears elsewhere, and the password is in no printed or logged line, MLflow parameter,
    tag or description. A model name with the same tricks writes nothing outside either."""
    from mlflow.tracking import MlflowClient

    air = load("airpassengers")
    hostile = pd.concat(
        [air.assign(unique_id=uid, y=air["y"] * (1 + i / 10)) for i, uid in enumerate(HOSTILE_IDS)],
        ignore_index=True,
    )
    monkeypatch.setattr(io, "load_frame", lambda source, *args, **kwargs: hostile.copy())
    monkeypatch.chdir(tmp_path)
    uri, out = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}", tmp_path / "forecasts"
    state = flows.train(
        **TINY,
        source={"data": URL, "table": "sales"},
        tracking_uri=uri,
        output_dir=str(out),
        return_state=True,
    )
    assert state.is_completed(), state.message
    fc = pd.read_parquet(state.result()["forecast_path"])
    assert sorted(fc["unique_id"].unique()) == sorted(HOSTILE_IDS)
    bad_name = flows.forecast(
        source={"data": URL, "table": "sales"},
        tracking_uri=uri,
        model_name=HOSTILE_NAME,
        output_dir=str(out),
        return_state=True,
    )
    assert bad_name.is_failed()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    outside = [
        p for p in written if not (p.is_relative_to(out) or p.is_relative_to(tmp_path / "mlruns"))
    ]
    assert not outside, outside
    assert not [p for p in Path("/").glob("*pwned*")] and not list(tmp_path.rglob("*pwned*"))
    assert all(p.parent.parent == out for p in out.rglob("forecasts.*"))

    shown = capsys.readouterr()
    assert SECRET not in shown.out + shown.err and SECRET not in caplog.text
    client = MlflowClient(uri)
    exps = [e.experiment_id for e in client.search_experiments()]
    for r in client.search_runs(exps, max_results=1000):
        recorded = " ".join([*r.data.params.values(), *r.data.tags.values(), r.info.run_name or ""])
        assert SECRET not in recorded, r.info.run_name
        assert "db.example.com" not in recorded or "***" in recorded
    for m in client.search_registered_models():
        assert SECRET not in f"{m.description} {m.tags}"
        for v in client.search_model_versions(f"name = '{m.name}'"):
            assert SECRET not in f"{v.description} {v.tags}"


def test_table_names_are_quoted_never_executed(tmp_path):
    db = tmp_path / "data.db"
    url = f"sqlite:///{db}"
    air = load("airpassengers")
    with sqlite3.connect(db) as conn:
        air.assign(ds=air["ds"].astype(str)).to_sql("sales", conn, index=False)
        pd.DataFrame({"keep": [1]}).to_sql("other", conn, index=False)
    with pytest.raises(ValueError, match="sales; DROP TABLE other"):
        io.load_frame(url, table="sales; DROP TABLE other")
    weird = 'fc"; DROP TABLE other; --'
    io.write_sql(air.rename(columns={"y": "y_pred"}), url, weird)
    with sqlite3.connect(db) as conn:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    assert {"sales", "other", weird} <= tables
