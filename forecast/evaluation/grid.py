"""``candidate_grid``: the estimators a model selection compares, one per combination of the swept
settings (cells, directions, hidden sizes, heads, window norms), the other settings shared."""

from __future__ import annotations

from itertools import product

from forecast.checks import is_int
from forecast.choices import CELLS, HEADS, WINDOW_NORMS, from_name, names
from forecast.estimator import RNNForecaster


def candidate_grid(
    cells=("rnn", "lstm", "gru"),
    bidirectional=(False, True),
    hidden_sizes=(32,),
    heads=("direct",),
    window_norms=(None,),
    **common_params,
):
    """RNNForecaster candidates over cells x directions x hidden sizes x heads x window norms.

    Returns dict name -> unfitted estimator, names like ``"lstm-bi-h32"`` (``"gru-h32-seq2seq"``
    for a non-direct head, ``"gru-h32-wlast"`` for ``window_norm="last"``); ``common_params``
    (lookback, horizon, max_epochs, ...) go to every candidate. The recursive head is
    unidirectional only, so bidirectional recursive pairs are skipped.
    """
    swept = {
        "cell": "cells",
        "hidden_size": "hidden_sizes",
        "head": "heads",
        "window_norm": "window_norms",
    }
    clash = [k for k in common_params if k in swept]
    if clash:
        raise ValueError(
            f"candidate_grid: {clash[0]!r} is swept by the grid: pass {swept[clash[0]]}=(...) "
            "instead"
        )
    window_norms = tuple(map(from_name, _values("window_norms", window_norms, WINDOW_NORMS)))
    cells, heads = _values("cells", cells, CELLS), _values("heads", heads, HEADS)
    bidirectional = _values("bidirectional", bidirectional)
    if not all(isinstance(b, bool) for b in bidirectional):
        raise ValueError(
            f"candidate_grid: bidirectional must hold True/False, got {bidirectional!r}"
        )
    hidden_sizes = _values("hidden_sizes", hidden_sizes)
    if not all(is_int(h, 1) for h in hidden_sizes):
        raise ValueError(
            f"candidate_grid: hidden_sizes must hold integers >= 1, got {hidden_sizes!r}"
        )
    grid = {}
    for cell, bi, hidden, head, norm in product(
        cells, bidirectional, hidden_sizes, heads, window_norms
    ):
        if head == "recursive" and bi:
            continue
        name = (
            f"{cell}{'-bi' if bi else ''}-h{hidden}{'' if head == 'direct' else '-' + head}"
            f"{'' if norm is None else '-w' + norm}"
        )
        grid[name] = RNNForecaster(
            cell=cell,
            bidirectional=bi,
            hidden_size=hidden,
            head=head,
            window_norm=norm,
            **common_params,
        )
    return grid


def _values(name, values, allowed=None):
    """A swept grid dimension: a list or tuple (not a bare string), of allowed values."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        raise TypeError(
            f"candidate_grid: {name} must be a tuple or list, e.g. {name}=({values!r},), got "
            f"{values!r}"
        )
    if not values:
        raise ValueError(f"candidate_grid: {name} is empty")
    if allowed is not None:
        bad = [
            v
            for v in values
            if v not in allowed and not (name == "window_norms" and v in names(allowed))
        ]
        if bad:
            raise ValueError(
                f"candidate_grid: {name} has unknown value(s) {bad}; choose from {list(allowed)}"
            )
    return tuple(values)
