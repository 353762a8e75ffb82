"""``RNNForecaster``'s validation, run first in ``fit`` so that a bad value fails before any data
work with an error naming the parameter and the value, and a setting that the others would
leave unread is refused (``merge`` without a bidirectional encoder cannot be written any more;
``level`` on a point model, ``quantiles`` without the pinball loss, ... are refused here).
Old parameter names: ``forecast.fitted.migration``.
"""

from __future__ import annotations

import datetime

from forecast import choices
from forecast.checks import check_int, check_quantiles, is_int, is_number, resolve_device, seconds

CHOICES = {
    "cell": choices.CELLS,
    "bidirectional": choices.BIDIRECTIONAL,
    "loss": choices.LOSSES,
    "fill": choices.FILLS,
    "verbose": choices.VERBOSE,
    "window_norm": ("auto", *choices.WINDOW_NORMS),
    "short_series": choices.SHORT_SERIES,
    "strategy": choices.STRATEGIES,
}


def levels(default, level):
    """``predict``'s interval levels: ``level``, else the estimator's ``default`` (None: the
    model's own)."""
    level = default if level is None else level
    return None if level is None else check_quantiles("level", level, (0.0, 100.0))


def _one_of(name, value, allowed):
    # `in` would take 1 for True and 0.0 for False: compare types too
    if not any(value == a and type(value) is type(a) for a in allowed):
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def check_params(est):
    """Validate an ``RNNForecaster``'s parameters (read by name); the first bad one raises
    ``ValueError`` naming it. A setting that the others would leave unread is refused too."""
    for name, allowed in CHOICES.items():
        _one_of(name, getattr(est, name), allowed)
    _check_folded(est)
    head, tbptt = choices.pair(est.head)
    _one_of("head", head, choices.HEADS)
    if isinstance(est.head, (tuple, list)):
        if head != "recursive":
            raise ValueError(
                f"head=(name, k) trains the recursive head by truncated BPTT, got {est.head!r}"
            )
        check_int("head[1] (truncated BPTT steps)", tbptt, 1)
    _check_sizes(est)
    _check_numbers(est)
    if not isinstance(est.calendar, bool):
        raise ValueError(f"calendar must be True or False, got {est.calendar!r}")
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


def _check_folded(est):
    """The settings spelled ``value`` or ``(value, detail)``."""
    layers, stack = choices.pair(est.num_layers)
    check_int("num_layers", layers, 1)
    if stack is not None:
        _one_of("num_layers[1]", stack, choices.STACKS)
    scaler = est.scaler
    if isinstance(scaler, (tuple, list)):
        if len(scaler) != 2 or scaler[0] not in choices.TARGET_TRANSFORMS[1:]:
            raise ValueError(
                f"scaler must be a method or ('log' | 'log1p', method), got {scaler!r}"
            )
        scaler = scaler[1]
    _one_of("scaler", scaler, choices.SCALERS)
    optimizer, decay = choices.pair(est.optimizer)
    _one_of("optimizer", optimizer, choices.OPTIMIZERS)
    if isinstance(est.optimizer, (tuple, list)) and not (is_number(decay) and decay >= 0):
        raise ValueError(f"optimizer=(name, weight_decay) needs weight_decay >= 0, got {decay!r}")
    rate, schedule = est.learning_rate, "cooldown"
    if isinstance(rate, (tuple, list)):
        if len(rate) != 2:
            raise ValueError(f"learning_rate must be a rate or (rate, schedule), got {rate!r}")
        rate, schedule = rate
    if not (is_number(rate) and rate > 0):
        raise ValueError(f"learning_rate must be a positive number, got {rate!r}")
    _one_of("learning_rate[1] (the schedule)", schedule, choices.LR_SCHEDULERS)
    clip = est.clip
    if isinstance(clip, (tuple, list)):
        if len(clip) != 2 or clip[0] not in ("norm", "value"):
            raise ValueError(f"clip must be a norm bound, ('value', bound) or None, got {clip!r}")
        clip = clip[1]
    if clip is not None and not (is_number(clip) and clip > 0):
        raise ValueError(f"clip must be a positive number (or None), got {est.clip!r}")
    interval, size = choices.pair(est.interval)
    _one_of("interval", interval, choices.INTERVALS)
    if size is not None:
        check_int("interval[1] (calibration points)", size, est.horizon)
    if isinstance(est.interval, (tuple, list)) and interval is None:
        raise ValueError(f"interval=(None, n) calibrates nothing, got {est.interval!r}")


def _check_sizes(est):
    for name in ("hidden_size", "horizon"):
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
    check_int("seed", est.seed, 0)
    max_time = est.max_time
    if max_time is not None and not (
        (is_number(max_time) or isinstance(max_time, datetime.timedelta)) and seconds(max_time) > 0
    ):
        raise ValueError(
            "max_time must be a positive number of seconds or a timedelta (or None), "
            f"got {max_time!r}"
        )
    if not (is_number(est.dropout) and 0.0 <= est.dropout < 1.0):
        raise ValueError(f"dropout must be in [0, 1), got {est.dropout!r}")
    if est.dropout and choices.pair(est.num_layers)[0] < 2:
        raise ValueError(
            f"dropout={est.dropout!r} acts between stacked layers: it needs num_layers >= 2, "
            f"got num_layers={est.num_layers!r}"
        )


def _check_head(est):
    """The parameters that only some heads, norms or training modes accept."""
    (head, tbptt), norm = choices.pair(est.head), est.window_norm
    if tbptt is not None:
        if est.strategy == "ddp":
            raise ValueError(
                f"strategy='ddp' splits each batch of windows across ranks; head={est.head!r} "
                "(truncated BPTT) walks whole series: use head='recursive' or strategy=None"
            )
        if norm not in (None, "auto"):
            raise ValueError(
                f"window_norm={norm!r} normalises fixed windows; truncated BPTT walks "
                f"whole series (head={est.head!r}): use one or the other"
            )
        if est.windows_per_epoch is not None:
            raise ValueError(
                f"windows_per_epoch={est.windows_per_epoch!r} would be unread: with head="
                f"{est.head!r} an epoch walks every series once (set windows_per_epoch=None)"
            )
    if norm in ("standard", "seasonal") and isinstance(est.lookback, int) and est.lookback < 3:
        raise ValueError(
            f"window_norm={norm!r} scales each window by its own spread, which lookback="
            f"{est.lookback} cannot estimate: use lookback >= 3 or window_norm='last'"
        )
    if norm in ("es", "seasonal") and head == "recursive":
        raise ValueError(
            f"window_norm={norm!r} forecasts a correction to a base forecast with a direct or "
            f"seq2seq head: got head={head!r}"
        )
    if head == "recursive" and est.bidirectional is not False:
        raise ValueError(
            "head='recursive' generates step by step and cannot be bidirectional: "
            "set bidirectional=False"
        )


def _check_probabilistic(est):
    """loss families / quantiles / interval / level, and what they combine with."""
    family = est.loss if est.loss in choices.FAMILIES else None
    interval = choices.pair(est.interval)[0]
    if est.quantiles is not None:
        check_quantiles("quantiles", est.quantiles)
        if family != "pinball":
            raise ValueError(
                f"quantiles={tuple(est.quantiles)!r} are trained by the pinball loss: set "
                f"loss='pinball', got loss={est.loss!r}"
            )
    if family is not None and choices.pair(est.head)[1] is not None:
        raise ValueError(
            f"truncated BPTT (head={est.head!r}) trains point forecasts only: loss={est.loss!r} "
            "needs head='recursive'"
        )
    if family not in (None, "pinball") and choices.members(est.ensemble)[0] != 1:
        raise ValueError(
            f"loss={est.loss!r} needs ensemble=1 (an ensemble of distributions is not "
            f"supported; loss='pinball' ensembles), got ensemble={est.ensemble!r}"
        )
    if family == "negative_binomial" and isinstance(est.scaler, (tuple, list)):
        raise ValueError(f"loss='negative_binomial' models counts: scaler={est.scaler!r} logs them")
    if interval is not None and family == "negative_binomial":
        raise ValueError(
            "interval=... calibrates point, quantile, normal and student_t models; the negative "
            "binomial head gives its own intervals: set interval=None"
        )
    if interval == "cqr" and family != "pinball":
        raise ValueError("interval='cqr' conformalises the quantile head: set loss='pinball' too")
    if est.level is None:
        return
    level = check_quantiles("level", est.level, (0.0, 100.0))
    if family is None and interval is None:
        raise ValueError(
            f"level={level!r}: a point model gives no intervals; set interval='conformal' or a "
            "probabilistic loss ('pinball', 'normal', 'student_t', 'negative_binomial')"
        )
    if family == "pinball" and interval is None:
        have = set(est.quantiles or choices.DEFAULT_QUANTILES)
        for lv in level:
            lo, hi = round((1 - lv / 100) / 2, 10), round(1 - (1 - lv / 100) / 2, 10)
            if not any(abs(lo - q) < 1e-9 for q in have) or not any(
                abs(hi - q) < 1e-9 for q in have
            ):
                raise ValueError(
                    f"level={lv!r} needs the quantiles ({lo:g}, {hi:g}), but quantiles="
                    f"{tuple(sorted(have))!r}: add them, or set interval='conformal'"
                )


def _check_members(est):
    """``ensemble``: a member count, or one spec per member (None, lookback, loss, or both)."""
    ens = est.ensemble
    if not isinstance(ens, (tuple, list)):
        check_int("ensemble", ens, 1)
    elif not ens:
        raise ValueError(f"ensemble must be a member count or a tuple of member specs, got {ens!r}")
    if choices.pair(est.head)[1] is not None and choices.members(ens)[0] != 1:
        raise ValueError(
            f"head={est.head!r} (truncated BPTT) walks whole series with one network; "
            f"ensemble={ens!r} needs windowed training: use one or the other"
        )
    if not isinstance(ens, (tuple, list)):
        return
    for spec in ens:
        parts = spec if isinstance(spec, (tuple, list)) else (spec,)
        ints = [v for v in parts if v is not None and not isinstance(v, str)]
        strs = [v for v in parts if isinstance(v, str)]
        if len(ints) > 1 or len(strs) > 1 or not all(is_int(v, 1) for v in ints):
            raise ValueError(
                f"ensemble: each member is None, a lookback (int >= 1), a loss or (lookback, "
                f"loss), got {spec!r}"
            )
        if strs and strs[0] not in choices.POINT_LOSSES:
            raise ValueError(
                f"ensemble: member losses come from {choices.POINT_LOSSES}, got {strs[0]!r}"
            )
    _, lookbacks, losses = choices.members(ens)
    if lookbacks is not None:
        if est.lookback is not None and max(v or 0 for v in lookbacks) > est.lookback:
            raise ValueError(
                f"ensemble lookbacks {tuple(lookbacks)} exceed lookback={est.lookback}"
            )
        if choices.pair(est.head)[0] == "recursive":
            raise ValueError(
                "ensemble member lookbacks need head='direct' or 'seq2seq' (the recursive head "
                "reads whole windows)"
            )
    if losses is not None:
        if all(v is not None for v in losses):
            raise ValueError(
                f"ensemble={tuple(ens)!r} gives every member its own loss, so loss={est.loss!r} "
                "would be unread: leave one member's loss out (it trains on loss)"
            )
        if est.loss not in choices.POINT_LOSSES:
            raise ValueError(
                f"ensemble member losses mix with point losses only, got loss={est.loss!r}"
            )
