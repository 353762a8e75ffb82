"""Test-wide settings: no telemetry or analytics calls, Prefect state in a temporary folder.

Set before mlflow or prefect is imported by any test module (pytest loads this first).
"""

import importlib.util
import os
import tempfile
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="forecast-tests-prefect-"))

# Tiny test models run faster on one intra-op thread than on two: every test file relies on this
# (CI has 2 cores, shared with the Prefect/MLflow servers some tests start).
import torch  # noqa: E402

torch.set_num_threads(1)


import pytest  # noqa: E402

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="session")
def benchmark_script():
    """``load(name)``: ``benchmarks/<name>.py`` as a module, loaded once per session."""
    loaded = {}

    def load(name):
        if name not in loaded:
            spec = importlib.util.spec_from_file_location(
                f"{name}_benchmark", BENCHMARKS / f"{name}.py"
            )
            loaded[name] = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(loaded[name])
        return loaded[name]

    return load
