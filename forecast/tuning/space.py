"""The declared search spaces of :class:`~forecast.tuning.auto.AutoRNNForecaster`.

A space is a function ``space(trial) -> dict`` of ``RNNForecaster`` keyword arguments;
:func:`default_space` is the one used unless the user passes their own (a callable) or fixes some
of its values (a dict, merged over the sampled ones and then not sampled at all). It comes in two
named sizes: "compact" (the network and the optimiser) and "full" (also the training loss and a
log target, sampled only where every target value is positive: sMAPE and log need y > 0).
"""

from __future__ import annotations

CELLS = ("lstm", "gru")
HIDDEN_SIZES = (16, 32, 64)
LOOKBACK_MULTIPLES = (1, 3)  # lookback = k * max(horizon, season_length), k in 1..3
WINDOW_NORMS = ("es", "last")
LEARNING_RATES = (1e-3, 1e-2)  # log-uniform
DROPOUTS = (0.0, 0.1)  # only with two layers: RNNForecaster refuses dropout on one
LOSSES = ("mae", "smape")  # "full", positive data only
SPACES = ("compact", "full")
DEFAULT = "compact"  # space=None


def default_space(trial, horizon, season_length, fixed=None, size=DEFAULT, positive=False):
    """Sample one setting; keys in ``fixed`` are taken from it instead of sampled.

    ``size``: "compact" or "full" (the loss and a log target, ``scaler=("log", "standard")``,
    too, when ``positive``: every target value of the data is above zero).

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
    if size == "full" and positive:
        params["loss"] = pick("loss", categorical(LOSSES))
        log = "scaler" not in fixed and trial.suggest_categorical("log_target", [False, True])
        params["scaler"] = ("log", "standard") if log else fixed.get("scaler", "standard")
    return {**params, **fixed}


def check(space):
    """Refuse a ``space`` that is none of None, a name in ``SPACES``, a dict or a callable."""
    named = isinstance(space, str) and space in SPACES
    if not (space is None or named or callable(space) or isinstance(space, dict)):
        raise ValueError(
            f"space must be None, one of {SPACES}, a dict or a callable, got {space!r}"
        )


def sample(trial, space, horizon, season_length, fixed=None, positive=False):
    """The settings of one trial: ``space`` None (the default size), "compact" or "full", a dict
    of fixed values (over the default size), or a callable ``space(trial) -> dict``; ``fixed``
    (applied to every trial) is merged over them. ``positive``: every target value is > 0."""
    fixed = dict(fixed or {})
    check(space)
    if callable(space):
        return {**dict(space(trial)), **fixed}
    size, values = (space, {}) if isinstance(space, str) else (DEFAULT, space or {})
    return default_space(trial, horizon, season_length, {**values, **fixed}, size, positive)
