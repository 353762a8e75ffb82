"""Figures logged to MLflow: error by horizon step, history + actuals + forecast per series, and
training curves (train and validation loss by epoch).

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
    out = (
        frame.groupby("step")
        .agg(mae=("abs", "mean"), mse=("sq", "mean"), n=("abs", "size"))
        .reset_index()
    )
    return out.assign(rmse=np.sqrt(out.pop("mse")))[["step", "mae", "rmse", "n"]]


def by_step_table(by_step=None, forecasts=None):
    """Errors by horizon step: the backtest's own table when it has one, else computed from
    forecasts.
    """
    if isinstance(by_step, pd.DataFrame) and len(by_step):
        table = (
            by_step.reset_index()
            if "step" not in by_step.columns and by_step.index.name == "step"
            else by_step
        )
        if "step" in table.columns:
            return table
    if isinstance(forecasts, pd.DataFrame) and len(forecasts):
        return error_by_horizon(forecasts)
    return None


def horizon_figure(by_step, title="backtest", metrics=("mae", "rmse")):
    """Line per metric against horizon step (every numeric column when none of ``metrics`` is
    there).

    Each metric has its own colour, line style and marker, drawn widest first, so a metric equal
    to another (MAE = RMSE when every step has one error) still shows under it."""
    from matplotlib.figure import Figure

    cols = [c for c in metrics if c in by_step.columns] or [
        c
        for c in by_step.columns
        if c not in ("step", "n") and pd.api.types.is_numeric_dtype(by_step[c])
    ]
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.add_subplot()
    for i, col in enumerate(reversed(cols)):  # the first metric is drawn last, on top
        style = LINE_STYLES[(len(cols) - 1 - i) % len(LINE_STYLES)]
        ax.plot(
            by_step["step"],
            by_step[col],
            label=col.upper() if col.isalpha() else col,
            zorder=2 + i,
            **style,
        )
    handles, labels = ax.get_legend_handles_labels()
    ax.set(xlabel="horizon step", ylabel="error", title=f"{title}: error by horizon")
    ax.grid(alpha=0.3)
    ax.legend(handles[::-1], labels[::-1])
    return fig


LINE_STYLES = (
    {"color": "tab:blue", "ls": "-", "marker": "o", "ms": 4, "lw": 1.5},
    {"color": "tab:orange", "ls": "--", "marker": "s", "ms": 8, "lw": 2.5, "mfc": "none"},
    {"color": "tab:green", "ls": ":", "marker": "^", "ms": 6, "lw": 2},
)


def forecast_figure(history, forecast, actuals=None, n_series=4, history_points=None):
    """One panel per series (the first ``n_series`` of ``forecast``): history tail, actuals,
    forecast.

    The history ends where the forecast begins (a dotted line marks the origin); ``actuals`` are
    drawn only over the forecast's dates, so a full frame passed as actuals never hides the history.
    """
    from matplotlib.figure import Figure

    ids = list(pd.unique(forecast[ID].astype(str)))[:n_series]
    fig = Figure(figsize=(8, 2.2 * len(ids)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(ids), 1, squeeze=False)[:, 0])
    for ax, uid in zip(axes, ids):
        fc = forecast[forecast[ID].astype(str) == uid].sort_values(TIME)
        start = fc[TIME].min()
        hist = history[(history[ID].astype(str) == uid) & (history[TIME] < start)].sort_values(TIME)
        hist = hist.tail(history_points or 4 * len(fc))
        ax.plot(hist[TIME], hist[TARGET], color="0.45", lw=1.2, label="history")
        if len(hist):
            ax.axvline(hist[TIME].iloc[-1], color="0.6", ls=":", lw=1)
        if actuals is not None:
            act = actuals[actuals[ID].astype(str) == uid].sort_values(TIME)
            act = act[(act[TIME] >= start) & (act[TIME] <= fc[TIME].max())]
            ax.plot(
                act[TIME],
                act[TARGET],
                color="black",
                ls="--",
                lw=1.2,
                marker="x",
                ms=4,
                label="actual",
            )
        for (label, lo, hi), alpha in zip(
            bands(fc.columns), (0.15, 0.3, 0.45)
        ):  # widest first: a fan
            ax.fill_between(
                fc[TIME], fc[lo], fc[hi], color="tab:blue", alpha=alpha, lw=0, label=label
            )
        ax.plot(fc[TIME], fc["y_pred"], color="tab:blue", lw=1.5, marker=".", label="forecast")
        ax.set_title(uid, fontsize=9, loc="left")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="upper left")
    return fig


def bands(columns):
    """[(label, lo column, hi column)] of a forecast's intervals, widest first:
    ``y_lo<l>``/``y_hi<l>``
    pairs, else symmetric quantile pairs ``y_q<p>``/``y_q<100-p>``
    (``forecast.probabilistic.decoder``)."""
    from forecast.metrics.interval import quantile_columns

    q = quantile_columns([c for c in columns if c != "y_pred"])
    lows = sorted((level, c) for c, level in q.items() if level < 0.5)
    out = []
    for level, lo in lows:
        hi = next((c for c, v in q.items() if abs(v - (1 - level)) < 1e-9), None)
        if hi is not None:
            out.append((f"{100 * (1 - 2 * level):g}% interval", lo, hi))
    return out


def coverage_figure(by_step, title="hold-out"):
    """Empirical coverage of each interval level by horizon step, with its nominal level dashed."""
    from matplotlib.figure import Figure

    cols = [c for c in by_step.columns if str(c).startswith("coverage")]
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.add_subplot()
    for i, col in enumerate(cols):
        nominal = float(col[len("coverage") :])
        ax.plot(
            by_step["step"],
            by_step[col],
            color=f"C{i}",
            marker="o",
            ms=4,
            label=f"{nominal:g}% interval",
        )
        ax.axhline(nominal, color=f"C{i}", ls="--", lw=1, label=f"nominal {nominal:g}%")
    ax.set(
        xlabel="horizon step",
        ylabel="coverage (%)",
        title=f"{title}: interval coverage by horizon",
        ylim=(0, 102),
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------------------- training curves
def curves_figure(histories, title="training curves"):
    """Train loss (solid) and validation loss (dashed, when recorded) against epoch, one colour
    per run.

    ``histories``: {label: History frame [epoch, train_loss, val_loss, ...]}
    (``History.to_frame()``).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.add_subplot()
    colors = [f"C{i}" for i in range(10)]
    for i, (label, frame) in enumerate(histories.items()):
        if frame is None or not len(frame):
            continue
        color = colors[i % len(colors)]
        ax.plot(frame["epoch"], frame["train_loss"], color=color, lw=1.5, label=f"{label} train")
        val = frame["val_loss"].astype(float) if "val_loss" in frame else pd.Series(dtype=float)
        if val.notna().any():
            ax.plot(
                frame["epoch"], val, color=color, lw=1.5, ls="--", marker=".", label=f"{label} val"
            )
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="epoch", ylabel="loss", title=title)
    ax.grid(alpha=0.3)
    if ax.get_lines():
        ax.legend(fontsize=7, ncol=2)
    return fig
