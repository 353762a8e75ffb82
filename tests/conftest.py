"""Test-wide settings: no telemetry or analytics calls, Prefect state in a temporary folder.

Set before mlflow or prefect is imported by any test module (pytest loads this first).
"""

import os
import tempfile

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="forecast-tests-prefect-"))

# Tiny test models run faster on one intra-op thread than on two: every test file relies on this
# (CI has 2 cores, shared with the Prefect/MLflow servers some tests start).
import torch  # noqa: E402

torch.set_num_threads(1)
