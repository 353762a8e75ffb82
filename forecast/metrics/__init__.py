"""Layer 2, scores: point metrics (``point``: MAE, RMSE, MAPE, sMAPE, MASE, OWA on arrays), the
same over forecast frames per series / cutoff / step (``tables``) and interval metrics
(``interval``: coverage, width, MSIS,
pinball, CRPS). Imports: ``forecast.data`` and the base modules.

``from forecast.metrics import mase`` keeps working: the point metrics are re-exported here.
"""

from forecast.choices import DEFAULT_METRICS
from forecast.metrics.point import (
    PRED,
    check_metrics,
    is_metric,
    mae,
    mape,
    mase,
    owa,
    relative,
    rmse,
    seasonal_scale,
    smape,
    smape_m3,
)
from forecast.metrics.tables import aggregate, evaluate, evaluate_groups, owa_frame, scales

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
