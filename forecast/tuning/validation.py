"""Where :class:`~forecast.tuning.auto.AutoRNNForecaster` scores its trials: the last
``windows`` horizons of every series, one model fitted before the first of them.

A trial is a no-refit backtest (``refit=False``): one fit on the data up to the first cutoff,
forecasts from ``windows`` consecutive origins a horizon apart, MASE over all of them. More than
one window makes the score of a setting less a matter of one window's luck (the winner's curse
of many trials on a single short window) at the cost of fitting further from the end. Seasonal
naive is scored on the same windows.
"""

from __future__ import annotations

import numpy as np

from forecast.evaluation.backtesting import backtest


def usable_windows(lengths, horizon, asked, holdout=0):
    """Windows every series can give (at most ``asked``, at least 1): each keeps ``horizon``
    points to train on before its first window and ``holdout`` more points held back as the
    trial's per-epoch validation loss."""
    shortest = int(np.min(lengths))
    fits = (shortest - horizon - holdout) // horizon
    return int(max(1, min(asked, fits)))


def score(estimator, long, season_length, windows, callbacks=None):
    """The no-refit backtest of ``estimator`` on the last ``windows`` horizons of ``long``."""
    return backtest(
        estimator,
        long,
        n_windows=windows,
        refit=False,
        season_length=season_length,
        metrics=("mase",),
        callbacks=callbacks,
    )


def mase(estimator, long, season_length, windows):
    """Validation MASE of ``estimator`` (seasonal naive's reference) on the same windows."""
    return float(score(estimator, long, season_length, windows).aggregate["mase"])
