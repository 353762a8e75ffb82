"""Prefect flows, tasks, schedules and the ``forecast`` CLI.

Tasks are tested through ``task.fn(...)``; each flow runs end to end once under the session's
Prefect test harness with MLflow in a temporary SQLite store. Failures (bad data path, data that
does not match the model, unreachable tracking server) must end the flow run failed with a
message naming the cause and leave earlier forecast files untouched. The ``slow`` tests start a
real Prefect server: a served deployment with a schedule runs to completion, and the train flow
runs on a 2-worker local Dask cluster.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from forecast import choices
from forecast.data.history import check_history
from forecast.datasets import load
from pipelines import (
    budget,
    cli,
    config,
    data_tasks,
    environment,
    flows,
    io,
    io_tasks,
    retries,
    runners,
    schedules,
    store,
    tasks,
)
from pipelines.parameters import Source, as_trained

from .conftest import free_port

REPO = Path(__file__).resolve().parents[2]


def air():
    return load("airpassengers")


def snapshot(folder):
    """{relative path: bytes} of every file under ``folder``."""
    folder = Path(folder)
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


# ---------------------------------------------------------------------------------- data tasks
def test_load_data_reads_bundled_csv_and_parquet(tmp_path):
    bundled = io_tasks.load_data.fn(Source(data="airpassengers"))
    bundled.to_csv(tmp_path / "air.csv", index=False)
    bundled.to_parquet(tmp_path / "air.parquet", index=False)
    for path in ("air.csv", "air.parquet"):
        got = io_tasks.load_data.fn(Source(data=str(tmp_path / path)))
        assert len(got) == 144 and got["ds"].dtype.kind == "M"
        pd.testing.assert_series_equal(got["y"], bundled["y"])


def test_load_data_reads_a_sql_table(tmp_path):
    url = f"sqlite:///{tmp_path / 'obs.db'}"
    io.write_sql(air(), url, "observations")
    got = io_tasks.load_data.fn(Source(data=url, table="observations"))
    assert len(got) == 144 and set(got.columns) >= {"unique_id", "ds", "y"}
    with pytest.raises(ValueError, match="needs a table name"):
        io_tasks.load_data.fn(Source(data=url))


def test_load_data_names_the_missing_path_and_bad_columns(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        io_tasks.load_data.fn(Source(data=str(tmp_path / "nope.csv")))
    (tmp_path / "wide.csv").write_text("ds,sales\n2020-01-01,1\n")
    with pytest.raises(
        ValueError, match=r"wide.csv: missing column\(s\) \['y'\]; .*found \['ds', 'sales'\]"
    ):
        io_tasks.load_data.fn(Source(data=str(tmp_path / "wide.csv")))
    (tmp_path / "data.xlsx").write_text("x")
    with pytest.raises(ValueError, match="unknown format"):
        io_tasks.load_data.fn(Source(data=str(tmp_path / "data.xlsx")))


def test_load_data_maps_custom_column_names(tmp_path):
    path = REPO / "datasets" / "AirPassengers.csv"  # Date,Passengers: no id column
    with pytest.raises(ValueError) as err:
        io_tasks.load_data.fn(Source(data=str(path)))
    msg = str(err.value)
    assert (
        "AirPassengers.csv: missing column(s) ['ds', 'y']" in msg
        and "found ['Date', 'Passengers']" in msg
    )
    assert "--time-col" in msg
    got = io_tasks.load_data.fn(Source(data=str(path), time_col="Date", target_col="Passengers"))
    assert list(got.columns) == ["unique_id", "ds", "y"] and set(got["unique_id"]) == {
        "AirPassengers"
    }
    np.testing.assert_array_equal(got["ds"].to_numpy(), air()["ds"].to_numpy())
    np.testing.assert_array_equal(got["y"].to_numpy(), air()["y"].to_numpy())
    panel = air().rename(columns={"unique_id": "store", "ds": "when", "y": "sales"})
    panel.to_parquet(tmp_path / "panel.parquet", index=False)
    got = io_tasks.load_data.fn(
        Source(
            data=str(tmp_path / "panel.parquet"),
            id_col="store",
            time_col="when",
            target_col="sales",
        )
    )
    assert list(got.columns) == ["unique_id", "ds", "y"] and len(got) == 144
    with pytest.raises(
        ValueError, match=r"missing column\(s\) \['shop'\]"
    ):  # an id column asked for must exist
        io_tasks.load_data.fn(
            Source(
                data=str(tmp_path / "panel.parquet"),
                id_col="shop",
                time_col="when",
                target_col="sales",
            )
        )
    key = {"source": Source(data=str(path), time_col="Date", target_col="Passengers")}
    assert io_tasks.data_cache_key(None, key) != io_tasks.data_cache_key(None, _source(path))


def test_column_names_unset_are_taken_as_at_training_where_the_data_has_them(tmp_path):
    trained = {"id_col": "store", "time_col": "week", "target_col": "sales"}
    own = air().rename(columns={"unique_id": "store", "ds": "week", "y": "sales"})
    own.to_csv(tmp_path / "own.csv", index=False)
    own.to_parquet(tmp_path / "own.parquet", index=False)
    url = f"sqlite:///{tmp_path / 'own.db'}"
    io.write_sql(own, url, "obs")
    for data, table in ((str(tmp_path / "own.csv"), None), (str(tmp_path / "own.parquet"), None)):
        assert io.columns_of(data, table) == ["store", "week", "sales"]
    assert io.columns_of(url, "obs") == ["store", "week", "sales"]
    assert io.columns_of(str(tmp_path / "nope.csv")) is None  # the loader names that fault
    present = ["store", "week", "sales"]
    got = as_trained(Source(data="own.csv"), trained, present)
    assert (got.id_col, got.time_col, got.target_col) == ("store", "week", "sales")
    # a name the user gives stays, as does a default the data has
    given = as_trained(Source(data="own.csv", target_col="units"), trained, present + ["units"])
    assert given.target_col == "units"
    standard = as_trained(Source(data="std.csv"), trained, ["unique_id", "ds", "y", "store"])
    assert (standard.id_col, standard.time_col, standard.target_col) == ("unique_id", "ds", "y")
    # the trained name absent: left to the loader's missing-column error, which names the flags
    assert as_trained(Source(data="x.csv"), trained, ["when", "sales"]).time_col == "ds"


def test_a_large_job_gets_a_budget_and_a_small_one_none(caplog, monkeypatch):
    import logging

    # a logger of its own that writes to caplog's handler directly: whatever Prefect run context,
    # level or propagation an earlier test (or Prefect's logging setup) left behind
    log = logging.getLogger("tests.budget")
    log.setLevel(logging.INFO)
    log.propagate = False
    monkeypatch.setattr(log, "handlers", [caplog.handler])
    monkeypatch.setattr(budget, "run_logger", lambda: log)
    small = budget.plan(air(), 36, 12, 16, 100, 6, 2)
    assert small.max_time is None and small.chosen and small.timesteps < budget.SLOW_TIMESTEPS
    long = pd.DataFrame(
        {"unique_id": "a", "ds": pd.date_range("2016", periods=17420, freq="h"), "y": 0.0}
    )
    job = budget.plan(long, 36, 12, 256, 100, 6, 2)
    assert (
        job.steps == 50 * 100 * 8
    )  # 6 candidates + hold-out + final fit, epochs of 50 batches (the estimator's windows_per_epoch=None)
    assert job.max_time == budget.DEFAULT_SECONDS and job.chosen  # large: bounded by default
    assert (
        "40,000 gradient steps" in job.describe()
        and "--max-time SECONDS to change it, 0 for none" in job.describe()
    )
    # sizes left to the data: 20 passes over the 17,373 windows (68 batches of 256 a pass), in epochs
    # of 50 batches: 28 epochs, 1,400 steps a fit (not the 2,000 of a large panel; forecast.training.loop.plan)
    assert budget.plan(long, 36, 12, None, None, 6, 2).steps == 28 * 50 * 8
    unbounded = budget.announce(
        budget.plan(long, 36, 12, 256, 100, 6, 2, max_time=0)
    )  # 0: no clock, warned
    assert unbounded.max_time is None and not unbounded.chosen
    assert "without a time budget" in caplog.text and "--max-time" in caplog.text
    big_grid = budget.plan(long, 36, 12, 256, 100, 120, 2)  # at least MIN_SHARE_SECONDS a share
    assert big_grid.max_time == budget.MIN_SHARE_SECONDS * (120 + 2 * budget.FINAL_SHARES)


def test_windows_follow_the_data_unless_given():
    hourly = pd.DataFrame(
        {"unique_id": "a", "ds": pd.date_range("2020", periods=600, freq="h"), "y": 1.0}
    )
    win = budget.windows(check_history(hourly), horizon=48, n_windows=2, val_size=48)
    assert (win.freq, win.season_length, win.lookback, win.season_inferred) == ("h", 24, 96, True)
    assert win.lookback >= 48
    assert budget.windows(check_history(air()), 12, 2, 12) == budget.Windows(
        "MS", 12, 24, True, True
    )
    given = budget.windows(check_history(air()), 12, 2, 12, lookback=36, season_length=6)
    assert (
        given.season_length,
        given.lookback,
        given.season_inferred,
        given.lookback_inferred,
    ) == (6, 36, False, False)
    assert "given" in given.describe(12) and "inferred from frequency 'MS'" in win.describe(
        48
    ).replace("'h'", "'MS'")


def test_model_name_follows_the_data():
    from pipelines.parameters import Source, model_name_for

    assert model_name_for("airpassengers") == "forecaster-airpassengers"
    assert model_name_for("/data/shop sales.csv.gz") == "forecaster-shop-sales"
    assert model_name_for("postgresql://u:secret@db/x", "daily_sales") == "forecaster-daily_sales"
    assert "secret" not in model_name_for("postgresql://u:secret@db/x", None)
    assert Source(data="/data/sales.csv").model_name() == "forecaster-sales"
    shown = repr(Source(data="postgresql://u:secret@db/x", table="t"))  # logs never see a password
    assert "secret" not in shown and "u:***@db" in shown


def _source(data):
    """load-data's parameters as Prefect hands them to its cache key."""
    return {"source": Source(data=str(data))}


def test_data_cache_key_follows_the_content(tmp_path):
    path = tmp_path / "air.csv"
    air().to_csv(path, index=False)
    key = io_tasks.data_cache_key(None, _source(path))
    assert key == io_tasks.data_cache_key(None, _source(path))
    air().assign(y=lambda d: d.y + 1).to_csv(path, index=False)
    assert io_tasks.data_cache_key(None, _source(path)) != key
    assert io_tasks.data_cache_key(None, _source("airpassengers")).startswith(
        "dataset:airpassengers:"
    )
    assert (
        io_tasks.data_cache_key(None, {"source": {"data": "sqlite:///x.db", "table": "t"}}) is None
    )  # never cached


def test_validate_data_rejects_short_series_and_sorts():
    shuffled = air().sample(frac=1.0, random_state=0)
    assert tasks.validate_data.fn(shuffled)["ds"].is_monotonic_increasing
    with pytest.raises(
        ValueError, match="'AirPassengers' has 144 points, fewer than the 200 needed"
    ):
        tasks.validate_data.fn(air(), 200)


def test_validate_data_fills_nan_targets_when_asked_and_names_the_users_column():
    df = air()
    df.loc[10, "y"] = np.nan
    with pytest.raises(ValueError, match="column 'Passengers' has NaN in series 'AirPassengers'"):
        tasks.validate_data.fn(df, names=tasks.column_names("unique_id", "ds", "Passengers"))
    filled = tasks.validate_data.fn(df, fill="ffill")
    assert filled.loc[10, "y"] == df.loc[9, "y"]


def test_holdout_score_gives_owa_against_the_reference():
    model = SimpleNamespace(aggregate={"mase": 1.0, "smape": 4.0})
    naive = SimpleNamespace(aggregate={"mase": 2.0, "smape": 5.0})
    assert tasks.holdout_score(model, naive, "mase") == 1.0
    assert tasks.holdout_score(model, naive, "owa") == pytest.approx(0.5 * (4 / 5 + 1 / 2))
    assert tasks.holdout_score(naive, naive, "owa") == pytest.approx(1.0)


def test_split_holdout_keeps_all_but_the_last_horizon():
    df = pd.concat([air(), air().assign(unique_id="B")], ignore_index=True)
    seen = data_tasks.split_holdout(df, 12)
    assert seen.groupby("unique_id").size().tolist() == [132, 132]
    assert seen["ds"].max() == pd.Timestamp("1959-12-01")


def test_check_matches_model_refuses_other_series_and_frequency():
    from forecast import RNNForecaster

    model = RNNForecaster(lookback=12, horizon=12, hidden_size=4, max_epochs=1, device="cpu").fit(
        air()
    )
    tasks.check_matches_model.fn(air(), model)
    with pytest.raises(ValueError, match=r"series not seen in training \['B'\]"):
        tasks.check_matches_model.fn(air().assign(unique_id="B"), model)
    daily = air().assign(ds=pd.date_range("2020-01-01", periods=144, freq="D"))
    with pytest.raises(ValueError, match="frequency 'D', the model was fitted at 'MS'"):
        tasks.check_matches_model.fn(daily, model)


def test_write_forecasts_is_atomic_and_partitioned_by_run(tmp_path):
    fc = pd.DataFrame(
        {
            "unique_id": ["a"] * 3,
            "ds": pd.date_range("2020-01-01", periods=3),
            "y_pred": [1.0, 2, 3],
        }
    )
    first = Path(io_tasks.write_forecasts.fn(fc, str(tmp_path), "run=20261123T130000Z", "parquet"))
    assert first == tmp_path / "run=20261123T130000Z" / "forecasts.parquet"
    before = snapshot(tmp_path)
    second = Path(io_tasks.write_forecasts.fn(fc, str(tmp_path), "run=20261123T140000Z", "csv"))
    assert pd.read_csv(second)["y_pred"].tolist() == [1.0, 2.0, 3.0]
    after = snapshot(tmp_path)
    assert {k: after[k] for k in before} == before  # the earlier run's file is untouched
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert (
        io.run_stamp(pd.Timestamp("2026-11-23 13:05:09", tz="UTC")) == "run=20261123T130509.000000Z"
    )


def test_retry_condition_skips_permanent_errors():
    from prefect.states import Failed

    def failed(exc):
        return Failed(data=exc)

    assert retries.transient(None, None, failed(ConnectionError("reset"))) is True
    assert retries.transient(None, None, failed(FileNotFoundError("gone"))) is False
    assert retries.transient(None, None, failed(ValueError("bad data"))) is False


def test_records_inside_a_step_are_retried_in_place_on_transient_errors(monkeypatch):
    monkeypatch.setattr(retries.time, "sleep", lambda seconds: None)
    calls = []

    def flaky(error, times):
        calls.append(error)
        if len(calls) <= times:
            raise error
        return "logged"

    assert retries.retried(flaky, ConnectionError("reset"), 2) == "logged" and len(calls) == 3
    calls.clear()
    with pytest.raises(ValueError):  # bad input: no retry
        retries.retried(flaky, ValueError("bad"), 5)
    assert len(calls) == 1
    calls.clear()
    with pytest.raises(ConnectionError):  # a server that stays down: 1 + IO_RETRIES tries
        retries.retried(flaky, ConnectionError("down"), 99)
    assert len(calls) == 1 + retries.IO_RETRIES


# ---------------------------------------------------------------------------------- config, parameters, schedules
def test_default_toml_matches_the_flow_defaults():
    import inspect

    cfg = config.load()
    for section, flow_obj in (
        ("train", flows.train),
        ("forecast", flows.forecast),
        ("backtest", flows.backtest),
    ):
        defaults = {k: p.default for k, p in inspect.signature(flow_obj.fn).parameters.items()}
        params = config.flow_parameters(flow_obj, cfg, section)
        source = params.pop("source")  # the data source's keys: one parameter model
        assert Source.model_validate(source) == defaults["source"] == Source(), section
        assert {k: defaults[k] for k in params} == params, section


def test_default_toml_matches_the_serve_and_runner_defaults():
    import inspect

    cfg = config.load()
    assert cfg["serve"] == schedules.SERVE
    runner = inspect.signature(runners.task_runner).parameters
    assert cfg["runner"] == {k: p.default for k, p in runner.items() if p.default is not None}


def test_user_config_overlays_defaults_and_rejects_unknown_keys(tmp_path):
    path = tmp_path / "my.toml"
    path.write_text('[common]\ndata = "etth1"\n[train]\nhorizon = 24\n')
    cfg = config.load(path)
    params = config.flow_parameters(flows.train, cfg, "train", {"lookback": 48, "cells": None})
    assert (params["source"]["data"], params["horizon"], params["lookback"], params["cells"]) == (
        "etth1",
        24,
        48,
        ["lstm", "gru"],
    )
    path.write_text("[train]\nhorizn = 24\n")
    with pytest.raises(config.ConfigError, match=r"unknown key\(s\) \['horizn'\]"):
        config.flow_parameters(flows.train, config.load(path), "train")
    path.write_text("[trian]\n")
    with pytest.raises(config.ConfigError, match="unknown section"):
        config.load(path)


@pytest.mark.parametrize(
    "bad",
    [
        {"cells": ["transformer"]},
        {"horizon": 0},
        {"metric": "r2"},
        {"learning_rate": -1.0},
        {"output_format": "xlsx"},
    ],
)
def test_flow_parameters_are_validated_at_the_boundary(bad):
    from prefect.exceptions import ParameterTypeError

    with pytest.raises(ParameterTypeError):
        flows.train.validate_parameters(bad)


def test_deployments_carry_the_schedules_and_parameters():
    cfg = config.load()
    train_dep, forecast_dep = schedules.deployments(
        cfg, {"train_cron": "0 3 * * 1", "forecast_interval_seconds": 3600}
    )
    assert (
        train_dep.name == schedules.TRAIN_DEPLOYMENT
        and forecast_dep.name == schedules.FORECAST_DEPLOYMENT
    )
    assert train_dep.schedules[0].schedule.cron == "0 3 * * 1"
    assert forecast_dep.schedules[0].schedule.interval.total_seconds() == 3600
    assert (
        train_dep.parameters["horizon"] == 12
        and forecast_dep.parameters["source"]["data"] == "airpassengers"
    )
    with pytest.raises(ValueError, match="forecast_interval_seconds"):
        schedules.forecast_schedule({"forecast_interval_seconds": 0})


def test_task_runner_by_name():
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    assert isinstance(
        runners.with_runner(flows.train, "threads", 3).task_runner, ThreadPoolTaskRunner
    )
    assert isinstance(runners.task_runner("dask", 2), DaskTaskRunner)
    assert isinstance(runners.task_runner("dask", address="tcp://127.0.0.1:8786"), DaskTaskRunner)
    with pytest.raises(ValueError, match="threads' or 'dask'"):
        runners.task_runner("ray")


# ---------------------------------------------------------------------------------- CLI
@pytest.mark.parametrize(
    "command",
    [[], ["train"], ["forecast"], ["backtest"], ["serve"], ["server"], ["ui"], ["datasets"]],
)
def test_cli_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: forecast" in capsys.readouterr().out


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("forecast")
    out = subprocess.run([str(exe), "train", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--lookback" in out.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["nope"],
        ["train", "--horizon", "twelve"],
        ["train", "--directions", "up"],
        ["forecast", "--format", "xlsx"],
        ["backtest", "--n-windows", "-1"],
        ["train", "--hidden-sizes", "8,0"],
        ["train", "--learning-rate", "0"],
    ],
)
def test_cli_bad_arguments_exit_2(argv):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2


@pytest.mark.parametrize(
    "argv,says",
    [
        (
            ["--cells", "lstm,transformer"],
            f"--cells: expected a comma-separated list from {','.join(choices.CELLS)}, got "
            "'lstm,transformer'",
        ),
        (
            ["--heads", "foo"],
            f"--heads: expected a comma-separated list from {','.join(choices.HEADS)}, got 'foo'",
        ),
        (["--lookback", "0"], "--lookback: expected a positive integer, got '0'"),
    ],
)
def test_cli_bad_choices_exit_2_before_any_flow(argv, says, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", *argv])
    assert exit_.value.code == 2
    assert (
        capsys.readouterr().err.strip().splitlines()[-1]
        == f"forecast train: error: argument {says}"
    )


@pytest.mark.parametrize(
    "data,says",
    [
        ("nope.csv", "FileNotFoundError: data file {tmp}/nope.csv does not exist"),
        (".", "IsADirectoryError: data path {tmp} is a folder"),
        (
            "airpasengers",
            "FileNotFoundError: data 'airpasengers' is neither a bundled data set ['airpassengers',",
        ),
        ("future:promo.csv", "FileNotFoundError: future data file {tmp}/promo.csv does not exist"),
    ],
)
def test_cli_unreadable_data_exits_1_before_prefect_starts(tmp_path, data, says):
    if data.startswith("future:"):
        argv = ["forecast", "--future-data", str(tmp_path / data.split(":")[1])]
    else:
        argv = ["forecast", "--data", str(tmp_path / data) if data != "airpasengers" else data]
    code = (
        "import sys; from pipelines import cli; "
        f"code = cli.main({argv!r}); print(code, 'prefect' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert out.stdout.split() == ["1", "False"]  # failed without importing (or starting) Prefect
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        "forecast forecast: error: " + says.format(tmp=tmp_path)
    ), err


def test_cli_bad_training_data_fails_before_prefect_starts(tmp_path, capsys):
    data = air().rename(columns={"y": "sales"})
    data.loc[20, "sales"] = np.nan
    data.to_csv(tmp_path / "sales.csv", index=False)
    code = cli.main(["train", "--data", str(tmp_path / "sales.csv"), "--target-col", "sales"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith(
        "forecast train: error: ValueError: data: column 'sales' has NaN in series 'AirPassengers'"
    )


def test_train_summary_names_the_champions_own_run():
    result = {
        "metric": "mase",
        "leaderboard": [{"candidate": "gru-h8", "mase": 0.9}],
        "best": "gru-h8",
        "holdout": {"model": 1.1, "seasonal_naive": 1.0},
        "version": "2",
        "promoted": False,
        "reason": "forecaster v2: not promoted: ...",
        "run_id": "new-run",
        "champion_version": "1",
        "champion_run_id": "champion-run",
        "forecast_path": "/x/forecasts.parquet",
        "runs_url": "http://127.0.0.1:5000/#/experiments/1/runs",
    }
    lines = cli.train_summary(result)
    assert "champion: v1  (MLflow run champion-run)" in lines
    assert "forecaster v2: not promoted: ...  (MLflow run new-run)" in lines
    assert lines[-1].endswith("ui   then http://127.0.0.1:5000/#/experiments/1/runs")
    with_board = cli.train_summary({**result, "leaderboard_url": "http://127.0.0.1:5000/#/board"})
    assert with_board[-1].endswith("http://127.0.0.1:5000/#/board")


def test_self_command_is_runnable_from_the_users_shell(monkeypatch, tmp_path):
    exe = tmp_path / ".venv" / "bin" / "forecast"
    monkeypatch.setattr(sys, "argv", [str(exe)])
    monkeypatch.chdir(tmp_path)
    assert cli.self_command() == ".venv/bin/forecast"  # main.sh's PATH is not the user's
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert cli.self_command() in ("forecast", str(exe))


def test_cli_bad_parameters_and_config_exit_2(tmp_path, capsys):
    (tmp_path / "zero.toml").write_text("[train]\nhorizon = 0\n")
    assert cli.main(["train", "--config", str(tmp_path / "zero.toml")]) == 2
    assert "invalid parameters for the train flow" in capsys.readouterr().err
    assert cli.main(["train", "--config", str(tmp_path / "missing.toml")]) == 2
    assert f"config file {tmp_path / 'missing.toml'} does not exist" in capsys.readouterr().err
    (tmp_path / "bad.toml").write_text("[runner]\nkind = 'ray'\n")
    assert cli.main(["train", "--config", str(tmp_path / "bad.toml")]) == 2


def test_cli_serve_refuses_without_a_prefect_server(capsys):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert cli.main(["serve"]) == 2
    assert "schedules need a Prefect server" in capsys.readouterr().err


def test_cli_datasets_lists_the_bundled_sets(capsys):
    assert cli.main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "airpassengers" in out and "m4_weekly" in out


# ---------------------------------------------------------------------------------- flows end to end
def test_train_flow_selects_registers_promotes_and_forecasts(trained):
    from mlflow.tracking import MlflowClient

    r = trained.result
    assert r["promoted"] and r["version"] == "1" and r["champion_version"] == "1"
    names = [row["candidate"] for row in r["leaderboard"]]
    assert sorted(names) == ["gru-bi-h8", "gru-bi-h8-wlast", "seasonal_naive"]
    assert r["best"] in ("gru-bi-h8", "gru-bi-h8-wlast")
    assert r["holdout"]["model"] > 0 and r["holdout"]["seasonal_naive"] > 0
    fc = pd.read_parquet(r["forecast_path"])
    assert Path(r["forecast_path"]).parent.parent == trained.out
    assert len(fc) == 12 and list(fc.columns) == [
        "unique_id",
        "ds",
        "y_pred",
        "y_lo80",
        "y_hi80",
        "y_lo95",
        "y_hi95",
    ]
    assert (
        (fc.y_lo95 <= fc.y_lo80)
        & (fc.y_lo80 <= fc.y_pred)
        & (fc.y_pred <= fc.y_hi80)
        & (fc.y_hi80 <= fc.y_hi95)
    ).all()  # level=[80, 95]: conformal intervals in the forecast file
    assert fc["ds"].min() == pd.Timestamp("1961-01-01")
    client = MlflowClient(trained.uri)
    run = client.get_run(r["run_id"])
    assert run.info.status == "FINISHED"
    assert {
        "holdout_mase",
        "naive_holdout_mase",
        "train_loss",
        "holdout_coverage80",
        "holdout_msis95",
        "holdout_crps",
    } <= set(run.data.metrics)
    assert (
        str(client.get_model_version_by_alias("forecaster-airpassengers", "champion").version)
        == "1"
    )
    arts = {a.path for a in client.list_artifacts(r["run_id"])}
    arts |= {a.path for a in client.list_artifacts(r["run_id"], "diagnostics")}
    arts |= {a.path for a in client.list_artifacts(r["run_id"], "holdout")}
    assert {
        "holdout_forecast.png",
        "holdout/coverage_by_horizon.png",
        "diagnostics/gradient_through_time.png",
        "diagnostics/gradient_through_time.csv",
    } <= arts
    assert "grad_ratio_first_to_last" in run.data.metrics
    champion = client.get_model_version_by_alias("forecaster-airpassengers", "champion")
    assert r["champion_run_id"] == champion.run_id == r["run_id"]
    exp_id = run.info.experiment_id
    assert r["runs_url"] == f"http://127.0.0.1:5000/#/experiments/{exp_id}/runs"
    assert client.get_experiment(exp_id).tags["mlflow.experimentKind"] == "custom_model_development"
    assert (
        store.local_experiment_id("forecast", trained.root / "mlruns") == exp_id
    )  # what `forecast ui` links


def test_readme_pyfunc_snippet_runs_in_a_fresh_process(trained):
    """The README's ``mlflow.pyfunc.load_model("models:/forecaster-airpassengers@champion")`` in a new interpreter
    (no ``pipelines`` module imported beforehand) gives the champion's forecasts."""
    code = (
        "import mlflow, sys\n"
        "from forecast.datasets import load\n"
        "mlflow.set_tracking_uri(sys.argv[1])\n"
        "model = mlflow.pyfunc.load_model('models:/forecaster-airpassengers@champion')\n"
        "fc = model.predict(load('airpassengers'))\n"
        "print(len(fc), fc.ds.min().date(), list(fc.columns))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, trained.uri],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=trained.root,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split("\n")[-2] == (
        "12 1961-01-01 ['unique_id', 'ds', 'y_pred', 'y_lo80', 'y_hi80', 'y_lo95', 'y_hi95']"
    )  # the intervals travel with the pyfunc model


def test_validate_data_keeps_the_model_covariates():
    from forecast import RNNForecaster

    df = pd.DataFrame(
        {
            "unique_id": "a",
            "ds": pd.date_range("2024", periods=40, freq="D"),
            "y": np.arange(40.0),
            "temp": np.sin(np.arange(40.0)),
            "junk": "x",
        }
    )
    model = RNNForecaster(
        lookback=5, horizon=2, hidden_size=4, max_epochs=1, past_covariates=("temp",)
    ).fit(df)
    assert tasks.model_columns(model) == ["temp"]
    kept = tasks.validate_data.fn(df, columns=tasks.model_columns(model))
    assert list(kept.columns) == ["unique_id", "ds", "y", "temp"]
    assert len(tasks.predict.fn(model, kept)) == 2


def test_forecast_flow_writes_a_new_partition_and_sql(trained, tmp_path):
    before = snapshot(trained.out)
    url = f"sqlite:///{tmp_path / 'fc.db'}"
    state = flows.forecast(
        tracking_uri=trained.uri,
        output_dir=str(trained.out),
        output_format="csv",
        sql_url=url,
        return_state=True,
    )
    assert state.is_completed(), state.message
    r = state.result()
    assert r["version"] == "1" and r["rows"] == 12 and r["path"].endswith("forecasts.csv")
    assert {k: v for k, v in snapshot(trained.out).items() if k in before} == before
    table = pd.read_sql_table("forecasts", url)
    assert len(table) == 12 and {"run", "model_version"} <= set(table.columns)


def test_backtest_flow_scores_the_champion_against_seasonal_naive(trained):
    from mlflow.tracking import MlflowClient

    state = flows.backtest(n_windows=2, max_epochs=1, tracking_uri=trained.uri, return_state=True)
    assert state.is_completed(), state.message
    r = state.result()
    assert (
        r["version"] == "1" and r["n_windows"] == 2 and r["model"] > 0 and r["seasonal_naive"] > 0
    )
    assert MlflowClient(trained.uri).get_run(r["run_id"]).data.params["max_epochs"] == "1"


def _promo_panel(n_future):
    """Two daily series driven by a known-ahead promotion, with ``n_future`` promo rows (y empty) at the end."""
    rng = np.random.default_rng(0)
    parts = []
    for i, uid in enumerate(["north", "south"]):
        ds = pd.date_range("2024-01-01", periods=120 + n_future, freq="D")
        promo = (rng.random(len(ds)) < 0.3).astype(float)
        y = (
            50
            + 10 * i
            + 5 * np.sin(2 * np.pi * np.arange(len(ds)) / 7)
            + 20 * promo
            + rng.normal(0, 1, len(ds))
        )
        y[120:] = np.nan
        parts.append(pd.DataFrame({"unique_id": uid, "ds": ds, "y": y, "promo": promo}))
    return pd.concat(parts, ignore_index=True)


def test_future_covariates_flow_from_training_to_forecast(prefect_harness, tmp_path):
    """Train on a file whose last rows carry next week's promotions with an empty target; the
    forecast flow reads them as the horizon's covariates, or from --future-data, or refuses."""
    uri, out = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}", tmp_path / "forecasts"
    data, panel = tmp_path / "sales.csv", _promo_panel(7)
    panel.to_csv(data, index=False)
    state = flows.train(
        source=Source(data=str(data)),
        lookback=14,
        horizon=7,
        cells=["gru"],
        bidirectional=[False],
        hidden_sizes=[8],
        max_epochs=2,
        batch_size=64,
        n_windows=1,
        season_length=7,
        device="cpu",
        future_covariates=["promo"],
        tracking_uri=uri,
        model_name="sales",
        output_dir=str(out),
        return_state=True,
    )
    assert state.is_completed(), state.message
    fc = pd.read_parquet(state.result()["forecast_path"])
    assert (
        len(fc) == 14
        and fc.ds.min() == pd.Timestamp("2024-04-30")
        and fc.ds.max() == pd.Timestamp("2024-05-06")
    )
    # the same forecasts when next week's promotions come from a separate file
    panel.dropna(subset="y").to_csv(tmp_path / "history.csv", index=False)
    panel.loc[panel.y.isna(), ["unique_id", "ds", "promo"]].to_parquet(
        tmp_path / "promo.parquet", index=False
    )
    state = flows.forecast(
        source=Source(data=str(tmp_path / "history.csv")),
        future_data=str(tmp_path / "promo.parquet"),
        tracking_uri=uri,
        model_name="sales",
        output_dir=str(out),
        return_state=True,
    )
    assert state.is_completed(), state.message
    pd.testing.assert_frame_equal(pd.read_parquet(state.result()["path"]), fc)
    # data with its own column names: forecasts come back under them
    panel.rename(columns={"unique_id": "store", "ds": "week", "y": "sales"}).to_csv(
        tmp_path / "own.csv", index=False
    )
    state = flows.forecast(
        source=Source(
            data=str(tmp_path / "own.csv"), id_col="store", time_col="week", target_col="sales"
        ),
        tracking_uri=uri,
        model_name="sales",
        output_dir=str(out),
        return_state=True,
    )
    assert state.is_completed(), state.message
    own = pd.read_parquet(state.result()["path"])
    assert list(own.columns) == ["store", "week", "y_pred"]
    np.testing.assert_array_equal(own.y_pred, fc.y_pred)
    # no future values anywhere: the run fails naming the covariate and both ways to give it
    before = snapshot(out)
    state = flows.forecast(
        source=Source(data=str(tmp_path / "history.csv")),
        tracking_uri=uri,
        model_name="sales",
        output_dir=str(out),
        return_state=True,
    )
    _fails_naming(state, "future covariates ['promo']", "target left empty", "--future-data")
    assert snapshot(out) == before
    # training data without future rows: trained and registered; the forecast step fails on its own
    state = flows.train(
        source=Source(data=str(tmp_path / "history.csv")),
        lookback=14,
        horizon=7,
        cells=["gru"],
        bidirectional=[False],
        window_norms=["none"],
        hidden_sizes=[8],
        max_epochs=1,
        n_windows=1,
        season_length=7,
        device="cpu",
        future_covariates=["promo"],
        tracking_uri=uri,
        model_name="sales",
        output_dir=str(out),
        return_state=True,
    )
    assert state.is_completed(), state.message
    r = state.result()
    assert r["forecast_path"] is None and "future covariates ['promo']" in r["forecast_error"]
    assert any(line.startswith("forecasts NOT written: ") for line in cli.train_summary(r))
    champion = r["champion_version"]
    # other series under the same model name: registered, never promoted on an incomparable metric,
    # and the run forecasts its data with its own version
    state = flows.train(
        source=Source(data="airpassengers"),
        lookback=24,
        horizon=12,
        cells=["rnn"],
        bidirectional=[False],
        hidden_sizes=[4],
        max_epochs=1,
        n_windows=1,
        device="cpu",
        tracking_uri=uri,
        model_name="sales",
        output_dir=str(out),
        return_state=True,
    )
    assert state.is_completed(), state.message
    r = state.result()
    assert not r["promoted"] and "covers other series" in r["reason"]
    assert r["champion_version"] == champion and r["forecast_version"] == r["version"] == "3"
    assert set(pd.read_parquet(r["forecast_path"]).unique_id) == {"AirPassengers"}


def test_promotion_compares_the_champion_on_the_same_hold_out(prefect_harness, tmp_path):
    """Same series, very different data (x50): the champion's logged metric says nothing about this
    hold-out, so its settings are re-scored on it; OWA, never logged before, compares the same way."""
    uri, out = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}", tmp_path / "forecasts"
    tiny = dict(
        lookback=24,
        horizon=12,
        cells=["gru"],
        bidirectional=[False],
        window_norms=["none"],
        hidden_sizes=[4],
        max_epochs=2,
        n_windows=1,
        device="cpu",
        tracking_uri=uri,
        model_name="rescored",
        output_dir=str(out),
    )
    first = flows.train(**tiny, return_state=True)
    assert first.is_completed(), first.message
    scaled = tmp_path / "scaled.csv"
    air().assign(y=lambda d: d.y * 50).to_csv(scaled, index=False)
    second = flows.train(source=Source(data=str(scaled)), metric="owa", **tiny, return_state=True)
    assert second.is_completed(), second.message
    r = second.result()
    assert "champion v1 (its settings re-scored on this hold-out)" in r["reason"]
    assert r["forecast_version"] == r["champion_version"]
    from mlflow.tracking import MlflowClient

    assert "holdout_owa" in MlflowClient(uri).get_run(r["run_id"]).data.metrics


def _fails_naming(state, *words):
    assert state.is_failed(), state
    for word in words:
        assert word in state.message, state.message


def test_bad_data_path_fails_the_run_and_keeps_earlier_forecasts(trained, tmp_path):
    before = snapshot(trained.out)
    missing = tmp_path / "missing.csv"
    state = flows.forecast(
        source=Source(data=str(missing)),
        tracking_uri=trained.uri,
        output_dir=str(trained.out),
        return_state=True,
    )
    _fails_naming(state, "FileNotFoundError", str(missing))
    assert snapshot(trained.out) == before


@pytest.mark.parametrize(
    "change,cause",
    [
        (lambda d: d.assign(unique_id="Trains"), "series not seen in training ['Trains']"),
        (
            lambda d: d.assign(ds=pd.date_range("1949-01-01", periods=len(d), freq="D")),
            "frequency 'D'",
        ),
    ],
)
def test_mismatched_model_fails_the_run_and_keeps_earlier_forecasts(
    trained, tmp_path, change, cause
):
    path = tmp_path / "other.csv"
    change(air()).to_csv(path, index=False)
    before = snapshot(trained.out)
    state = flows.forecast(
        source=Source(data=str(path)),
        model_name="forecaster-airpassengers",
        tracking_uri=trained.uri,
        output_dir=str(trained.out),
        return_state=True,
    )
    _fails_naming(state, "does not match the model", cause)
    assert snapshot(trained.out) == before


def test_unreachable_tracking_server_fails_the_run_naming_the_uri(trained):
    uri = f"http://127.0.0.1:{free_port()}"
    before = snapshot(trained.out)
    state = flows.forecast(tracking_uri=uri, output_dir=str(trained.out), return_state=True)
    _fails_naming(state, "TrackingUnavailable", uri)
    assert snapshot(trained.out) == before


def test_forecast_without_a_registered_model_fails_naming_it(prefect_harness, mlflow_uri, tmp_path):
    out = tmp_path / "forecasts"
    state = flows.forecast(
        tracking_uri=mlflow_uri, model_name="nobody", output_dir=str(out), return_state=True
    )
    _fails_naming(
        state, "LookupError", "registered model 'nobody' has no alias 'champion'", "forecast train"
    )
    assert not out.exists()


def test_cli_flow_failure_exits_1_with_one_line(trained, tmp_path, capsys):
    path = tmp_path / "wide.csv"
    air().rename(columns={"y": "sales"}).to_csv(path, index=False)
    code = cli.main(
        [
            "forecast",
            "--data",
            str(path),
            "--tracking-uri",
            trained.uri,
            "--output-dir",
            str(trained.out),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith(
        f"forecast forecast: error: ValueError: data file {path}: missing column(s) ['y']"
    )
    assert not any(line.startswith("Traceback") for line in err)
    environment.quiet_prefect_errors(
        debug=True
    )  # leave Prefect's loggers as other tests expect them


# ---------------------------------------------------------------- time budget (issue 11)
def test_max_time_is_split_in_shares_and_reaches_every_candidate():
    job = budget.Plan(
        n_candidates=4,
        n_windows=2,
        windows=100,
        batch_size=16,
        max_epochs=10,
        steps=0,
        timesteps=0,
        max_time=100.0,
        chosen=False,
    )
    assert (
        job.shares == 4 + 2 * budget.FINAL_SHARES
    )  # one a candidate, three each for the hold-out and final fit
    assert job.candidate_seconds == 10.0 and job.final_seconds == 30.0
    assert budget.Plan(4, 2, 100, 16, 10, 0, 0, None, True).candidate_seconds is None
    grid = tasks.make_candidates(
        ["gru", "lstm"],
        [False],
        [8],
        ["direct"],
        ["last", "es"],
        lookback=24,
        horizon=12,
        loss="mase",
        max_time=job.candidate_seconds,
    )
    assert len(grid) == 4
    assert {(est.max_time, est.loss) for est in grid.values()} == {(10.0, "mase")}
    assert {est.window_norm for est in grid.values()} == {"last", "es"}


def test_cli_takes_max_time_loss_and_the_es_norm():
    args = cli.build_parser().parse_args(
        ["train", "--max-time", "120", "--loss", "mase", "--window-norms", "es,none"]
    )
    assert (args.max_time, args.loss, args.window_norms) == (120.0, "mase", ["es", "none"])
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["train", "--max-time", "-5"])
    assert (
        cli.build_parser().parse_args(["train", "--max-time", "0"]).max_time == 0.0
    )  # 0: no budget
