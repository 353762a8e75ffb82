"""Forecasting with a fitted RNNForecaster: from a history tail, or from many origins at once.

Both paths build the same (rows, features) matrix the training windows came from and gather
windows out of it on the device, so a forecast from new history, a forecast after save/load and
a batched backtest over hundreds of origins run the very same code as training.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from . import frames
from .frames import ID, TARGET, TIME
from .frequencies import is_integer_freq, same_frequency
from .panel import Layout, build_panel, future_block, left_pad
from .scaling import inverse_target, transform_target
from .windows import Gatherer

CHUNK = 8192  # windows per forward pass at inference
_THREADS_LOCK = threading.Lock()
SMALL = 64  # fewer windows than this run on one CPU thread (see _cpu_threads)


@dataclass
class Tail:
    """The last ``lookback`` rows of each series: all a forecast from the end needs."""

    ids: np.ndarray  # (S,)
    data: np.ndarray  # (S, L, F) unscaled
    last_ds: list
    freqs: list

    @property
    def n_series(self):
        return len(self.ids)

    @classmethod
    def from_panel(cls, panel, lookback):
        """The last ``lookback`` rows of each series; a shorter series is left-padded with its first row."""
        rows = panel.offsets[1:, None] - lookback + np.arange(lookback)  # (S, L)
        rows = np.maximum(rows, panel.offsets[:-1, None])  # edge padding, as left_pad does in training
        return cls(panel.ids, panel.data[rows], list(panel.last_ds), list(panel.freqs))


def scale(est, data, positions, chunk=1 << 20):
    """Scale stacked rows (N, F) of the fitted series ``positions`` (N,): target, then covariates.

    Returns float32 (N, F), the dtype the :class:`Gatherer` holds. Each chunk of rows is scaled in
    float64 and cast once, so the values equal a float64 pass cast afterwards, without the two
    full-size float64 temporaries (on 10^7-row panels they were the peak of ``fit``).
    """
    data = np.asarray(data)
    out = np.empty(data.shape, dtype=np.float32)
    n_cov = 1 + len(est.layout_.past) + len(est.layout_.future)
    for a in range(0, len(data), chunk):
        part = np.array(data[a : a + chunk], dtype=np.float64, copy=True)
        pos = positions[a : a + chunk]
        part[:, 0] = transform_target(part[:, 0], est.target_transform_, est.ids_[pos])
        part[:, :1] = est.target_scaler_.transform(part[:, :1], pos)
        if n_cov > 1:
            part[:, 1:n_cov] = est.cov_scaler_.transform(part[:, 1:n_cov], pos)
        out[a : a + chunk] = part
    return out


def positions_of(est, ids, where):
    """Fitted series position of each id; unknown ids are an error naming them."""
    index = {uid: i for i, uid in enumerate(est.ids_)}
    unknown = [uid for uid in ids if uid not in index]
    if unknown:
        id_name = est.spec_.id_col if est.spec_.kind == "long" else "series"
        raise ValueError(f"{where}: unknown {id_name}(s) {unknown[:5]} (the model was fitted on "
                         f"{len(index)} series, e.g. {list(est.ids_[:3])})")
    return np.array([index[uid] for uid in ids], dtype=np.int64)


def history_panel(est, long, where, causal=False):
    """Validate new history of known series and stack it (static covariates come from fit).

    ``causal``: the frame runs past forecast origins (``predict_at``), so gaps in the target are
    filled forward only: ``fill="interpolate"`` would fill a gap before an origin from values after it.
    """
    layout = est.layout_
    fill = frames.causal_fill(est.fill) if causal else est.fill
    long, freqs = frames.validate(long, [*layout.past, *layout.future], fill, where=where, names=est.spec_.names)
    for uid, freq in freqs.items():
        fitted = est.freqs_.get(uid)
        if fitted is not None and not same_frequency(fitted, freq):
            raise ValueError(f"{where}: series {uid!r} has frequency {_freq_name(freq)} but the model was fitted at "
                             f"{_freq_name(fitted)}")
    panel = build_panel(long, freqs, Layout(layout.past, layout.future, (), layout.calendar, layout.n_calendar))
    return panel, long, positions_of(est, panel.ids, where)


def _freq_name(freq):
    return "integer time steps" if is_integer_freq(freq) else repr(freq)


def tail_from_history(est, long):
    """The input windows of new history; a series shorter than ``lookback_`` is left-padded with
    its first value unless ``short_series="error"``."""
    panel, _, _ = history_panel(est, long, "predict data")
    short = np.flatnonzero(panel.lengths < est.lookback_)
    if len(short) and est.short_series == "error":
        s = short[0]
        raise ValueError(f"predict data: series {panel.ids[s]!r} has {panel.lengths[s]} points, "
                         f"fewer than lookback={est.lookback_}")
    return Tail.from_panel(panel, est.lookback_)


def forecast_tail(est, tail, x_future=None):
    """Forecast ``horizon`` steps after each series of ``tail``: long frame [unique_id, ds, y_pred]."""
    L, H = est.lookback_, est.horizon
    pos = positions_of(est, tail.ids, "predict")
    block, dates = future_block(tail, est.layout_, H, x_future)
    block[:, 0] = np.nan  # the unknown targets: never read, and never mistaken for a value (log of 0)
    data = np.concatenate([tail.data, block.reshape(tail.n_series, H, -1)], axis=1)  # (S, L+H, F)
    data = data.reshape(tail.n_series * (L + H), -1)
    scaled = scale(est, data, np.repeat(pos, L + H))
    first_rows = np.arange(tail.n_series) * (L + H)
    pred = _run(est, scaled, pos, first_rows)  # (S, H)
    return pd.DataFrame({ID: np.repeat(tail.ids, H), TIME: np.concatenate([np.asarray(d) for d in dates]),
                         "y_pred": pred.ravel()})


def forecast_origins(est, long, origins):
    """Forecast from every (unique_id, cutoff) of ``origins`` in batched forward passes.

    An origin with fewer than ``lookback_`` points up to its cutoff is forecast from an input
    window left-padded with the series' first value (``short_series="error"`` refuses it).
    """
    L, H = est.lookback_, est.horizon
    panel, long, pos = history_panel(est, long, "backtest data", causal=True)
    series, cut_pos = _origin_rows(panel, long, origins, L, H, pad=est.short_series != "error")
    pads = np.zeros(panel.n_series, dtype=np.int64)
    np.maximum.at(pads, series, L - 1 - cut_pos)  # rows missing before each series' earliest window
    rows, offsets, _ = left_pad(panel.offsets, pads)
    scaled = scale(est, panel.data, np.repeat(pos, panel.lengths))[rows]
    pred = _run(est, scaled, pos[series], offsets[series] + pads[series] + cut_pos - L + 1)
    cut_rows = panel.offsets[series] + cut_pos  # rows of the unpadded frame
    ds = long[TIME].to_numpy()
    return pd.DataFrame({ID: np.repeat(panel.ids[series], H), "cutoff": np.repeat(ds[cut_rows], H),
                         TIME: ds[cut_rows[:, None] + 1 + np.arange(H)].ravel(), "y_pred": pred.ravel()})


def _origin_rows(panel, long, origins, L, H, pad=False):
    ids, rows = frames.origin_rows(long, origins, known=panel.ids)
    index = {uid: s for s, uid in enumerate(panel.ids)}
    series = np.array([index[u] for u in ids], dtype=np.int64)
    cut_pos = rows - panel.offsets[series]
    lengths = panel.lengths[series]
    bad = ((cut_pos < L - 1) & (not pad)) | (cut_pos + H > lengths - 1)
    if bad.any():
        i = int(np.argmax(bad))
        need = f"{H} points after the cutoff" if pad else f"{L} points up to the cutoff and {H} after it"
        raise ValueError(f"origin ({ids[i]!r}, {origins['cutoff'].iloc[i]}) needs {need}; the series has "
                         f"{cut_pos[i] + 1} up to it and {lengths[i] - cut_pos[i] - 1} after it")
    return series, cut_pos


@torch.no_grad()
def _run(est, scaled, fitted_pos, first_rows):
    """Network forward over windows starting at ``first_rows`` (chunked); returns unscaled (n, H)."""
    static = est.static_scaler_.transform(est.static_)
    gatherer = Gatherer(scaled, static, est.lookback_, est.horizon, est.layout_.future_slice, est.device_)
    module = est.module_.eval()
    fitted = torch.as_tensor(fitted_pos, device=est.device_)
    rows = torch.as_tensor(first_rows, device=est.device_)
    out = []
    with _cpu_threads(1 if est.device_.type == "cpu" and len(rows) < SMALL else None):
        for i in range(0, len(rows), CHUNK):
            batch = gatherer.gather(fitted[i : i + CHUNK], rows[i : i + CHUNK])
            with torch.autocast(est.device_.type, dtype=torch.bfloat16, enabled=est.device_.type == "cuda"):
                out.append(module(batch.x, batch.x_future, batch.static, series=batch.series).float())
    pred = torch.cat(out).cpu().numpy().astype(np.float64)  # (n, H) scaled
    return inverse_target(est.target_scaler_.inverse(pred, fitted_pos), est.target_transform_)


@contextmanager
def _cpu_threads(n):
    """Run the block on ``n`` intra-op threads (None: unchanged), then restore the setting.

    A forecast for a handful of series is a batch of a few rows stepped 100+ times: each step is
    too small to split, and the thread hand-off costs more than the work (a single-series
    predict ran 3x faster on one thread on an idle 2-core machine, 100x+ on a busy one).
    """
    if n is None or n >= torch.get_num_threads():
        yield
        return
    # The setting is process-wide: one narrowed block at a time, so concurrent forecasts in
    # threads (Prefect's thread runner) always restore the true previous value.
    with _THREADS_LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(before)


def holdout_score(est, df):
    """Any fitted estimator with ``predict_at``: negative MAE of forecasts from the origin ``horizon`` steps before each series' end."""
    long = frames.sorted_long(frames.to_long(df, est.spec_.id_col, est.spec_.time_col, est.spec_.target_col)[0])
    last = long.groupby(ID, sort=False)[TIME].nth(-est.horizon - 1)
    origins = pd.DataFrame({ID: long.loc[last.index, ID].to_numpy(), "cutoff": last.to_numpy()})
    spec = est.spec_  # predict_at reads the user's column names
    fc = est.predict_at(long.rename(columns={ID: spec.id_col, TIME: spec.time_col, TARGET: spec.target_col}), origins)
    actual = fc.merge(long[[ID, TIME, TARGET]], on=[ID, TIME], how="left")
    return -float(np.mean(np.abs(actual[TARGET] - actual["y_pred"])))
