"""Forecasting from a fitted state and network: from a history tail, or from many origins at once.

Both paths build the same (rows, features) matrix the training windows came from and gather
windows out of it on the device, so a forecast from new history, a forecast after save/load and
a batched backtest over hundreds of origins run the very same code as training.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch

from forecast.data import frames
from forecast.data.frames import ID, TARGET, TIME
from forecast.data.frequencies import is_integer_freq
from forecast.data.panel import Layout, build_panel, future_block, left_pad
from forecast.fitted.known import known_panel
from forecast.fitted.state import Tail
from forecast.probabilistic.decoder import Decoder

CHUNK = 8192  # windows per forward pass at inference
_THREADS_LOCK = threading.Lock()
SMALL = 64  # fewer windows than this run on one CPU thread (see _cpu_threads)


def positions_of(state, ids, where):
    """Fitted series position of each id; unknown ids are an error naming them."""
    found = _sorted_positions(state.ids, ids)
    if found is not None:
        return found
    unknown = state.mismatch(dict.fromkeys(ids)).unknown
    if unknown:
        id_name = state.spec.id_col if state.spec.kind == "long" else "series"
        raise ValueError(
            f"{where}: unknown {id_name}(s) {unknown[:5]} (the model was fitted on "
            f"{len(state.ids)} series, e.g. {list(state.ids[:3])})"
        )
    index = {uid: i for i, uid in enumerate(state.ids)}
    return np.array([index[uid] for uid in ids], dtype=np.int64)


def _sorted_positions(fitted, ids):
    """Positions of ``ids`` in ``fitted`` by bisection (a fit leaves its ids sorted), each checked
    to be the id itself: O(len(ids) log S), instead of an index of all S fitted ids per request.
    None when one is not found so (unknown, or ids not sorted): :func:`positions_of` decides."""
    ids = np.asarray(ids, dtype=object)
    try:
        pos = np.searchsorted(fitted, ids)
        if len(fitted) and (pos < len(fitted)).all() and (fitted[pos] == ids).all():
            return pos.astype(np.int64)
    except TypeError:  # ids that do not compare with the fitted ones
        pass
    return None


def history_panel(state, long, where, causal=False):
    """Validate new history of known series and stack it (static covariates come from fit).

    ``causal``: the frame runs past forecast origins (``predict_at``), so gaps in the target are
    filled forward only: ``fill="interpolate"`` would fill a gap before an origin from values
    after it.
    """
    layout = state.layout
    fill = frames.causal_fill(state.fill) if causal else state.fill
    long, freqs = frames.validate(
        long,
        [*layout.past, *layout.future],
        fill,
        where=where,
        names=state.spec.names,
        freqs=state.freqs,  # a short run of points is read at the model's frequency
    )
    other = state.mismatch(freqs).frequencies
    if other:
        uid, freq, fitted = other[0]
        raise ValueError(
            f"{where}: series {uid!r} has frequency {_freq_name(freq)} but the model was fitted at "
            f"{_freq_name(fitted)}"
        )
    panel = build_panel(
        long, freqs, Layout(layout.past, layout.future, (), layout.calendar, layout.n_calendar)
    )
    return panel, long, positions_of(state, panel.ids, where)


def _freq_name(freq):
    return "integer time steps" if is_integer_freq(freq) else repr(freq)


def tail_from_history(state, long):
    """The input windows of new history; a series shorter than ``lookback`` is left-padded with
    its first value unless ``short_series="error"``.

    A small, plainly valid history of known series takes the fast path
    (``forecast.fitted.known``: the same panel, checked instead of inferred); anything else the
    general one, which accepts or refuses it with its own messages.
    """
    panel = known_panel(long, state.freqs, state.layout)
    if panel is None:
        panel, _, _ = history_panel(state, long, "predict data")
    short = np.flatnonzero(panel.lengths < state.lookback)
    if len(short) and state.short_series == "error":
        s = short[0]
        raise ValueError(
            f"predict data: series {panel.ids[s]!r} has {panel.lengths[s]} points, "
            f"fewer than lookback={state.lookback}"
        )
    return Tail.from_panel(panel, state.lookback)


def forecast_tail(state, module, tail, x_future=None, level=None):
    """Forecast ``horizon`` steps after each series of ``tail``: long frame [unique_id, ds, y_pred,
    <quantile and interval columns, forecast.probabilistic.decoder>]."""
    scaled, pos, first_rows, dates = tail_windows(state, tail, x_future)
    cols = Decoder(state).decode(
        run(state, module, scaled, pos, first_rows), pos, level
    )  # each (S, H)
    return pd.DataFrame(
        {
            ID: np.repeat(tail.ids, state.horizon),
            TIME: np.concatenate([np.asarray(d) for d in dates]),
            **{name: v.ravel() for name, v in cols.items()},
        }
    )


def tail_windows(state, tail, x_future):
    """The scaled (rows, features) matrix of ``tail`` + the horizon, each series' position, first
    rows, dates.
    """
    L, H = state.lookback, state.horizon
    pos = positions_of(state, tail.ids, "predict")
    block, dates = future_block(tail, state.layout, H, x_future)
    block[:, 0] = (
        np.nan
    )  # the unknown targets: never read, and never mistaken for a value (log of 0)
    data = np.concatenate([tail.data, block.reshape(tail.n_series, H, -1)], axis=1)  # (S, L+H, F)
    data = data.reshape(tail.n_series * (L + H), -1)
    scaled = state.scale(data, np.repeat(pos, L + H))
    return scaled, pos, np.arange(tail.n_series) * (L + H), dates


def forecast_origins(state, module, long, origins, level=None):
    """Forecast from every (unique_id, cutoff) of ``origins`` in batched forward passes.

    An origin with fewer than ``lookback`` points up to its cutoff is forecast from an input
    window left-padded with the series' first value (``short_series="error"`` refuses it).
    """
    L, H = state.lookback, state.horizon
    panel, long, pos = history_panel(state, long, "backtest data", causal=True)
    series, cut_pos = _origin_rows(panel, long, origins, L, H, pad=state.short_series != "error")
    pads = np.zeros(panel.n_series, dtype=np.int64)
    np.maximum.at(pads, series, L - 1 - cut_pos)  # rows missing before each series' earliest window
    rows, offsets, _ = left_pad(panel.offsets, pads)
    scaled = state.scale(panel.data, np.repeat(pos, panel.lengths))[rows]
    out = run(state, module, scaled, pos[series], offsets[series] + pads[series] + cut_pos - L + 1)
    cols = Decoder(state).decode(out, pos[series], level)
    cut_rows = panel.offsets[series] + cut_pos  # rows of the unpadded frame
    ds = long[TIME].to_numpy()
    return pd.DataFrame(
        {
            ID: np.repeat(panel.ids[series], H),
            "cutoff": np.repeat(ds[cut_rows], H),
            TIME: ds[cut_rows[:, None] + 1 + np.arange(H)].ravel(),
            **{name: v.ravel() for name, v in cols.items()},
        }
    )


def _origin_rows(panel, long, origins, L, H, pad=False):
    series, rows = _find_origins(panel, long, origins)
    ids = panel.ids[series]
    cut_pos = rows - panel.offsets[series]
    lengths = panel.lengths[series]
    bad = ((cut_pos < L - 1) & (not pad)) | (cut_pos + H > lengths - 1)
    if bad.any():
        i = int(np.argmax(bad))
        need = (
            f"{H} points after the cutoff"
            if pad
            else f"{L} points up to the cutoff and {H} after it"
        )
        raise ValueError(
            f"origin ({ids[i]!r}, {origins['cutoff'].iloc[i]}) needs {need}; the series has "
            f"{cut_pos[i] + 1} up to it and {lengths[i] - cut_pos[i] - 1} after it"
        )
    return series, cut_pos


def _find_origins(panel, long, origins):
    """(series (n,), row of ``long`` (n,)) of every origin [unique_id, cutoff].

    Each cutoff is found by bisection within its own series' rows (``long`` is validated: sorted,
    strictly increasing ``ds`` per series), O(origins x log length), so no index of every row's
    (id, ds) is built (a (N,) array of Python strings and a hash table of N keys: most of
    ``predict_at``'s time and memory on large panels). Anything a fault, or an origin that is
    not found, is handed to :func:`forecast.data.frames.origin_rows`, whose errors name it.
    """
    index = {uid: s for s, uid in enumerate(panel.ids)}
    plain = (
        isinstance(origins, pd.DataFrame)
        and {ID, "cutoff"} <= set(origins.columns)
        and len(origins) > 0
    )
    series = np.array(
        [index.get(u, -1) for u in origins[ID].astype(str)] if plain else [-1], dtype=np.int64
    )
    if (series >= 0).all():
        t = _ticks(frames.times_like(origins["cutoff"], long[TIME], "origins", "cutoff"))
        ticks, ends = _ticks(long[TIME]), panel.offsets[series + 1]
        lo, hi = panel.offsets[series].copy(), ends.copy()
        while (lo < hi).any():  # the first row of each series with ds >= its cutoff
            mid = (lo + hi) // 2
            less = ticks[np.minimum(mid, len(ticks) - 1)] < t
            lo, hi = np.where((lo < hi) & less, mid + 1, lo), np.where(less, hi, mid)
        if ((lo < ends) & (ticks[np.minimum(lo, len(ticks) - 1)] == t)).all():
            return series, lo
    ids, rows = frames.origin_rows(long, origins, known=panel.ids)  # raises, naming the fault
    return np.array([index[u] for u in ids], dtype=np.int64), rows


def _ticks(times):
    """int64 steps, or the instants of (naive or zoned) timestamps, of a time Series."""
    return times.to_numpy() if times.dtype == np.int64 else np.asarray(times.array.asi8)


def run(state, module, scaled, fitted_pos, first_rows):
    """Network forward over windows of ``scaled`` from ``first_rows``: scaled-frame outputs."""
    gatherer = state.gatherer(scaled)
    return run_windows(module, gatherer, fitted_pos, first_rows, state.device)


@torch.inference_mode()  # no autograd bookkeeping at all (no_grad still versions tensors)
def run_windows(module, gatherer, fitted_pos, first_rows, device):
    """Forward over the windows of ``gatherer`` starting at ``first_rows`` (chunked): the network's
    outputs in the scaled frame, float64 (n, H) for a point model, (n, H, C) otherwise."""
    module = module.eval()
    fitted = torch.as_tensor(fitted_pos, device=device)
    rows = torch.as_tensor(first_rows, device=device)
    out = []
    with _cpu_threads(1 if device.type == "cpu" and len(rows) < SMALL else None):
        for i in range(0, len(rows), CHUNK):
            batch = gatherer.gather(fitted[i : i + CHUNK], rows[i : i + CHUNK])
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                out.append(
                    module(batch.x, batch.x_future, batch.static, series=batch.series).float()
                )
    return torch.cat(out).cpu().numpy().astype(np.float64)  # (n, H) or (n, H, C), scaled


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
    """Any fitted estimator with ``predict_at``: negative MAE of forecasts from the origin
    ``horizon`` steps before each series' end.
    """
    long = frames.sorted_long(
        frames.to_long(df, est.spec_.id_col, est.spec_.time_col, est.spec_.target_col)[0]
    )
    last = long.groupby(ID, sort=False)[TIME].nth(-est.horizon - 1)
    origins = pd.DataFrame({ID: long.loc[last.index, ID].to_numpy(), "cutoff": last.to_numpy()})
    spec = est.spec_  # predict_at reads the user's column names
    fc = est.predict_at(
        long.rename(columns={ID: spec.id_col, TIME: spec.time_col, TARGET: spec.target_col}),
        origins,
    )
    actual = fc.merge(long[[ID, TIME, TARGET]], on=[ID, TIME], how="left")
    return -float(np.mean(np.abs(actual[TARGET] - actual["y_pred"])))
