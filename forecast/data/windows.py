"""Windows as (series, start) indices into one device tensor, gathered batch by batch.

No window is ever materialised as a Python object or a copied array: the index of window ``k``
is computed from per-series window counts (``searchsorted`` on their cumulative sum), and a
batch is one advanced-indexing gather on the training device. Memory grows with the number of
points, not with windows x lookback.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Batch:
    x: torch.Tensor  # (B, L, F) encoder input: y, past, future-known, calendar over the lookback
    x_future: torch.Tensor  # (B, H, K) future-known + calendar features over the horizon
    static: torch.Tensor  # (B, S)
    y: torch.Tensor  # (B, H) scaled target over the horizon
    series: torch.Tensor  # (B,) series position
    mask: torch.Tensor | None = (
        None  # (B, L+H) 1.0 observed row, 0.0 left padding; None: the panel has no padding
    )


class WindowIndex:
    """All windows of length ``lookback + horizon`` whose start lies in ``[lo[s], hi[s]]``, every
    ``stride`` steps counted back from ``hi[s]`` (so the most recent window is always included).

    Parameters
    ----------
    offsets : (S+1,) row offsets of each series in the stacked data.
    lo, hi : (S,) first and last admissible window start, relative to the series (hi < lo: none).
    """

    def __init__(self, offsets, lo, hi, stride=1, device="cpu"):
        lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
        lo = np.where(
            hi >= lo, lo + (hi - lo) % stride, lo
        )  # anchor strides at the end: keep the latest window
        counts = np.where(hi >= lo, (hi - lo) // stride + 1, 0)
        self.n_windows = int(counts.sum())
        self.counts = counts
        self.stride = stride
        self._cum = torch.as_tensor(np.cumsum(counts), device=device)
        self._base = torch.as_tensor(np.asarray(offsets[:-1]) + lo, device=device)
        self._lo = torch.as_tensor(lo, device=device)

    def locate(self, k):
        """Window numbers k (B,) -> (series (B,), global row of the window's first step (B,))."""
        series = torch.searchsorted(self._cum, k, right=True)
        before = torch.where(series > 0, self._cum[series - 1], torch.zeros_like(k))
        return series, self._base[series] + (k - before) * self.stride


def split_index(lengths, offsets, lookback, horizon, val_size, stride=1, device="cpu"):
    """Train and validation windows: validation targets are the last ``val_size`` points of each
    series.

    Training windows end before the validation part begins (their targets never overlap it);
    validation windows are every window whose target lies in that last part (time-ordered,
    never shuffled).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    span = lookback + horizon
    train_hi = lengths - val_size - span
    train = WindowIndex(offsets, np.zeros_like(lengths), train_hi, stride, device)
    val_lo = np.maximum(lengths - val_size - lookback, 0)
    val = WindowIndex(offsets, val_lo, lengths - span if val_size > 0 else val_lo - 1, 1, device)
    return train, val


class Gatherer:
    """Holds the scaled panel on the device and cuts batches out of it.

    ``observed`` : optional (N,) flags of a left-padded panel (``forecast.data.panel.left_pad``),
    1.0 for
    an observed row and 0.0 for padding; batches then carry them as ``Batch.mask``.
    """

    def __init__(self, data, static, lookback, horizon, future_slice, device="cpu", observed=None):
        self.data = torch.as_tensor(np.asarray(data, dtype=np.float32), device=device)  # (N, F)
        self.observed = (
            None
            if observed is None
            else torch.as_tensor(np.asarray(observed, dtype=np.float32), device=device)
        )  # (N,)
        self.static = torch.as_tensor(np.asarray(static, dtype=np.float32), device=device)  # (S, Q)
        self.lookback, self.horizon = lookback, horizon
        self.future_slice = future_slice
        self._steps = torch.arange(lookback + horizon, device=device)

    def gather(self, series, first_row):
        """series, first_row: (B,) tensors -> :class:`Batch`."""
        rows = first_row[:, None] + self._steps  # (B, L+H)
        win = self.data[rows]  # (B, L+H, F)
        L = self.lookback
        return Batch(
            x=win[:, :L],
            x_future=win[:, L:, self.future_slice],
            static=self.static[series],
            y=win[:, L:, 0],
            series=series,
            mask=None if self.observed is None else self.observed[rows],  # (B, L+H)
        )

    def batches(self, index, batch_size, generator=None, shuffle=True, limit=None):
        """Yield batches of ``index``'s windows: a random permutation (or the first ``limit`` of
        one, :func:`epoch_order`)."""
        order = epoch_order(index.n_windows, generator, shuffle, limit, self.data.device)
        for i in range(0, len(order), batch_size):
            yield self.gather(*index.locate(order[i : i + batch_size].long()))


SAMPLE_FROM = 1 << 22  # windows in the index from which an epoch's share may be drawn directly
SAMPLE_SHARE = 64  # ... when the epoch takes at most 1 / SAMPLE_SHARE of them


def epoch_order(n, generator=None, shuffle=True, limit=None, device="cpu"):
    """The window numbers (0..n-1) one epoch visits: a random permutation of all ``n`` (its first
    ``limit`` when given), or all in order (``shuffle=False``).

    When the epoch takes a small share of a large index (``n >= SAMPLE_FROM`` and ``limit <= n /
    SAMPLE_SHARE``) it draws ``limit`` distinct windows directly instead: uniform without
    replacement, in random order, in O(limit) time and memory. A permutation of all windows
    every epoch made an epoch's time and memory grow with the panel while its work did not
    (57 M windows of an M5-sized panel for 12,800 windows used). Smaller fits keep the
    permutation, draw for draw.
    """
    # int32 holds half the bytes of int64 (a 10^7-window epoch) and draws the very same
    # permutation.
    small = torch.int32 if n < 2**31 else torch.int64
    if not shuffle:
        order = torch.arange(n, device=device, dtype=small)
    elif limit is not None and n >= SAMPLE_FROM and limit * SAMPLE_SHARE <= n:
        return _distinct(n, limit, generator).to(device=device, dtype=small)
    else:
        order = torch.randperm(n, generator=generator, dtype=small).to(device)
    return order[:limit] if limit is not None and limit < n else order


def _distinct(n, k, generator):
    """``k`` distinct draws from 0..n-1 (k << n), in the order first drawn: rejection of repeats,
    a handful of which occur per draw of k (about k^2 / 2n)."""
    picked = np.empty(0, dtype=np.int64)
    while len(picked) < k:
        more = torch.randint(n, (k - len(picked) + 16,), generator=generator).numpy()
        both = np.concatenate([picked, more])
        _, first = np.unique(both, return_index=True)
        picked = both[np.sort(first)]
    return torch.from_numpy(picked[:k])
