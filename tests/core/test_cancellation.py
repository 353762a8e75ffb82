"""A process whose SIGTERM belongs to someone else (Prefect's runner cancelling a served flow run):
``forecast.training.stopping.stop_fits_on`` makes that signal stop fits in worker threads at their next step
and still runs the owner's handler."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import os, signal, threading, time
import numpy as np, pandas as pd
from forecast import RNNForecaster
from forecast.training.stopping import Interrupted, stop_fits_on

owner = []
signal.signal(signal.SIGTERM, lambda s, f: owner.append(s))  # stands in for the orchestrator's own handler
assert stop_fits_on() and stop_fits_on()  # idempotent
threading.Thread(target=lambda: print("off-main", stop_fits_on(), flush=True)).start()
df = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024", periods=200, freq="D"),
                   "y": np.sin(np.arange(200.0))})
result, started = {}, threading.Event()

class Started:
    def on_train_begin(self, state): started.set()
    def on_epoch_end(self, state, record): pass
    def on_train_end(self, state, history): pass

def work():
    try:
        RNNForecaster(horizon=3, lookback=6, hidden_size=4, max_epochs=100000, verbose=False).fit(
            df, callbacks=[Started()])
        result["finished"] = True
    except Interrupted as exc:
        result["stopped_by"] = exc.signum

worker = threading.Thread(target=work)
worker.start()
started.wait(60)
t0 = time.perf_counter()
os.kill(os.getpid(), signal.SIGTERM)
while worker.is_alive() and time.perf_counter() - t0 < 30:
    time.sleep(0.05)
print("result", result, "owner", owner, "seconds", round(time.perf_counter() - t0, 2), flush=True)
"""


def test_a_foreign_sigterm_stops_fits_in_worker_threads_and_reaches_its_owner():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1"),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "off-main False" in out.stdout  # only the main thread may install handlers
    line = next(x for x in out.stdout.splitlines() if x.startswith("result"))
    assert "'stopped_by': 15" in line and "owner [15]" in line, line
    assert float(line.split("seconds")[1]) < 10, (
        line
    )  # at the next step, not at the end of 100,000 epochs
