"""The ``forecast`` command on a user's own CSV (issue 20), as a new user runs it.

Two small generated files, hourly (columns ``unique_id, ds, y``) and monthly (its own names
``store, month, sales``, given to ``train`` with ``--id-col`` etc.). ``train``
runs with the documented flags (with and without ``--max-time``, ``--level``, ``--quantiles``,
the three heads; the Dask runner is in ``test_flows``); then ``forecast`` and ``backtest`` run on
the same data with no flag beyond ``--data`` (and the test's own store and output folder). Each
checks the exit code, the forecast file, the registered version, and the printed comparison with
seasonal naive, recomputed here with the data's own season (24 hourly, 12 monthly).
"""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from forecast.datasets.synthetic import make_panel
from pipelines import cli, environment

# Small and quick, still the documented flags: one GRU candidate, one epoch, one selection window.
QUICK = [
    "--cells",
    "gru",
    "--directions",
    "uni",
    "--hidden-sizes",
    "8",
    "--window-norms",
    "last",
    "--max-epochs",
    "1",
    "--n-windows",
    "1",
    "--device",
    "cpu",
]


OWN = {"unique_id": "store", "ds": "month", "y": "sales"}  # the monthly file's column names
OWN_FLAGS = ["--id-col", "store", "--time-col", "month", "--target-col", "sales"]


@pytest.fixture(scope="module")
def user_csvs(tmp_path_factory):
    root = tmp_path_factory.mktemp("user")
    hourly = make_panel(n_series=3, length=240, freq="h", seed=5)[["unique_id", "ds", "y"]]
    monthly = make_panel(n_series=3, length=84, freq="MS", seed=6)[["unique_id", "ds", "y"]]
    hourly.to_csv(root / "hourly.csv", index=False)
    monthly.rename(columns=OWN).to_csv(root / "monthly.csv", index=False)  # its own names
    return root


@pytest.fixture
def run_cli(prefect_harness, restore_tracking):
    """Run ``forecast <argv>`` in this process; returns (exit code, stdout, stderr).

    Output goes to buffers that are never closed: Prefect's console handlers, created at the first
    flow run, keep the stream they found (a capsys/capfd stream is closed when its test ends)."""

    def run(*argv):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main([str(a) for a in argv])
        return code, out.getvalue(), err.getvalue()

    yield run
    environment.quiet_prefect_errors(
        debug=True
    )  # leave Prefect's loggers as other tests expect them


def _store(tmp_path):
    return ["--tracking-uri", f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"]


def _forecast_file(out_dir):
    files = sorted(out_dir.rglob("forecasts.parquet"))
    assert files, f"no forecast file under {out_dir}"
    return pd.read_parquet(files[-1])


def _printed_naive(out, season):
    """The seasonal-naive figure the summary prints, checking it says which season it used."""
    found = re.search(rf"vs seasonal naive \(season {season}\) ([0-9.eE+-]+)", out)
    assert found, f"no 'vs seasonal naive (season {season})' in:\n{out[-2000:]}"
    return float(found.group(1))


def naive_mase(df, horizon, season, n_windows=1):
    """MASE of seasonal naive over the last ``n_windows`` horizons of every series, pooled over all
    points, each series scaled by its in-sample seasonal-naive MAE: written out here, independently."""
    errors = []
    for _, g in df.groupby("unique_id", sort=False):
        y = g["y"].to_numpy()
        for w in range(n_windows, 0, -1):
            cut = len(y) - w * horizon
            train, actual = y[:cut], y[cut : cut + horizon]
            pred = np.resize(train[-season:], horizon)
            scale = np.mean(np.abs(train[season:] - train[:-season]))
            errors.append(np.abs(actual - pred) / scale)
    return float(np.mean(np.concatenate(errors)))


@pytest.fixture(scope="module")
def one_store(tmp_path_factory):
    """One MLflow store for both data sets: the second trained must not disturb the first's model."""
    return _store(tmp_path_factory.mktemp("store"))


@pytest.mark.parametrize(
    "kind,horizon,season,lookback", [("hourly", 12, 24, 48), ("monthly", 12, 12, 24)]
)
def test_train_then_forecast_then_backtest_need_only_the_data(
    user_csvs, one_store, run_cli, tmp_path, kind, horizon, season, lookback
):
    data, out, store = user_csvs / f"{kind}.csv", tmp_path / "out", one_store
    names = OWN_FLAGS if kind == "monthly" else []  # train names them; the later commands need not
    code, printed, err = run_cli(
        "train", "--data", data, "--horizon", horizon, *QUICK, *names, *store, "--output-dir", out
    )
    assert code == 0, err[-3000:]
    assert (
        f"from the data: season_length {season} (inferred from frequency" in printed
        and f"lookback {lookback} (inferred" in printed
    )
    assert f"registered model: forecaster-{kind} " in printed
    df = pd.read_csv(data).rename(columns={v: k for k, v in OWN.items()})
    assert _printed_naive(printed, season) == pytest.approx(
        naive_mase(df, horizon, season), rel=1e-3
    )
    assert len(_forecast_file(out)) == 3 * horizon
    client = MlflowClient(store[1], registry_uri=store[1])
    models = {m.name for m in client.search_registered_models()}
    assert f"forecaster-{kind}" in models
    for name in models:  # its own model; a data set trained before keeps its v1 and its champion
        assert [str(v.version) for v in client.search_model_versions(f"name = '{name}'")] == ["1"]
        assert str(client.get_model_version_by_alias(name, "champion").version) == "1"

    code, printed, err = run_cli("forecast", "--data", data, *store, "--output-dir", out)
    assert code == 0, err[-3000:]
    assert re.search(
        rf"forecasts of v1: {3 * horizon} rows written to {re.escape(str(out))}", printed
    )
    assert "time_col=as trained (else ds)" in printed  # the banner: names not given
    written = list(_forecast_file(out).columns)  # under the data's own names, as trained
    assert written[:3] == (["store", "month", "y_pred"] if names else ["unique_id", "ds", "y_pred"])
    code, printed, err = run_cli("backtest", "--data", data, *store)
    assert code == 0, err[-3000:]
    assert _printed_naive(printed, season) == pytest.approx(
        naive_mase(df, horizon, season, 3), rel=1e-3
    )


@pytest.mark.parametrize(
    "flags,columns",
    [
        (["--max-time", "30", "--level", "80,95"], ["y_lo80", "y_hi80", "y_lo95", "y_hi95"]),
        (["--max-time", "0", "--quantiles", "0.1,0.5,0.9"], ["y_q10", "y_q50", "y_q90"]),
        (["--heads", "direct,seq2seq,recursive"], []),
    ],
    ids=["max-time+level", "max-time-0+quantiles", "heads"],
)
def test_documented_train_flags_on_a_user_csv(user_csvs, run_cli, tmp_path, flags, columns):
    out, store = tmp_path / "out", _store(tmp_path)
    code, printed, err = run_cli(
        "train",
        "--data",
        user_csvs / "hourly.csv",
        "--horizon",
        12,
        *QUICK,
        *flags,
        *store,
        "--output-dir",
        out,
    )
    assert code == 0, err[-3000:]
    fc = _forecast_file(out)
    assert len(fc) == 36 and set(columns) <= set(fc.columns) and fc["y_pred"].notna().all()
    client = MlflowClient(store[1], registry_uri=store[1])
    assert str(client.get_model_version_by_alias("forecaster-hourly", "champion").version) == "1"
    assert _printed_naive(printed, 24) > 0
    run = client.search_runs(
        [client.get_experiment_by_name("forecast").experiment_id], "tags.`forecast.flow` = 'train'"
    )[0]
    params = run.data.params
    if (
        flags[0] == "--max-time"
    ):  # the flow's budget and the final fit's share, under their own keys
        budget = float(flags[1])
        assert params["flow.max_time"] == ("null" if budget == 0 else "30.0")
        assert params["max_time"] == ("null" if budget == 0 else str(3 * (30.0 / (1 + 2 * 3))))
    if flags[0] == "--heads":
        assert {r["candidate"] for r in _board(printed)} >= {
            "gru-h8-wlast",
            "gru-h8-seq2seq-wlast",
            "gru-h8-recursive-wlast",
        }


def _board(printed):
    rows = re.findall(r"^\s+\d+\. (\S+)\s", printed, flags=re.M)
    return [{"candidate": name} for name in rows]
