"""Parameter checks: the integer and number tests every module uses, and ``RNNForecaster``'s
validation, run first in ``fit`` so that a bad value fails before any data work, with an error
naming the parameter and the value.
"""

from __future__ import annotations

import datetime

import numpy as np
import torch

from forecast import choices


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
    """``device`` ("auto", "cpu", "cuda", "cuda:N") as a ``torch.device``; "auto" is CUDA when present."""
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


CHOICES = {
    "cell": choices.CELLS,
    "merge": choices.MERGES,
    "nonlinearity": choices.NONLINEARITIES,
    "head": choices.HEADS,
    "scaler": choices.SCALERS,
    "loss": choices.LOSSES,
    "optimizer": choices.OPTIMIZERS,
    "clip": choices.CLIPS,
    "lr_scheduler": choices.LR_SCHEDULERS,
    "fill": choices.FILLS,
    "verbose": choices.VERBOSE,
    "attention": choices.ATTENTIONS,
    "window_norm": ("auto", *choices.WINDOW_NORMS),
    "skip": choices.SKIPS,
    "target_transform": choices.TARGET_TRANSFORMS,
    "short_series": choices.SHORT_SERIES,
    "distribution": choices.DISTRIBUTIONS,
    "interval": choices.INTERVALS,
}


def check_params(est):
    """Validate an ``RNNForecaster``'s parameters (read by name); the first bad one raises ``ValueError``."""
    for name, allowed in CHOICES.items():
        if getattr(est, name) not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {getattr(est, name)!r}")
    _check_sizes(est)
    _check_numbers(est)
    for name in ("bidirectional", "residual", "layer_norm", "carry_state", "calendar"):
        if not isinstance(getattr(est, name), bool):
            raise ValueError(f"{name} must be True or False, got {getattr(est, name)!r}")
    _check_head(est)
    _check_probabilistic(est)
    _check_members(est)
    resolve_device(est.device)  # an unknown or unavailable device fails here, before any data work
    for name in ("past_covariates", "future_covariates", "static_covariates"):
        cols = getattr(est, name)
        if cols is None:
            continue
        if (
            isinstance(cols, str)
            or not isinstance(cols, (list, tuple))
            or not all(isinstance(c, str) for c in cols)
        ):
            raise ValueError(f"{name} must be a tuple of column names (or None), got {cols!r}")


def _check_sizes(est):
    for name in ("hidden_size", "num_layers", "horizon", "stride", "n_models"):
        check_int(name, getattr(est, name), 1)
    for name in (
        "lookback",
        "season_length",
        "batch_size",
        "max_epochs",
        "max_steps",
        "windows_per_epoch",
        "early_stopping",
    ):
        if getattr(est, name) is not None:
            check_int(name, getattr(est, name), 1)
    if est.val_size is not None:
        check_int("val_size", est.val_size, 0)
        if 0 < est.val_size < est.horizon:
            raise ValueError(
                f"val_size must be 0 or at least horizon={est.horizon}, got {est.val_size}"
            )
    if est.early_stopping and est.val_size == 0:
        raise ValueError(
            "early_stopping needs validation data: set val_size > 0 (or leave it None)"
        )


def _check_numbers(est):
    for name in ("learning_rate", "clip_value"):
        if not (is_number(getattr(est, name)) and getattr(est, name) > 0):
            raise ValueError(f"{name} must be a positive number, got {getattr(est, name)!r}")
    if not (is_number(est.weight_decay) and est.weight_decay >= 0):
        raise ValueError(f"weight_decay must be a number >= 0, got {est.weight_decay!r}")
    check_int("seed", est.seed, 0)
    max_time = est.max_time
    if max_time is not None and not (
        (is_number(max_time) or isinstance(max_time, datetime.timedelta)) and seconds(max_time) > 0
    ):
        raise ValueError(
            f"max_time must be a positive number of seconds or a timedelta (or None), got {max_time!r}"
        )
    if not (is_number(est.dropout) and 0.0 <= est.dropout < 1.0):
        raise ValueError(f"dropout must be in [0, 1), got {est.dropout!r}")


def _check_head(est):
    """The parameters that only some heads, norms or training modes accept."""
    head, norm = est.head, est.window_norm
    if est.attention is not None and head != "seq2seq":
        raise ValueError(f"attention={est.attention!r} needs head='seq2seq', got head={head!r}")
    if not (is_number(est.teacher_forcing) and 0.0 <= est.teacher_forcing <= 1.0):
        raise ValueError(f"teacher_forcing must be a number in [0, 1], got {est.teacher_forcing!r}")
    if est.teacher_forcing and head != "seq2seq":
        raise ValueError(
            f"teacher_forcing={est.teacher_forcing!r} needs head='seq2seq', got head={head!r}"
        )
    if est.tbptt_steps is not None:
        check_int("tbptt_steps", est.tbptt_steps, 1)
        if head != "recursive":
            raise ValueError(
                f"tbptt_steps={est.tbptt_steps!r} needs head='recursive', got head={head!r}"
            )
        if norm not in (None, "auto"):
            raise ValueError(
                f"window_norm={norm!r} normalises fixed windows; truncated BPTT walks "
                f"whole series (tbptt_steps={est.tbptt_steps!r}): use one or the other"
            )
    if norm == "standard" and isinstance(est.lookback, int) and est.lookback < 3:
        raise ValueError(
            f"window_norm='standard' scales each window by its own spread, which lookback="
            f"{est.lookback} cannot estimate: use lookback >= 3 or window_norm='last'"
        )
    if norm == "es" and (head == "recursive" or est.skip is not None):
        raise ValueError(
            f"window_norm='es' forecasts a correction to its exponential-smoothing forecast with a "
            f"direct or seq2seq head and no other skip: got head={head!r}, skip={est.skip!r}"
        )
    if est.tbptt_steps is not None and est.n_models != 1:
        raise ValueError(
            f"tbptt_steps={est.tbptt_steps!r} walks whole series with one network; "
            f"n_models={est.n_models!r} ensembles need windowed training: use one or the other"
        )
    if est.skip is not None and head == "recursive":
        raise ValueError(
            f"skip={est.skip!r} adds the seasonal-naive forecast to a direct or seq2seq head's "
            "output; head='recursive' predicts one step at a time: use skip=None"
        )
    if head == "recursive" and est.bidirectional:
        raise ValueError(
            "head='recursive' generates step by step and cannot be bidirectional: "
            "set bidirectional=False"
        )


def check_quantiles(name, values, bounds=(0.0, 1.0)):
    """A non-empty sequence of distinct numbers strictly inside ``bounds`` (quantiles or levels), as a tuple."""
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


def _check_probabilistic(est):
    """quantiles / distribution / interval / level / calibration_size, and what they combine with."""
    if est.quantiles is not None:
        check_quantiles("quantiles", est.quantiles)
        if est.distribution is not None:
            raise ValueError(
                f"set quantiles or distribution, not both (got quantiles={est.quantiles!r}, "
                f"distribution={est.distribution!r})"
            )
    if est.level is not None:
        check_quantiles("level", est.level, (0.0, 100.0))
    probabilistic = est.quantiles is not None or est.distribution is not None
    if probabilistic and est.tbptt_steps is not None:
        raise ValueError(
            "tbptt_steps trains point forecasts only: set tbptt_steps=None for quantiles/distribution"
        )
    if est.distribution is not None and est.n_models > 1:
        raise ValueError(
            f"distribution={est.distribution!r} needs n_models=1 (an ensemble of distributions is not "
            f"supported; quantiles=... ensembles), got n_models={est.n_models}"
        )
    if est.distribution == "negative_binomial" and est.target_transform is not None:
        raise ValueError(
            "distribution='negative_binomial' models counts: set target_transform=None"
        )
    if est.interval is not None and est.distribution == "negative_binomial":
        raise ValueError(
            "interval=... calibrates point, quantile, normal and student_t models; the negative "
            "binomial head gives its own intervals: set interval=None"
        )
    if est.interval == "cqr" and est.quantiles is None:
        raise ValueError("interval='cqr' conformalises the quantile head: set quantiles=(...) too")
    if est.calibration_size is not None:
        check_int("calibration_size", est.calibration_size, est.horizon)
        if est.interval is None:
            raise ValueError(
                "calibration_size is read by interval='conformal' or 'cqr'; set interval too"
            )


def _check_members(est):
    """member_lookbacks / member_losses: one value per ensemble member."""
    for name in ("member_lookbacks", "member_losses"):
        values = getattr(est, name)
        if values is None:
            continue
        if (
            isinstance(values, (str, bytes))
            or not isinstance(values, (list, tuple))
            or len(values) != est.n_models
        ):
            raise ValueError(
                f"{name} must hold one value per member (n_models={est.n_models}), got {values!r}"
            )
    if est.member_lookbacks is not None:
        for v in est.member_lookbacks:
            check_int("member_lookbacks[i]", v, 1)
        if est.lookback is not None and max(est.member_lookbacks) > est.lookback:
            raise ValueError(
                f"member_lookbacks {tuple(est.member_lookbacks)} exceed lookback={est.lookback}"
            )
        if est.head == "recursive":
            raise ValueError(
                "member_lookbacks needs head='direct' or 'seq2seq' (the recursive head reads whole windows)"
            )
    if est.member_losses is not None:
        bad = [v for v in est.member_losses if v not in choices.LOSSES]
        if bad:
            raise ValueError(f"member_losses must hold names from {choices.LOSSES}, got {bad[0]!r}")
        if est.quantiles is not None or est.distribution is not None:
            raise ValueError(
                "member_losses: quantile and distribution heads train on their own loss; leave it None"
            )
        if est.tbptt_steps is not None:
            raise ValueError("member_losses needs tbptt_steps=None")
