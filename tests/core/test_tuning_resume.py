"""A search killed by SIGKILL resumes from its storage: the finished trials are kept, the trial
the dead process left RUNNING is marked failed, and the next fit adds trials and refits the best."""

import os
import signal
import subprocess
import sys
import time
import warnings

import pytest

from forecast import AutoRNNForecaster
from forecast.datasets import load

optuna = pytest.importorskip("optuna")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SETTINGS = dict(
    horizon=12,
    space={"bidirectional": False, "num_layers": 1, "cell": "gru", "hidden_size": 4},
    fixed={"max_epochs": 4, "windows_per_epoch": 32, "batch_size": 32},
    pruner=None,
    study_name="killed",
)
CHILD = """
import sys
from forecast import AutoRNNForecaster
from forecast.datasets import load
kw = dict({settings!r}, storage=sys.argv[1], n_trials=1000, max_time=600)
AutoRNNForecaster(**kw).search(load("airpassengers"))
"""


def _states(storage):
    try:
        study = optuna.load_study(study_name="killed", storage=storage)
    except KeyError:  # not created yet
        return []
    # a running trial counts once its process has said who it is (the first thing it does)
    return [
        "STARTING" if t.state.name == "RUNNING" and "worker" not in t.user_attrs else t.state.name
        for t in study.get_trials(deepcopy=False)
    ]


# the journal file (several processes' storage); SQLite resumes alike (the same code path, tried
# by hand: kind="sqlite"), left out of the suite for its time
@pytest.mark.parametrize("kind", ["journal"])
def test_a_search_killed_by_sigkill_resumes_from_its_storage(tmp_path, kind):
    if kind == "sqlite":
        storage = f"sqlite:///{tmp_path / 'study.db'}"
        reader = storage
    else:
        storage = str(tmp_path / "study.journal")
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        reader = None  # opened once the file exists
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(settings=SETTINGS), storage], env=env, cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 240
        states = []
        while time.monotonic() < deadline and child.poll() is None:
            if kind == "journal" and reader is None and os.path.exists(storage):
                reader = JournalStorage(JournalFileBackend(storage))
            states = _states(reader) if reader is not None else []
            # two finished trials and the third under way: kill it mid-trial
            if states.count("COMPLETE") >= 2 and states[-1] == "RUNNING":
                break
            time.sleep(0.05)
        assert child.poll() is None, "the search ended before it could be killed"
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    assert states.count("COMPLETE") >= 2 and states[-1] == "RUNNING"
    before = len(states)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny trials may lose to seasonal naive
        model = AutoRNNForecaster(
            **SETTINGS, storage=storage, n_trials=1, max_time=60, ensemble=2
        ).fit(load("airpassengers"))
    trials = model.trials_
    assert len(trials) == before + 1  # resumed: the old trials and one new
    assert trials["state"].iloc[before - 1] == "FAIL"  # the killed one, no longer RUNNING
    assert model.study_.user_attrs["dead_worker_trials"] == [before - 1]
    assert trials["state"].iloc[-1] == "COMPLETE" and not trials["defaults"].iloc[1:].any()
    assert trials["defaults"].iloc[0]  # the defaults were enqueued once, by the killed search
    assert model.best_score_ == trials["value"].min() and len(model.members_) == 2
    assert len(model.predict()) == 12
