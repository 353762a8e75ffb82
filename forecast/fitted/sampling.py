"""Sample paths from a fitted probabilistic model: ``predict(n_samples=k)``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from forecast.data.frames import ID, TIME
from forecast.data.scaling import inverse_target
from forecast.fitted.inference import run, tail_windows
from forecast.probabilistic.decoder import Decoder


def sample_tail(state, module, tail, x_future=None, n_samples=100, seed=0):
    """``n_samples`` sample paths after each series of ``tail``: long frame [unique_id, ds, sample,
    y_pred].

    The recursive head with a distribution draws each step and feeds the draw back (coherent
    paths); other heads draw each step from its own forecast distribution or quantiles.
    """
    scaled, pos, first_rows, dates = tail_windows(state, tail, x_future)
    decoder, H = Decoder(state), state.horizon
    if decoder.parametric and hasattr(module, "sample_paths"):
        paths = recursive_paths(
            state, module, scaled, pos, first_rows, n_samples, seed
        )  # (S, H, k)
    else:
        paths = decoder.sample(
            run(state, module, scaled, pos, first_rows),
            pos,
            n_samples,
            np.random.default_rng(seed),
        )
    ds = np.concatenate([np.asarray(d) for d in dates])  # (S*H,)
    return pd.DataFrame(
        {
            ID: np.repeat(tail.ids, H * n_samples),
            TIME: np.repeat(ds, n_samples),
            "sample": np.tile(np.arange(n_samples), tail.n_series * H),
            "y_pred": paths.ravel(),
        }
    )


@torch.no_grad()
def recursive_paths(state, module, scaled, pos, first_rows, n_samples, seed):
    """(S, H, k) coherent paths of a recursive distribution network, in the target's scale."""
    family, device = state.family, state.device
    sc = state.target_scaler
    gatherer = state.gatherer(scaled, device)
    rep = np.repeat(np.arange(len(pos)), n_samples)  # each window n_samples times
    batch = gatherer.gather(
        torch.as_tensor(pos[rep], device=device), torch.as_tensor(first_rows[rep], device=device)
    )
    loc = torch.as_tensor(sc.loc_[pos[rep], 0], device=device, dtype=torch.float32)[:, None]
    spread = torch.as_tensor(sc.scale_[pos[rep], 0], device=device, dtype=torch.float32)[:, None]

    def draw(params):  # (B, 1, P) scaled frame -> (B, 1) draws, scaled frame
        return family.draw(params.float(), loc, spread)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        paths = (
            module.eval()
            .sample_paths(batch.x, batch.x_future, batch.static, draw)
            .double()
            .cpu()
            .numpy()
        )
    if family.counts:
        out = paths * sc.scale_[pos[rep], 0][:, None] + sc.loc_[pos[rep], 0][:, None]
    else:
        out = inverse_target(sc.inverse(paths, pos[rep]), state.target_transform)
    return out.reshape(len(pos), n_samples, -1).transpose(0, 2, 1)
