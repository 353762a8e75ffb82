"""The declared default search space of :class:`~forecast.tuning.auto.AutoRNNForecaster`.

A space is a function ``space(trial) -> dict`` of ``RNNForecaster`` keyword arguments;
:func:`default_space` is the one used unless the user passes their own (a callable) or fixes some
of its values (a dict, merged over the sampled ones and then not sampled at all).
"""

from __future__ import annotations

CELLS = ("lstm", "gru")
HIDDEN_SIZES = (16, 32, 64)
LOOKBACK_MULTIPLES = (1, 3)  # lookback = k * max(horizon, season_length), k in 1..3
WINDOW_NORMS = ("es", "last")
LEARNING_RATES = (1e-3, 1e-2)  # log-uniform
DROPOUTS = (0.0, 0.1)  # only with two layers: RNNForecaster refuses dropout on one


def default_space(trial, horizon, season_length, fixed=None):
    """Sample one setting; keys in ``fixed`` are taken from it instead of sampled.

    Returns
    -------
    dict of RNNForecaster keyword arguments (cell, bidirectional, hidden_size, num_layers,
    dropout, lookback, window_norm, learning_rate), ``fixed`` merged over it.
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
    return {**params, **fixed}


def sample(trial, space, horizon, season_length, fixed=None):
    """The settings of one trial: ``space`` None (the default), a dict of fixed values, or a
    callable ``space(trial) -> dict``; ``fixed`` (applied to every trial) is merged over them."""
    fixed = dict(fixed or {})
    if callable(space):
        return {**dict(space(trial)), **fixed}
    if space is not None and not isinstance(space, dict):
        raise ValueError(f"space must be None, a dict or a callable, got {space!r}")
    return default_space(trial, horizon, season_length, {**(space or {}), **fixed})
