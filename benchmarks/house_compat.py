"""Issue 21's honesty check: point forecasts before and after the house move are bit-identical.

Run it once with the old tree first on PYTHONPATH, then with this tree, and compare:

    git worktree add /tmp/wt_old db02293          # the last commit before issue 21
    PYTHONPATH=/tmp/wt_old python benchmarks/house_compat.py /tmp/old.npz
    python benchmarks/house_compat.py /tmp/new.npz
    python benchmarks/house_compat.py --compare /tmp/old.npz /tmp/new.npz

Each case is one setting spelled the old way (flat layout, 53 parameters) and the new way.
Recorded result (2026-12-07): all seven cases bit-identical on AirPassengers, 4 epochs, seed 0.
"""

import sys
import warnings

import numpy as np
import torch

if sys.argv[1] == "--compare":
    a, b = np.load(sys.argv[2]), np.load(sys.argv[3])
    for k in a:
        same = np.array_equal(a[k], b[k])
        print(k, "bit-identical" if same else f"differs by {np.abs(a[k] - b[k]).max()}")
    sys.exit(0)
warnings.simplefilter("ignore")
torch.set_num_threads(1)
import forecast  # noqa: E402
from forecast import RNNForecaster  # noqa: E402
from forecast.datasets import load  # noqa: E402

OLD = "wt_old" in forecast.__file__
air = load("airpassengers")
base = dict(horizon=12, max_epochs=4, seed=0, verbose=False)
cases = {
    "default": ({}, {}),
    "ensemble3": ({"n_models": 3}, {"ensemble": 3}),
    "student_t": ({"distribution": "student_t"}, {"loss": "student_t"}),
    "log": ({"target_transform": "log"}, {"scaler": ("log", "standard")}),
    "seasonal-skip": (
        {"skip": "seasonal", "window_norm": "standard", "lookback": 24},
        {"window_norm": "seasonal", "lookback": 24},
    ),
    "tbptt": (
        {"head": "recursive", "tbptt_steps": 24, "lookback": 24},
        {"head": ("recursive", 24), "lookback": 24},
    ),
    "gru-bi-sum-relu": (
        {"cell": "gru", "bidirectional": True, "merge": "sum"},
        {"cell": "gru", "bidirectional": "sum"},
    ),
}
out = {}
for name, (old, new) in cases.items():
    m = RNNForecaster(**base, **(old if OLD else new)).fit(air)
    out[name] = m.predict().drop(columns=["unique_id", "ds"]).to_numpy()
np.savez(sys.argv[1], **out)
print("saved", list(out), "old" if OLD else "new")
