"""Shared helpers for the benchmark scripts: machine facts, data, timing, peak memory, subprocesses.

Every script imports this as ``common`` (run them from the repository root as
``python benchmarks/bench_x.py``; the scripts put their own folder on ``sys.path``).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


# ------------------------------------------------------------------ machine and versions
def machine_info():
    """Plain dict of the facts RESULTS.md records: CPU, cores, memory, versions, threads."""
    import pandas as pd
    import torch

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores_logical": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    try:
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    return info


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# ------------------------------------------------------------------ data
def make_data(n_series, length, freq="h", seed=0):
    """Long frame [unique_id, ds, y] of ``n_series`` x ``length`` points.

    Uses ``forecast.datasets.synthetic.make_panel`` when present; otherwise a numpy generator of
    seasonal series with the same columns (so the benchmarks do not depend on it).
    """
    try:
        from forecast.datasets.synthetic import make_panel
    except ImportError:
        make_panel = None
    if make_panel is not None:
        return make_panel(n_series=n_series, length=length, freq=freq, seed=seed)
    import pandas as pd

    rng = np.random.default_rng(seed)
    t = np.arange(length)
    level = rng.uniform(10, 100, (n_series, 1))
    y = level * (1 + 0.2 * np.sin(2 * np.pi * t / 24 + rng.uniform(0, 6.3, (n_series, 1))))
    y += rng.normal(0, 0.05, y.shape) * level
    width = len(str(n_series - 1))
    ids = np.array([f"series_{i:0{width}d}" for i in range(n_series)], dtype=object)
    dates = pd.date_range("2024-01-01", periods=length, freq=freq).to_numpy()
    return pd.DataFrame(
        {"unique_id": np.repeat(ids, length), "ds": np.tile(dates, n_series), "y": y.ravel()}
    )


def panel_array(df):
    """(S, T) float32 array of a balanced long frame sorted by (unique_id, ds) — for the bare references."""
    n = df["unique_id"].nunique()
    return df["y"].to_numpy(dtype=np.float32).reshape(n, -1)


# ------------------------------------------------------------------ statistics
def median(xs):
    return statistics.median(xs)


def percentile(xs, q):
    return float(np.percentile(np.asarray(xs, dtype=np.float64), q))


def fmt(x, digits=3):
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.{digits}g}" if abs(x) < 1000 else f"{x:,.0f}"
    return str(x)


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0


# ------------------------------------------------------------------ memory
def rss_bytes():
    """Current resident set size of this process."""
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Peak resident memory inside a ``with`` block, in bytes, and its rise over the RSS at entry.

    On Linux it resets the kernel's high-water mark (``/proc/self/clear_refs`` = 5) and reads
    ``VmHWM`` at exit: exact, no sampling. Elsewhere a 2 ms psutil sampling thread stands in.
    """

    def __enter__(self):
        _trim()  # hand freed heap back to the OS first, or the block reuses it unseen
        self.baseline = rss_bytes()
        self._exact = _reset_hwm()
        if not self._exact:
            self._peak, self._stop = self.baseline, threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self._peak = max(self._peak, rss_bytes())
            time.sleep(0.002)

    def __exit__(self, *exc):
        if self._exact:
            self.peak = _read_hwm()
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self._peak, rss_bytes())
        self.delta = self.peak - self.baseline


def _trim():
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_hwm():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _read_hwm() is not None
    except OSError:
        return False


def _read_hwm():
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


MB = 2**20


# ------------------------------------------------------------------ subprocesses
def run_child(script, args, timeout=600, python=sys.executable, tail=800):
    """Run ``python script --child <json args>`` and return the JSON dict it prints last.

    ``python``: the interpreter (another venv's, for the peers). A child that fails returns
    ``{"error": ...}`` with the last ``tail`` characters of its stderr, so one bad configuration
    never takes down the whole benchmark.
    """
    cmd = [python, str(script), "--child", json.dumps(args)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout}s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr or proc.stdout)[-tail:]}
    return json.loads(lines[-1])


def child_args(argv):
    """The dict passed to a child by :func:`run_child` (None in the parent)."""
    if len(argv) > 2 and argv[1] == "--child":
        return json.loads(argv[2])
    return None


def emit(result):
    """A child's answer: one JSON line on stdout."""
    print(json.dumps(result, default=float), flush=True)


def main_or_child(main, child):
    """A script's entry point: ``main()`` in the parent; in a child started by :func:`run_child`,
    ``child(args)``, answered as one JSON line."""
    args = child_args(sys.argv)
    if args is None:
        main()
    else:
        emit(child(args))


def save_json(name, payload):
    """Write raw figures to ``benchmarks/results/<name>.json`` (next to RESULTS.md)."""
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{name}.json"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # whole or absent: then rename
    tmp.write_text(json.dumps(payload, indent=1, default=float))
    os.replace(tmp, path)
    return path


def table(headers, rows):
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
