"""Every choice list of the library, declared once.

The estimator validates its parameters against these tuples, the networks and the training loop
key their tables by them, and ``pipelines/`` builds its flow parameter types and command-line
choices from them. Plain values only (no torch), so reading them costs nothing.

``None`` is a member where it is a valid parameter value; configuration files and command lines
have no null and spell it ``"none"`` (:func:`names`, :func:`from_name`).
"""

from __future__ import annotations

# networks: the estimator's values, then the building blocks they unfold into (networks/ keys
# its tables by the latter; ``forecast.checks.unfold`` maps one onto the other)
CELLS = ("rnn", "rnn_relu", "lstm", "gru")  # "rnn_relu": the Elman RNN with ReLU
BIDIRECTIONAL = (False, True, "sum")  # True: the two directions concatenated; "sum": added
HEADS = ("direct", "seq2seq", "seq2seq_dot", "seq2seq_additive", "recursive")
STACKS = ("residual", "layer_norm", "residual_layer_norm")  # num_layers=(n, stack)
WINDOW_NORMS = (None, "last", "standard", "es", "seasonal")  # the estimator also takes "auto"
RNN_CELLS = ("rnn", "lstm", "gru")
NETWORK_HEADS = ("direct", "seq2seq", "recursive")
MERGES = ("concat", "sum")
ATTENTIONS = (None, "dot", "additive")
NORMS = (None, "last", "standard", "es")  # what the network normalises by ("seasonal": standard)

# data
SCALERS = (
    "standard",
    "robust",
    "none",
)  # "none" is a method here (the identity scaler), not a null
TARGET_TRANSFORMS = (None, "log", "log1p")  # scaler=(transform, method)
FILLS = (None, "ffill", "interpolate", "zero")
SHORT_SERIES = ("pad", "drop", "error")

# training
POINT_LOSSES = ("mse", "mae", "huber", "mase", "smape")
FAMILIES = (
    "pinball",
    "normal",
    "student_t",
    "negative_binomial",
)  # forecast.probabilistic.families
LOSSES = (*POINT_LOSSES, *FAMILIES)
DEFAULT_QUANTILES = (0.1, 0.5, 0.9)  # loss="pinball" with quantiles=None
INTERVALS = (None, "conformal", "cqr")  # conformal: absolute residuals, or around the quantiles
OPTIMIZERS = ("adam", "adamw")
CLIPS = ("norm", "value", None)  # the training loop's: clip=x is ("norm", x), ("value", x), None
LR_SCHEDULERS = (None, "cosine", "cooldown", "plateau")
VERBOSE = ("auto", True, False)
STRATEGIES = (None, "ddp")  # "ddp": one network trained across torchrun's processes

# evaluation
METRICS = ("mae", "rmse", "mape", "smape", "mase")
DEFAULT_METRICS = ("mae", "rmse", "smape", "mase")
RANKING_METRICS = (
    *METRICS,
    "owa",
)  # model selection also ranks by M4's OWA against its reference row
BACKTEST_WINDOWS = ("expanding", "sliding")


def names(choices):
    """The choices as a configuration file or command line writes them: ``None`` as ``"none"``."""
    return tuple("none" if c is None else c for c in choices)


def from_name(name):
    """A choice read from a configuration file or command line: ``"none"`` is ``None``."""
    return None if name == "none" else name


def pair(value):
    """A setting given alone or as ``(setting, detail)``: (setting, detail or None)."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return value[0], value[1]
    return value, None


def members(ensemble):
    """``ensemble`` as (n_models, lookbacks or None, losses or None): an int is that many alike
    members; a tuple holds one spec per member: None, a lookback (int), a loss (str) or both."""
    if not isinstance(ensemble, (tuple, list)):
        return ensemble, None, None
    specs = [s if isinstance(s, (tuple, list)) else (s,) for s in ensemble]
    lookbacks = [
        next((v for v in s if v is not None and not isinstance(v, str)), None) for s in specs
    ]
    losses = [next((v for v in s if isinstance(v, str)), None) for s in specs]
    return (
        len(specs),
        lookbacks if any(v is not None for v in lookbacks) else None,
        losses if any(v is not None for v in losses) else None,
    )


def unfold(params):
    """The building blocks of an estimator's (validated) parameters ``params`` (``get_params()``):
    each folded setting split into the plain values the layers below read."""
    layers, stack = pair(params["num_layers"])
    head, tbptt_steps = pair(params["head"])  # ("recursive", k): truncated BPTT
    head, attention = ("seq2seq", head[8:]) if head.startswith("seq2seq_") else (head, None)
    n_models, lookbacks, losses = members(params["ensemble"])
    scaler = params["scaler"]
    transform, method = scaler if isinstance(scaler, (tuple, list)) else (None, scaler)
    optimizer, weight_decay = pair(params["optimizer"])
    learning_rate, schedule = (
        tuple(params["learning_rate"])
        if isinstance(params["learning_rate"], (tuple, list))
        else (params["learning_rate"], "cooldown")
    )
    clip = params["clip"]
    if clip is None:
        clip, clip_value = None, 1.0
    elif isinstance(clip, (tuple, list)):
        clip, clip_value = clip
    else:
        clip, clip_value = "norm", clip
    interval, calibration_size = pair(params["interval"])
    loss = params["loss"]
    family = loss if loss in FAMILIES else None
    quantiles = None
    if family == "pinball":
        quantiles = tuple(params["quantiles"] or DEFAULT_QUANTILES)
    norm = params["window_norm"]
    return {
        "cell": "rnn" if params["cell"] == "rnn_relu" else params["cell"],
        "nonlinearity": "relu" if params["cell"] == "rnn_relu" else "tanh",
        "bidirectional": bool(params["bidirectional"]),
        "merge": "sum" if params["bidirectional"] == "sum" else "concat",
        "head": head,
        "attention": attention,
        "num_layers": layers,
        "residual": stack in ("residual", "residual_layer_norm"),
        "layer_norm": stack in ("layer_norm", "residual_layer_norm"),
        "window_norm": "standard" if norm == "seasonal" else norm,
        "skip": "seasonal" if norm == "seasonal" else None,
        "n_models": n_models,
        "member_lookbacks": lookbacks,
        "member_losses": None if losses is None else [v or loss for v in losses],
        "target_transform": transform,
        "scaler": method,
        "optimizer": optimizer,
        "weight_decay": 0.0 if weight_decay is None else weight_decay,
        "learning_rate": learning_rate,
        "lr_scheduler": schedule,
        "tbptt_steps": tbptt_steps,
        "clip": clip,
        "clip_value": clip_value,
        "interval": interval,
        "calibration_size": calibration_size,
        "family": family,
        "quantiles": quantiles,
    }
