"""Figures logged to MLflow: error by horizon step, and history + actuals + forecast per series.

Built on ``matplotlib.figure.Figure`` directly (the Agg canvas), never pyplot, so no GUI
backend or global figure state is involved and figures are freed when dropped.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

ID, TIME, TARGET = "unique_id", "ds", "y"


def error_by_horizon(forecasts):
    """MAE and RMSE by horizon step from a long backtest frame [unique_id, cutoff, ds, y, y_pred].

    Returns
    -------
    DataFrame [step, mae, rmse, n] with step = 1..horizon.
    """
    fc = forecasts.sort_values([ID, "cutoff", TIME])
    step = fc.groupby([ID, "cutoff"], sort=False).cumcount() + 1
    err = (fc[TARGET] - fc["y_pred"]).to_numpy(dtype=np.float64)
    frame = pd.DataFrame({"step": step.to_numpy(), "abs": np.abs(err), "sq": err**2})
    out = frame.groupby("step").agg(mae=("abs", "mean"), mse=("sq", "mean"), n=("abs", "size")).reset_index()
    return out.assign(rmse=np.sqrt(out.pop("mse")))[["step", "mae", "rmse", "n"]]


def by_step_table(by_step=None, forecasts=None):
    """Errors by horizon step: the backtest's own table when it has one, else computed from forecasts."""
    if isinstance(by_step, pd.DataFrame) and len(by_step):
        table = by_step.reset_index() if "step" not in by_step.columns and by_step.index.name == "step" else by_step
        if "step" in table.columns:
            return table
    if isinstance(forecasts, pd.DataFrame) and len(forecasts):
        return error_by_horizon(forecasts)
    return None


def horizon_figure(by_step, title="backtest", metrics=("mae", "rmse")):
    """Line per metric against horizon step (every numeric column when none of ``metrics`` is there)."""
    from matplotlib.figure import Figure

    cols = [c for c in metrics if c in by_step.columns] or [
        c for c in by_step.columns if c not in ("step", "n") and pd.api.types.is_numeric_dtype(by_step[c])]
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.add_subplot()
    for col in cols:
        ax.plot(by_step["step"], by_step[col], marker="o", label=col.upper())
    ax.set(xlabel="horizon step", ylabel="error", title=f"{title}: error by horizon")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def forecast_figure(history, forecast, actuals=None, n_series=4, history_points=None):
    """One panel per series (the first ``n_series`` of ``forecast``): history tail, actuals, forecast."""
    from matplotlib.figure import Figure

    ids = list(pd.unique(forecast[ID].astype(str)))[:n_series]
    fig = Figure(figsize=(8, 2.2 * len(ids)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(ids), 1, squeeze=False)[:, 0])
    for ax, uid in zip(axes, ids):
        fc = forecast[forecast[ID].astype(str) == uid]
        hist = history[history[ID].astype(str) == uid].sort_values(TIME)
        hist = hist.tail(history_points or 4 * len(fc))
        ax.plot(hist[TIME], hist[TARGET], color="0.3", lw=1, label="history")
        if actuals is not None:
            act = actuals[actuals[ID].astype(str) == uid]
            start = hist[TIME].min() if len(hist) else fc[TIME].min()
            act = act[(act[TIME] >= start) & (act[TIME] <= fc[TIME].max())]  # the window shown, not all history
            ax.plot(act[TIME], act[TARGET], color="tab:green", lw=1, label="actual")
        ax.plot(fc[TIME], fc["y_pred"], color="tab:blue", lw=1.5, marker=".", label="forecast")
        ax.set_title(uid, fontsize=9, loc="left")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="upper left")
    return fig
