"""Retries: on I/O (reading data, writing forecasts, talking to MLflow), never on compute, and only
for errors that can pass (connection and OS errors, not a missing file or bad data).

A task that only does I/O is retried by Prefect (:func:`io_options`); the MLflow records a compute
step writes as it goes (its parameters, metrics, figures) are retried in place (:func:`retried`),
so a passing network error neither fails the step nor repeats its compute. Deterministic compute
has neither retries nor caching (:func:`compute_options`): a failure there is a bug or bad data,
and a fitted model is not worth persisting in Prefect's result store (MLflow holds it).
"""

from __future__ import annotations

import random
import time

from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from .environment import run_logger

# Errors that no retry can fix: bad input, a missing file, a missing registered model.
PERMANENT = (
    ValueError,
    TypeError,
    LookupError,
    FileNotFoundError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
)
IO_RETRIES = 3
BACKOFF = exponential_backoff(backoff_factor=1)  # 1, 2, 4 s (+ jitter)


def transient(task, task_run, state):
    """Retry condition: retry only on errors that may pass (network, OS, server), never on bad
    input.
    """
    try:
        state.result()
    except PERMANENT:
        return False
    except Exception:  # noqa: BLE001 - anything else (connection, timeout, server error) may pass
        return True
    return True


def io_options(**kwargs):
    """Options of an I/O task: retried with backoff on transient errors, never cached."""
    options = dict(
        retries=IO_RETRIES,
        retry_delay_seconds=BACKOFF,
        retry_jitter_factor=0.5,
        retry_condition_fn=transient,
        cache_policy=NO_CACHE,
    )
    return options | kwargs


def compute_options(**kwargs):
    return dict(cache_policy=NO_CACHE) | kwargs


def retried(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, tried again after 1, 2 and 4 s (+ jitter) on a transient error:
    the retry of an MLflow record made inside a compute step."""
    for attempt in range(IO_RETRIES + 1):
        try:
            return fn(*args, **kwargs)
        except PERMANENT:
            raise
        except Exception as exc:
            if attempt == IO_RETRIES:
                raise
            delay = 2**attempt * (1 + random.random() / 2)
            run_logger().warning("%s failed (%s); retrying in %.1f s", _name(fn), exc, delay)
            time.sleep(delay)
    return None


def _name(fn):
    return getattr(fn, "__qualname__", None) or repr(fn)
