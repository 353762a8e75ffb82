"""The members of a fitted :class:`~forecast.tuning.auto.AutoRNNForecaster`: the best trials'
settings refitted on all the data, each within its share of the clock that is left.

With ``warm_refit=True`` a member continues from the weights its trial reached on the data before
the validation windows (``RNNForecaster.fit(warm_start=True)``: scalers refitted on all the data,
the network carried over) instead of starting again, so the trial's training is not thrown away.
Trials of other processes (a shared study) and networks whose shape would change fall back to a
cold refit.
"""

from __future__ import annotations

import time

from forecast.estimator import RNNForecaster

MIN_SECONDS = 5.0


class Keeper:
    """The fitted models of the ``k`` best trials of this process, by validation score."""

    def __init__(self, k):
        self.k, self.models = k, {}  # trial number -> (score, fitted model)

    def offer(self, number, score, model):
        if model is None:
            return
        self.models[number] = (score, model)
        if len(self.models) > self.k:  # drop the worst: memory stays k small networks
            worst = max(self.models, key=lambda n: self.models[n][0])
            del self.models[worst]

    def take(self, number):
        found = self.models.pop(number, None)
        return None if found is None else found[1]


def refit(best, kwargs_of, df, y, columns, deadline, per_trial_cap, keeper=None):
    """One member per trial of ``best`` (best first), each fitted on all of ``df`` within an equal
    share of what is left before ``deadline`` (capped by its trial's budget when
    ``per_trial_cap``); ``kwargs_of(params, budget)`` gives its RNNForecaster keyword arguments."""
    members = []
    for i, trial in enumerate(best):
        left = (deadline - time.perf_counter()) / (len(best) - i)  # this member's share
        if per_trial_cap:
            left = min(trial.user_attrs["max_time"], left)
        kwargs = kwargs_of(trial.user_attrs["params"], max(MIN_SECONDS, left))
        warm = keeper.take(trial.number) if keeper is not None else None
        members.append(_warm(warm, kwargs, df, y, columns) or _cold(kwargs, df, y, columns))
    return members


def _cold(kwargs, df, y, columns):
    return RNNForecaster(**kwargs).fit(df, y, **columns)


def _warm(model, kwargs, df, y, columns):
    """``model`` trained on from its weights with ``kwargs``; None when it cannot be."""
    if model is None:
        return None
    try:
        settings = RNNForecaster(**kwargs).get_params()  # the cold member's, val_size included
        return model.set_params(**settings).fit(df, y, warm_start=True, **columns)
    except (ValueError, RuntimeError):  # the network's shape changed (another set of series)
        return None
