"""Child process of test_checkpoint: one fit with a checkpoint folder, killed by SIGKILL on demand.

argv: checkpoint_dir (or "-" for none), output .pt file for the final weights, then optionally
"step=N" (SIGKILL inside the N-th optimizer step of this process, after backward, before the
update) or "save=N" (SIGKILL during the N-th checkpoint save, after its files are written and
before the rename that publishes it). Prints one line per epoch reached so the parent can see progress.
"""

import os
import signal
import sys

import torch

torch.set_num_threads(1)

from forecast import RNNForecaster  # noqa: E402
from forecast.datasets.synthetic import make_panel  # noqa: E402
from forecast.training import checkpoint  # noqa: E402
from forecast.training import loop as training  # noqa: E402

PARAMS = dict(
    cell="lstm",
    hidden_size=8,
    num_layers=2,
    dropout=0.2,
    lookback=24,
    horizon=6,
    season_length=12,
    batch_size=16,
    windows_per_epoch=160,
    max_epochs=6,
    early_stopping=10,
    learning_rate=(3e-3, "cosine"),
    device="cpu",
    seed=3,
    verbose=False,
)


def data():
    return make_panel(n_series=3, length=120, freq="h", seed=1)


def kill_at(kind, n):
    count = {"n": 0}

    def hit():
        count["n"] += 1
        if count["n"] == n:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    if kind == "step":
        clip = training.clip_gradients

        def clip_then_maybe_die(*args, **kwargs):
            hit()
            return clip(*args, **kwargs)

        training.clip_gradients = clip_then_maybe_die
    else:
        replace = checkpoint.os.replace

        def replace_or_die(src, dst):
            if "epoch-" in str(dst):
                hit()
            return replace(src, dst)

        checkpoint.os.replace = replace_or_die


if __name__ == "__main__":
    folder, out, *kill = sys.argv[1:]
    if kill:
        kind, n = kill[0].split("=")
        kill_at(kind, int(n))
    model = RNNForecaster(**PARAMS).fit(data(), checkpoint_dir=None if folder == "-" else folder)
    torch.save(model.module_.state_dict(), out)
    print("done", len(model.history_.records), flush=True)
