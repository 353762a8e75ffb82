"""Parameter checks every module uses: integers, numbers, quantile levels, seconds, devices.

``RNNForecaster``'s own validation, which composes them, is ``forecast.fitted.settings``.
"""

from __future__ import annotations

import datetime

import numpy as np
import torch


def is_number(value):
    """A real number (numpy scalars included), not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def is_int(value, low):
    """An integer (numpy integers included, not a bool) of at least ``low``."""
    return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value >= low


def check_int(name, value, low, prefix=""):
    """Raise ``ValueError`` naming ``name`` unless ``value`` is an integer >= ``low``."""
    if not is_int(value, low):
        raise ValueError(f"{prefix}{name} must be an integer >= {low}, got {value!r}")


def seconds(max_time):
    """``max_time`` in seconds (a number or a ``timedelta``), or None."""
    if isinstance(max_time, datetime.timedelta):
        return max_time.total_seconds()
    return None if max_time is None else float(max_time)


def resolve_device(device):
    """``device`` ("auto", "cpu", "cuda", "cuda:N") as a ``torch.device``; "auto" is CUDA when
    present.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}"
        ) from None
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but CUDA is not available here (use device='auto' or 'cpu')"
        )
    return resolved


def check_quantiles(name, values, bounds=(0.0, 1.0)):
    """A non-empty sequence of distinct numbers strictly inside ``bounds`` (quantiles or levels), as
    a tuple.
    """
    lo, hi = bounds
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(
            f"{name} must be a sequence of numbers in ({lo:g}, {hi:g}), got {values!r}"
        )
    values = tuple(values)
    bad = [v for v in values if not (is_number(v) and lo < v < hi)]
    if not values or bad:
        raise ValueError(
            f"{name} must be a non-empty sequence of numbers in ({lo:g}, {hi:g}), got {values!r}"
            + (f" ({bad[0]!r} is not)" if bad else "")
        )
    if len(set(values)) < len(values):
        raise ValueError(f"{name} has repeated values: {values!r}")
    return values
