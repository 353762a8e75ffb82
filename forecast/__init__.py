"""Recurrent time-series forecasting: a scikit-learn-style estimator over pandas panels.

The core imports only numpy, pandas, torch and scikit-learn (never prefect or mlflow). The names
below load on first use (PEP 562), so ``import forecast.choices`` (the CLI's choice lists) does
not pay for importing torch.
"""

from importlib import import_module

__version__ = "0.1.0"
_EXPORTS = {
    "RNNForecaster": "estimator",
    "Naive": "evaluation.baselines",
    "SeasonalNaive": "evaluation.baselines",
    "backtest": "evaluation.backtesting",
    "BacktestResult": "evaluation.backtesting",
    "select_model": "evaluation.selection",
    "SelectionResult": "evaluation.selection",
    "TemporalSplit": "evaluation.splits",
    "AutoRNNForecaster": "tuning.auto",
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'forecast' has no attribute {name!r}")
    try:
        module = import_module(f".{_EXPORTS[name]}", __name__)
    except AttributeError as exc:  # else Python reports only "cannot import name", hiding the cause
        raise ImportError(f"importing forecast.{_EXPORTS[name]} failed: {exc}") from exc
    value = getattr(module, name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted([*globals(), *_EXPORTS])
