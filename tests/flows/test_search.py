"""The train flow's Optuna search (issue 22): ``forecast train --search optuna --trials N``.

The search's pieces on their own (the budget's shares, the checks, the trials table, the figures),
then the command on a small generated CSV, as a user runs it: the exit code, the printed search
summary, a nested MLflow run per trial (settings, curves, state, validation MASE), the figures,
the registered champion; and the Dask runner with two workers sharing one study.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from forecast.datasets.synthetic import make_panel
from pipelines import budget, cli, environment, search, search_board, search_log

optuna = pytest.importorskip("optuna")
REPO = Path(__file__).resolve().parents[2]
QUICK = ["--max-epochs", "1", "--batch-size", "64", "--device", "cpu"]


# ---------------------------------------------------------------------------------- the pieces
def test_the_search_takes_the_candidates_shares_of_the_budget():
    from forecast.tuning.auto import EXPECTED_TRIALS

    panel = make_panel(n_series=2, length=120, freq="MS", seed=1)[["unique_id", "ds", "y"]]
    job = budget.plan(panel, 24, 12, 32, 5, 8, 1, max_time=90, trials=3)
    assert job.trials == 3 and job.n_candidates == 3 and job.shares == 3 + 2 * 3
    assert job.search_seconds == pytest.approx(30) and job.final_seconds == pytest.approx(30)
    assert "Optuna search (3 trials" in job.describe() and "30 s for the search" in job.describe()
    until_clock = budget.plan(panel, 24, 12, 32, 5, 8, 1, max_time=160, trials=0)
    assert until_clock.trials == 0 and until_clock.search_seconds == pytest.approx(100)
    assert budget.SEARCH_SHARES == EXPECTED_TRIALS  # a trial gets the share the library gives it
    no_clock = budget.plan(panel, 24, 12, 32, 5, 8, 1, max_time=0, trials=0)
    assert no_clock.max_time is None and no_clock.trials == budget.SEARCH_SHARES  # a count ends it
    assert budget.plan(panel, 24, 12, 32, 5, 8, 1).trials is None  # the grid


def test_search_parameters_that_do_not_go_together_are_refused():
    search.check({"search": "optuna", "trials": 3, "study_storage": "sqlite:///s.db"})
    search.check({"search": None, "trials": None, "study_storage": None})
    with pytest.raises(ValueError, match=r"trials set an Optuna search: add search='optuna'"):
        search.check({"search": "grid", "trials": 3})
    with pytest.raises(ValueError, match=r"study_storage must be a database URL .* got 'x.db'"):
        search.check({"search": "optuna", "study_storage": "x.db"})
    # the full space samples the loss and the scaler, but not the pinball loss of quantiles
    settings = {"loss": "mae", "scaler": "robust", "quantiles": None, "fill": None, "seed": 0}
    compact = search.fixed_settings(settings, True)
    assert compact == {"loss": "mae", "scaler": "robust", "quantiles": None, "fill": None}
    full = search.fixed_settings(settings, True, "full")
    assert "loss" not in full and "scaler" not in full and "fill" in full
    pinball = search.fixed_settings(
        settings | {"loss": "pinball", "quantiles": (0.1,)}, True, "full"
    )
    assert pinball["loss"] == "pinball" and "scaler" not in pinball


def test_trials_are_split_over_the_workers():
    spec = SimpleNamespace(trials=5, workers=2)
    assert search.Spec.shares(spec) == [3, 2]
    assert search.Spec.shares(SimpleNamespace(trials=1, workers=3)) == [1]  # no worker idles at 0
    assert search.Spec.shares(SimpleNamespace(trials=None, workers=2)) == [None, None]


def _trial(number, state, value, params, losses=(1.0, 0.5), seconds=2.0, worker="h:1"):
    start = datetime(2026, 1, 1, 12)
    attrs = {
        "params": params,
        "train_loss": list(losses),
        "val_loss": list(losses),
        "worker": worker,
    }
    return SimpleNamespace(
        number=number,
        state=SimpleNamespace(name=state),
        value=value,
        user_attrs=attrs,
        datetime_start=start,
        datetime_complete=start + timedelta(seconds=seconds),
    )


def test_the_trials_table_ranks_best_first_with_seasonal_naive_among_them():
    p = {"cell": "gru", "bidirectional": True, "hidden_size": 32, "num_layers": 2, "lookback": 36}
    trials = [
        _trial(0, "COMPLETE", 0.9, p | {"window_norm": "es"}),
        _trial(1, "PRUNED", 7.0, p | {"window_norm": "last"}, losses=(3.0,)),
        _trial(2, "COMPLETE", 0.7, p | {"hidden_size": 16, "num_layers": 1}, worker="h:2"),
        _trial(3, "FAIL", None, {}),
    ]
    board = search_board.board(trials, naive_score=0.8)
    assert list(board["candidate"]) == [
        "trial-2-gru-bi-h16-L36-wnone",
        "seasonal_naive",
        "trial-0-gru-bi-h32x2-L36-wes",
        "trial-1-gru-bi-h32x2-L36-wlast",
        "trial-3-unsampled",
    ]
    assert list(board["rank"]) == [1, 2, 3, 4, 5]
    assert np.isnan(board.loc[3, "mase"])  # a pruned trial's value is a loss, not a MASE
    assert list(board["state"]) == ["complete", "reference", "complete", "pruned", "failed"]
    best = trials[2]
    table = search_board.table(board, search_board.trial_name(best))
    assert list(table["chosen"]) == ["yes", "", "", "", ""]
    assert {"state", "validation mase", "hidden_size", "window_norm"} <= set(table.columns)
    summary = search_board.summary(trials, 0.8, best, 12.0, 2)
    assert (summary["complete"], summary["pruned"], summary["failed"]) == (2, 1, 1)
    assert summary["processes"] == ["h:1", "h:2"] and summary["best_value"] == 0.7
    assert "beats seasonal naive's 0.8" in search_board.note(summary)
    curve = search_board.curve(trials[0])
    assert list(curve["epoch"]) == [1, 2] and list(curve["val_loss"]) == [1.0, 0.5]


def test_optuna_figures_and_a_note_when_importances_cannot_be_told():
    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        return x + (trial.suggest_categorical("c", ["a", "b"]) == "a")

    optuna.logging.set_verbosity(optuna.logging.WARN)
    few = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    few.optimize(objective, n_trials=2)
    figures = search_log.figures(few)  # tracking off: drawn, not logged
    assert figures[search_log.HISTORY][:8] == b"\x89PNG\r\n\x1a\n"
    assert "2 completed trial(s) of sampled settings, at least 5" in figures[search_log.IMPORTANCE]
    assert plt.rcParams["axes.facecolor"] == "white"  # Optuna's ggplot style kept to its figures
    enough = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    enough.optimize(objective, n_trials=8)
    importances, why = search_log.param_importances(enough)
    assert why is None and set(importances) == {"x", "c"}
    assert search_log.figures(enough)[search_log.IMPORTANCE][:4] == b"\x89PNG"


# ---------------------------------------------------------------------------------- the command
@pytest.fixture(scope="module")
def monthly_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("user") / "shop.csv"
    make_panel(n_series=3, length=84, freq="MS", seed=6)[["unique_id", "ds", "y"]].to_csv(
        path, index=False
    )
    return path


@pytest.fixture
def run_cli(restore_tracking):
    """``forecast <argv>`` in this process: (exit code, stdout, stderr), in buffers never closed
    (Prefect's console handlers keep the stream they found)."""

    def run(*argv):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main([str(a) for a in argv])
            except SystemExit as exc:  # argparse refuses a flag at once
                code = exc.code
        return code, out.getvalue(), err.getvalue()

    yield run
    environment.quiet_prefect_errors(debug=True)


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--search", "bogus"], "argument --search: invalid choice: 'bogus'"),
        (["--search", "optuna", "--trials", "0"], "--trials: expected a positive integer, got '0'"),
        (["--trials", "3"], "trials set an Optuna search: add search='optuna' (--search optuna)"),
        (["--search", "optuna", "--study-storage", "s.db"], "or a file path ending in '.journal'"),
        (["--search-space", "full"], "search_space set an Optuna search: add search='optuna'"),
        (["--search", "optuna", "--search-space", "huge"], "invalid choice: 'huge'"),
    ],
    ids=["bogus", "trials-0", "trials-without-search", "storage", "space-alone", "space-bogus"],
)
def test_bad_search_flags_exit_2_naming_them(run_cli, monthly_csv, flags, message):
    code, printed, err = run_cli("train", "--data", monthly_csv, *flags)
    assert code == 2 and message in err and "running the train flow" not in printed, err


def test_train_with_an_optuna_search_logs_every_trial_and_registers_the_best(
    prefect_harness, run_cli, monthly_csv, tmp_path
):
    uri, out = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}", tmp_path / "out"
    code, printed, err = run_cli(
        "train", "--data", monthly_csv, "--search", "optuna", "--trials", 3, "--max-time", 60,
        "--search-space", "full", *QUICK, "--tracking-uri", uri, "--output-dir", out,
    )  # fmt: skip
    assert code == 0, (printed + err)[-3000:]
    assert "Optuna search (3 trials, each scored on the validation window)" in printed
    assert "Optuna search: 3 trials (" in printed and "<- chosen" in printed
    assert "validation mase: chosen trial " in printed and "seasonal_naive" in printed
    chosen = next(line for line in printed.splitlines() if line.startswith("chosen trial: "))
    best = chosen.split(": ")[1].split(";")[0]
    client = MlflowClient(uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("forecast").experiment_id
    parent = client.search_runs([experiment], "tags.`forecast.flow` = 'train'")[0]
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    trials = {r.info.run_name: r for r in children if "forecast.trial" in r.data.tags}
    assert len(trials) == 3 and best in trials
    assert any(r.info.run_name == "seasonal_naive" for r in children)
    for name, run in trials.items():
        tags, params = run.data.tags, run.data.params
        assert tags["forecast.state"] in ("complete", "pruned", "failed")
        assert tags["forecast.best"] == str(name == best).lower()
        assert {"cell", "hidden_size", "lookback", "learning_rate", "window_norm"} <= set(params)
        if name != "trial-0-defaults":  # the full space: searched, in place of the flow's
            assert params["loss"] in ("mae", "smape")
            assert params["scaler"] in ("standard", '["log", "standard"]')  # positive: log
        assert (name == "trial-0-defaults") == (tags["forecast.trial"] == "0")  # defaults first
        assert 0 < float(params["max_time"]) <= 60 / 9 + 1e-6  # a trial's share of the budget
        assert run.data.metrics["seconds"] > 0 and run.info.end_time >= run.info.start_time
        if tags["forecast.state"] != "failed":
            steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")]
            assert steps and steps == list(range(1, len(steps) + 1))  # step = epoch
        if tags["forecast.state"] == "complete":
            assert np.isfinite(run.data.metrics["val_mase"])
    assert trials[best].data.tags["forecast.state"] == "complete"
    assert "holdout_mase" in trials[best].data.metrics  # the chosen trial's hold-out figures
    arts = {a.path for a in client.list_artifacts(parent.info.run_id, "search")}
    assert {"search/optimization_history.png", "search/trials.md", "search/study.journal"} <= arts
    assert "search/param_importances.txt" in arts  # 3 trials: too few, and the note says so
    import optuna  # the logged study: the full space sampled the loss and a log target

    journal = client.download_artifacts(parent.info.run_id, "search/study.journal", str(tmp_path))
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    (summary,) = optuna.get_all_study_summaries(storage)
    sampled = optuna.load_study(study_name=summary.study_name, storage=storage).trials[1:]
    assert sampled and all({"loss", "log_target"} <= set(t.params) for t in sampled)
    params = parent.data.params
    assert params["flow.search"] == "optuna" and params["flow.best"] == best
    assert params["flow.max_time"] == "60.0" and float(params["max_time"]) == pytest.approx(20)
    flows_own = {"loss": "mae", "scaler": "standard"}  # the defaults trial: the flow's values
    for key in ("cell", "loss", "scaler"):  # the final fit: the best trial's settings
        assert params[key] == trials[best].data.params.get(key, flows_own.get(key))
    assert params["flow.search_space"] == "full"
    assert str(client.get_model_version_by_alias("forecaster-shop", "champion").version) == "1"
    html = Path(client.download_artifacts(parent.info.run_id, "report.html", str(tmp_path)))
    text = html.read_text()
    assert "Optuna search: trials by validation MASE" in text and "optimisation history" in text
    note = parent.data.tags["mlflow.note.content"]
    assert f"Chosen: `{best}`" in note and "seasonal naive" in note
    assert len(pd.read_parquet(next(out.rglob("forecasts.parquet")))) == 3 * 12


@pytest.mark.slow
def test_search_trials_run_on_the_dask_workers_against_one_study(prefect_server, tmp_path):
    # The local Dask cluster of the command (--runner dask --workers 2), in a subprocess: the
    # flow, its workers and Prefect's own workers talk to the test's server and end with the
    # process. The grid's candidates on Dask workers: tests/flows/test_dask_cluster.py.
    uri, out = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}", tmp_path / "out"
    make_panel(n_series=3, length=84, freq="MS", seed=6)[["unique_id", "ds", "y"]].to_csv(
        tmp_path / "shop.csv", index=False
    )
    env = dict(os.environ, PREFECT_API_URL=prefect_server, PREFECT_HOME=str(tmp_path / "home"))
    argv = [
        sys.executable, "-m", "pipelines.cli", "train", "--runner", "dask", "--workers", "2",
        "--search", "optuna", "--trials", "4", *QUICK, "--data", str(tmp_path / "shop.csv"),
        "--tracking-uri", uri, "--output-dir", str(out),
    ]  # fmt: skip
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert "Creating a new Dask cluster" in log and "Optuna search: 4 trials (" in done.stdout
    for worker in (0, 1):
        assert f"Task run 'search-trials-{worker}' - Finished in state Completed()" in log
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("forecast").experiment_id
    trials = [r for r in client.search_runs([experiment]) if "forecast.trial" in r.data.tags]
    assert len(trials) == 4
    workers = {r.data.tags["forecast.worker"] for r in trials} - {""}  # "": the defaults trial
    assert len(workers) == 2 and all(str(os.getpid()) not in w for w in workers), workers
    # On a user's own CSV (issue 20's matrix: the Dask runner): then `forecast` with --data alone
    assert f"forecasts (v1) written to {out}" in done.stdout and "forecaster-shop v1" in done.stdout
    where = ["--data", str(tmp_path / "shop.csv"), "--tracking-uri", uri, "--output-dir", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "forecast", *where],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    log = done.stdout + done.stderr
    assert done.returncode == 0 and "forecasts of v1: " in done.stdout, log[-4000:]
    assert len(list(out.rglob("forecasts.parquet"))) == 2
