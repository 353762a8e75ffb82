"""The ranks of ``strategy="ddp"`` fits, for test_ddp.

``ddp_child.py OUT equivalence`` runs as one rank under torchrun: it fits every case of CASES and
writes each rank's weights, history and LSTM forecast (rank 0 also saves the LSTM model), then the
LSTM case again with each rank clipping its own gradients before they are summed (the mistake the
loop must not make), as "per_rank_clip".

``ddp_child.py OUT failures`` is a launcher: it imports the library once, then forks two ranks at
a time with the variables torchrun sets (but no agent, so that a failure is met by the library)
for four scenarios, one after the other: "killed" (the LSTM case with a checkpoint folder; rank 1
is SIGKILLed at the start of its 5th optimizer step, in epoch 2), "resumed" (the same call
again), "hung" (rank 1 sleeps at step 5 instead, with a 3 s timeout) and "mismatched" (rank 1
fits another panel). Each rank's output goes to ``OUT/<scenario>-rank<r>.log``;
``OUT/failures.json`` holds each rank's exit code and the seconds after the scenario's start at
which it ended, and what the checkpoint folder holds then.
"""

import json
import os
import signal
import socket
import sys
import time
import traceback
from pathlib import Path

import torch

from forecast import RNNForecaster
from forecast.datasets.synthetic import make_panel
from forecast.training import distributed

BASE = dict(
    hidden_size=8,
    lookback=12,
    horizon=4,
    learning_rate=1e-2,
    clip=1e-3,  # small enough that every step is clipped
    device=os.environ.get("DDP_CHILD_DEVICE", "cpu"),  # tests/gpu/test_ddp_gpu.py: "cuda"
    season_length=6,
    seed=5,
    verbose=False,
    strategy="ddp",
)
CASES = {
    # 16 windows a batch (8 per rank), 40 per epoch: batches of 16, 16, 8; validation each epoch
    "lstm": dict(cell="lstm", batch_size=16, windows_per_epoch=40, max_epochs=3, val_size=4),
    # 15 a batch: parts of 8 and 7 windows, weighted 8/15 and 7/15
    "bigru": dict(
        cell="gru", bidirectional=True, batch_size=15, windows_per_epoch=45, max_epochs=2
    ),
}


def data(seed=1):
    return make_panel(n_series=3, length=60, freq="h", seed=seed)


def fit(case, df=None, **kwargs):
    return RNNForecaster(**BASE, **CASES[case]).fit(data() if df is None else df, **kwargs)


def write(model, out, name, rank):
    torch.save(model.module_.state_dict(), out / f"{name}-rank{rank}.pt")
    (out / f"{name}-rank{rank}.json").write_text(json.dumps(model.history_.to_dict()))


def clip_each_rank_first(sum_gradients):
    def clipped(self, module):
        torch.nn.utils.clip_grad_norm_(module.parameters(), BASE["clip"])
        sum_gradients(self, module)

    return clipped


def fail_rank_1_at(how, step):
    sum_gradients, count = distributed.World.sum_gradients, {"n": 0}

    def maybe_die(self, module):
        count["n"] += 1
        if self.rank == 1 and count["n"] == step:
            print(f"rank 1: {how} at step {step}", flush=True)
            if how == "hang":
                time.sleep(600)  # until the launcher kills it
            os.kill(os.getpid(), signal.SIGKILL)
        sum_gradients(self, module)

    distributed.World.sum_gradients = maybe_die


SCENARIOS = {  # name: (fail rank 1 how, checkpoint folder, FORECAST_DDP_TIMEOUT)
    "killed": ("kill", "ckpt", "60"),
    "resumed": (None, "ckpt", "60"),
    "hung": ("hang", "ckpt-hung", "3"),
    "mismatched": ("data", "ckpt-mismatched", "60"),  # rank 1 reads another panel
}


def rank_main(out, scenario, rank, port):
    """One forked rank of ``scenario``: never returns."""
    how, folder, wait = SCENARIOS[scenario]
    env = dict(RANK=rank, LOCAL_RANK=rank, WORLD_SIZE=2, MASTER_PORT=port, MASTER_ADDR="127.0.0.1")
    os.environ.update({k: str(v) for k, v in env.items()}, FORECAST_DDP_TIMEOUT=wait)
    log = os.open(out / f"{scenario}-rank{rank}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(log, 1)
    os.dup2(log, 2)
    code = 0
    try:
        torch.set_num_threads(1)
        if how in ("kill", "hang"):
            fail_rank_1_at(how, 5)
        df = data(seed=2 if how == "data" and rank == 1 else 1)
        write(fit("lstm", df, checkpoint_dir=out / folder), out, scenario, rank)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def launch(out, scenario):
    """Fork ranks 0 and 1 and wait for them (a rank still running 1 s after rank 0 ended, or 120 s
    after the start, is killed). Returns {"ranks": {rank: [exit code, seconds]}, "checkpoints":
    the checkpoint folder's entries afterwards}."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started, ended, pids = time.monotonic(), {}, {}
    for rank in (0, 1):
        pid = os.fork()
        if pid == 0:
            rank_main(out, scenario, rank, port)
        pids[pid] = rank
    while len(ended) < 2:
        time.sleep(0.02)
        now = time.monotonic() - started
        for pid, rank in pids.items():
            if rank in ended:
                continue
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                ended[rank] = [os.waitstatus_to_exitcode(status), now]
            elif now > 120 or (0 in ended and now > ended[0][1] + 1):
                os.kill(pid, signal.SIGKILL)
    folder = out / SCENARIOS[scenario][1]
    written = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    return {"ranks": ended, "checkpoints": written}


if __name__ == "__main__":
    out, mode = Path(sys.argv[1]), sys.argv[2]
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # before any torch op: no thread pool to fork
    if mode == "failures":
        RNNForecaster(**BASE | {"strategy": None}).fit(data())  # the first fit's imports, once
        results = {name: launch(out, name) for name in SCENARIOS}
        (out / "failures.json").write_text(json.dumps(results))
        sys.exit(0)
    rank = int(os.environ["RANK"])
    for case in CASES:
        model = fit(case)
        write(model, out, case, rank)
        if case == "lstm":
            model.predict().to_csv(out / f"forecast-rank{rank}.csv", index=False)
            if rank == 0:
                model.save(out / "model")
    distributed.World.sum_gradients = clip_each_rank_first(distributed.World.sum_gradients)
    write(fit("lstm"), out, "per_rank_clip", rank)
    distributed.leave()  # as the README's script ends: together, the process group torn down
    print(f"rank {rank} done", flush=True)
