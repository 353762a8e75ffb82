"""Recurrent time-series forecasting: a scikit-learn-style estimator over pandas panels.

The core imports only numpy, pandas, torch and scikit-learn (never prefect or mlflow).
"""
from .baselines import Naive, SeasonalNaive
from .estimator import RNNForecaster
from .backtesting import BacktestResult, backtest
from .selection import SelectionResult, TemporalSplit, select_model

__version__ = "0.1.0"
__all__ = ["RNNForecaster", "Naive", "SeasonalNaive", "backtest", "BacktestResult", "select_model",
           "SelectionResult", "TemporalSplit", "__version__"]
