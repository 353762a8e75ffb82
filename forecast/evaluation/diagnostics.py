"""Diagnostics of fitted recurrent forecasters: how far back does the gradient reach?

:func:`gradient_through_time` measures, for every lookback step ``t``, the norm of
``d loss / d x_t`` — the gradient with respect to the *input* at step ``t``, taken by marking
the input window ``requires_grad``. It is a proxy for ``d loss / d h_t`` (the fused cuDNN-style
recurrent modules do not expose their hidden states): for an Elman RNN,
``d loss / d x_t = W_ih^T diag(1 - h_t^2) d loss / d h_t``, so the curve has the same fall-off
toward early steps as the hidden-state gradient, up to the input weights. A tanh RNN's curve
drops steeply toward the start of the window (vanishing gradients); an LSTM's much less.
"""

from __future__ import annotations

import numpy as np
import torch

from forecast.data import frames
from forecast.data.windows import WindowIndex
from forecast.fitted import inference


def gradient_through_time(estimator, df=None, n_windows=256):
    """Norm of the gradient of the loss with respect to each lookback step's input.

    Parameters
    ----------
    estimator : fitted RNNForecaster (any head).
    df : long DataFrame of known series, with at least ``lookback + horizon`` points each: up to
        ``n_windows`` windows are drawn from it (seeded by ``estimator.seed``) and the loss is
        the mean squared error of the scaled forecast. None: the stored last lookback of each
        training series, with the forecast's sum as the objective (no targets exist there; not
        available with future covariates, whose future values are unknown).
    n_windows : most windows in the batch.

    Returns
    -------
    ndarray (lookback,): entry ``t`` is the L2 norm over windows and features of ``d loss / d x_t``;
    the last entry is the step just before the forecast origin.
    """
    return input_gradients(estimator.state_, estimator.module_, df, n_windows, estimator.seed)


def input_gradients(state, module, df=None, n_windows=256, seed=0):
    """:func:`gradient_through_time` of a fitted state and network; ``seed`` draws the windows."""
    x, x_future, static, y, series = _windows(state, df, n_windows, seed)
    x = x.clone().requires_grad_(True)
    was_training = module.training
    # no dropout; cuDNN's RNN backward needs training mode, so it is switched off instead
    module.eval()
    try:
        with torch.backends.cudnn.flags(enabled=False):
            pred = module.output.point(
                module(x, x_future, static, series=series)
            ).float()  # (B, H): the median
            objective = pred.sum() if y is None else torch.nn.functional.mse_loss(pred, y)
            (grad,) = torch.autograd.grad(objective, x)  # (B, L, F)
    finally:
        module.train(was_training)
    return torch.linalg.vector_norm(grad.float(), dim=(0, 2)).cpu().numpy().astype(np.float64)


def _windows(state, df, n_windows, seed):
    device = state.device
    static = torch.as_tensor(state.scaled_static(), dtype=torch.float32, device=device)
    if df is None:
        if state.layout.future:
            raise ValueError(
                "gradient_through_time(df=None) cannot supply future covariates: pass df"
            )
        tail = state.tail
        pos = inference.positions_of(state, tail.ids, "gradient_through_time")
        rows = tail.data.reshape(-1, tail.data.shape[-1])
        x = state.scale(rows, np.repeat(pos, state.lookback)).reshape(tail.data.shape)[:n_windows]
        x = torch.as_tensor(x, dtype=torch.float32, device=device)
        x_future = x.new_zeros(
            len(x), state.horizon, state.layout.n_future
        )  # calendar unused without future dates
        fitted = torch.as_tensor(pos[:n_windows], device=device)
        return x, x_future, static[fitted], None, fitted
    long, _ = frames.to_long(df, state.spec.id_col, state.spec.time_col, state.spec.target_col)
    panel, _, pos = inference.history_panel(state, long, "gradient_through_time data")
    span = state.lookback + state.horizon
    index = WindowIndex(
        panel.offsets, np.zeros(panel.n_series, dtype=np.int64), panel.lengths - span, device=device
    )
    if index.n_windows == 0:
        raise ValueError(
            f"gradient_through_time: every series is shorter than lookback + horizon = {span}"
        )
    scaled = state.scale(panel.data, np.repeat(pos, panel.lengths))
    gatherer = state.gatherer(scaled, device)
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(index.n_windows, generator=g)[:n_windows].to(device)
    series, first = index.locate(pick)
    batch = gatherer.gather(torch.as_tensor(pos, device=device)[series], first)
    return batch.x, batch.x_future, batch.static, batch.y, batch.series


def plot_gradient_through_time(arrays, path, title="Gradient norm through time"):
    """Plot several :func:`gradient_through_time` curves (``{label: (L,) array}``) on a log scale
    to ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "plot_gradient_through_time needs matplotlib, which is in the 'pipelines' extra: "
            "pip install matplotlib (or the project's [pipelines] extra)"
        ) from None
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, g in arrays.items():
        g = np.asarray(g, dtype=np.float64)
        ax.semilogy(
            np.arange(-len(g), 0) + 1, g / g[-1], label=label
        )  # normalised to the last step
    ax.set_xlabel("lookback step (0 = the forecast origin)")
    ax.set_ylabel("|d loss / d x_t|, relative to the last step")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
