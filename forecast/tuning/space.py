"""The declared search spaces of :class:`~forecast.tuning.auto.AutoRNNForecaster`.

A space is a function ``space(trial) -> dict`` of ``RNNForecaster`` keyword arguments;
:func:`default_space` is the one used unless the user passes their own (a callable) or fixes some
of its values (a dict, merged over the sampled ones and then not sampled at all). It comes in two
named sizes: "compact" (the network and the optimiser) and "full" (also the training loss and a
log target, where no target value is negative: log(y) where every value is positive, log(1 + y)
where there are zeros).
"""

from __future__ import annotations

CELLS = ("lstm", "gru")
HIDDEN_SIZES = (16, 32, 64)
LOOKBACK_MULTIPLES = (1, 3)  # lookback = k * max(horizon, season_length), k in 1..3
WINDOW_NORMS = ("es", "last")
LEARNING_RATES = (1e-3, 1e-2)  # log-uniform
DROPOUTS = (0.0, 0.1)  # only with two layers: RNNForecaster refuses dropout on one
LOSSES = ("mae", "smape")  # "full", on data without negative values (sMAPE needs y >= 0)
SPACES = ("compact", "full")
DEFAULT = "full"  # space=None; chosen on validation (benchmarks/RESULTS-search.md, auto-v5)


def default_space(trial, horizon, season_length, fixed=None, size=DEFAULT, target_min=None):
    """Sample one setting; keys in ``fixed`` are taken from it instead of sampled.

    ``size``: "compact" or "full": the loss and a log target too where ``target_min`` (the data's
    smallest target value) is >= 0: ``scaler=("log", "standard")`` where it is > 0,
    ``("log1p", "standard")`` (log(1 + y)) where it is 0.

    Returns
    -------
    dict of RNNForecaster keyword arguments (cell, bidirectional, hidden_size, num_layers,
    dropout, lookback, window_norm, learning_rate (, loss, scaler)), ``fixed`` merged over it.
    """
    fixed = dict(fixed or {})

    def pick(name, sample):
        return fixed[name] if name in fixed else sample(name)

    def categorical(choices):
        return lambda name: trial.suggest_categorical(name, list(choices))

    unit = max(int(horizon), int(season_length or 1))
    num_layers = pick("num_layers", lambda name: trial.suggest_int(name, 1, 2))
    params = {
        "cell": pick("cell", categorical(CELLS)),
        "bidirectional": pick("bidirectional", categorical((False, True))),
        "hidden_size": pick("hidden_size", categorical(HIDDEN_SIZES)),
        "num_layers": num_layers,
        "dropout": pick("dropout", categorical(DROPOUTS)) if num_layers == 2 else 0.0,
        "lookback": pick(
            "lookback",
            lambda name: unit * trial.suggest_int("lookback_multiple", *LOOKBACK_MULTIPLES),
        ),
        "window_norm": pick("window_norm", categorical(WINDOW_NORMS)),
        "learning_rate": pick(
            "learning_rate", lambda name: trial.suggest_float(name, *LEARNING_RATES, log=True)
        ),
    }
    full = size == "full" and target_min is not None
    if full and target_min >= 0:
        params["loss"] = pick("loss", categorical(LOSSES))
    if full and target_min >= 0 and "scaler" not in fixed:  # log(1 + y) where there are zeros
        log = trial.suggest_categorical("log_target", [False, True])
        transform = "log" if target_min > 0 else "log1p"
        params["scaler"] = (transform, "standard") if log else "standard"
    return {**params, **fixed}


def check(space):
    """Refuse a ``space`` that is none of None, a name in ``SPACES``, a dict or a callable."""
    named = isinstance(space, str) and space in SPACES
    if not (space is None or named or callable(space) or isinstance(space, dict)):
        raise ValueError(
            f"space must be None, one of {SPACES}, a dict or a callable, got {space!r}"
        )


def sample(trial, space, horizon, season_length, fixed=None, target_min=None):
    """The settings of one trial: ``space`` None (the default size), "compact" or "full", a dict
    of fixed values (over the default size), or a callable ``space(trial) -> dict``; ``fixed``
    (applied to every trial) is merged over them. ``target_min``: the data's smallest target."""
    fixed = dict(fixed or {})
    check(space)
    if callable(space):
        return {**dict(space(trial)), **fixed}
    size, values = (space, {}) if isinstance(space, str) else (DEFAULT, space or {})
    return default_space(trial, horizon, season_length, {**values, **fixed}, size, target_min)
