"""From a history frame to the inputs of an exported graph (``RNNForecaster.export_onnx``).

:func:`onnx_inputs` cuts the raw windows the graph reads (values in the user's units) out of a
frame, with the checks and the gap filling ``predict`` and ``predict_at`` apply, so that
``session.run(None, onnx_inputs(model, df, origins))`` gives ``predict_at(df, origins)``'s
columns as (n, horizon) arrays.
"""

from __future__ import annotations

import numpy as np

from forecast.data import frames
from forecast.data.future import future_block
from forecast.fitted import inference


def onnx_inputs(model, df, origins=None, X_future=None):
    """The inputs of ``model``'s exported graph for forecasts from ``df``.

    Parameters
    ----------
    model : a fitted ``RNNForecaster``.
    df : history of fitted series, in any input kind ``predict`` takes.
    origins : DataFrame [unique_id, cutoff]: windows ending at each cutoff, as ``predict_at``
        (``df`` then holds the ``horizon`` rows after each cutoff too); None: one window at the
        end of each series of ``df``, as ``predict(df, X_future)``.
    X_future : long DataFrame [unique_id, ds, *future_covariates] over the horizon (``origins``
        None and a model with future covariates only).

    Returns
    -------
    dict {input name: ndarray} with one row per origin (in ``origins`` order) or per series of
    ``df``; ``metadata["series"][inputs["series"]]`` names each row's series
    (``forecast.export.onnx.read_metadata``).
    """
    state = model.state_
    spec = state.spec
    long, _ = frames.to_long(df, spec.id_col, spec.time_col, spec.target_col)
    if origins is None:
        tail = inference.tail_from_history(state, long)
        x_future = frames.internal_names(X_future, spec)
        block, _ = future_block(tail, state.layout, state.horizon, x_future)
        data = np.concatenate([tail.data, block.reshape(tail.n_series, state.horizon, -1)], 1)
        pos = inference.positions_of(state, tail.ids, "onnx_inputs")
    else:
        if X_future is not None:
            raise ValueError(
                "X_future is read only without origins: with origins, df holds the future "
                "covariates after each cutoff"
            )
        data, pos = _origin_windows(state, long, origins)
    return split(state, data, pos)


def _origin_windows(state, long, origins):
    """(n, L+H, F) unscaled rows of the window and horizon of each origin, series positions."""
    L, H = state.lookback, state.horizon
    panel, long, fitted = inference.history_panel(state, long, "onnx_inputs data", causal=True)
    ids, rows = frames.origin_rows(long, origins, known=panel.ids)
    index = {uid: s for s, uid in enumerate(panel.ids)}
    series = np.array([index[u] for u in ids], dtype=np.int64)
    cut = rows - panel.offsets[series]
    lengths = panel.lengths[series]
    pad = state.short_series != "error"
    bad = ((cut < L - 1) & (not pad)) | (cut + H > lengths - 1)
    if bad.any():
        i = int(np.argmax(bad))
        need = f"{H} points after the cutoff" if pad else f"{L} points up to it and {H} after it"
        raise ValueError(
            f"origins: ({ids[i]!r}, {origins['cutoff'].iloc[i]}) needs {need}; the series has "
            f"{cut[i] + 1} up to it and {lengths[i] - cut[i] - 1} after it"
        )
    steps = np.maximum(cut[:, None] - L + 1 + np.arange(L + H), 0)  # left-padded: first row
    return panel.data[panel.offsets[series, None] + steps], fitted[series]


def split(state, data, pos):
    """The graph's inputs from (n, L+H, F) unscaled rows [y, past, future, calendar] of each
    window and its horizon, and the fitted series positions (n,)."""
    L, layout = state.lookback, state.layout
    P, K, C = len(layout.past), len(layout.future), layout.n_calendar
    data = np.asarray(data, dtype=np.float64)
    out = {"y": np.ascontiguousarray(data[:, :L, 0]), "series": np.asarray(pos, dtype=np.int64)}
    if P:
        out["past_covariates"] = np.ascontiguousarray(data[:, :L, 1 : 1 + P])
    if K:
        out["future_covariates"] = np.ascontiguousarray(data[:, :, 1 + P : 1 + P + K])
    if C:
        out["calendar"] = np.ascontiguousarray(data[:, :, 1 + P + K :])
    return out
