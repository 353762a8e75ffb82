"""Every choice list of the library, declared once.

The estimator validates its parameters against these tuples, the networks and the training loop
key their tables by them, and ``pipelines/`` builds its flow parameter types and command-line
choices from them. Plain values only (no torch), so reading them costs nothing.

``None`` is a member where it is a valid parameter value; configuration files and command lines
have no null and spell it ``"none"`` (:func:`names`, :func:`from_name`).
"""

from __future__ import annotations

# networks
CELLS = ("rnn", "lstm", "gru")
MERGES = ("concat", "sum")  # how a bidirectional encoder's two directions are combined
NONLINEARITIES = ("tanh", "relu")  # the Elman RNN's
HEADS = ("direct", "seq2seq", "recursive")
ATTENTIONS = (None, "dot", "additive")  # seq2seq only
WINDOW_NORMS = (None, "last", "standard", "es")  # the estimator also takes "auto"
SKIPS = (None, "seasonal")

# data
SCALERS = (
    "standard",
    "robust",
    "none",
)  # "none" is a method here (the identity scaler), not a null
TARGET_TRANSFORMS = (None, "log")
FILLS = (None, "ffill", "interpolate", "zero")
SHORT_SERIES = ("pad", "drop", "error")

# training
LOSSES = ("mse", "mae", "huber", "mase", "smape")
DISTRIBUTIONS = (
    None,
    "normal",
    "student_t",
    "negative_binomial",
)  # the distribution heads' families
INTERVALS = (
    None,
    "conformal",
    "cqr",
)  # conformal intervals: absolute residuals, or around the quantile head
OPTIMIZERS = ("adam", "adamw")
CLIPS = ("norm", "value", None)
LR_SCHEDULERS = (None, "cosine", "cooldown", "plateau")
VERBOSE = ("auto", True, False)

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
