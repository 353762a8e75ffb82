"""Layer 2, scores: point metrics (``point``: MAE, RMSE, MAPE, sMAPE, MASE, OWA and their
per-series/aggregate evaluation) and interval metrics (``interval``: coverage, width, MSIS,
pinball, CRPS). Imports: ``forecast.data`` and the base modules.

``from forecast.metrics import mase`` keeps working: the point metrics are re-exported here.
"""

from forecast.metrics.point import (
    DEFAULT_METRICS,
    PRED,
    aggregate,
    check_metrics,
    evaluate,
    evaluate_groups,
    is_metric,
    mae,
    mape,
    mase,
    owa,
    owa_frame,
    relative,
    rmse,
    scales,
    seasonal_scale,
    smape,
    smape_m3,
)

__all__ = [
    "DEFAULT_METRICS",
    "PRED",
    "aggregate",
    "check_metrics",
    "evaluate",
    "evaluate_groups",
    "is_metric",
    "mae",
    "mape",
    "mase",
    "owa",
    "owa_frame",
    "relative",
    "rmse",
    "scales",
    "seasonal_scale",
    "smape",
    "smape_m3",
]
