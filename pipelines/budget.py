"""The size of a training job: how many fits it makes, the time each fit gets, a warning when it is large."""
from __future__ import annotations

from forecast import frames

from .environment import run_logger


def n_fits(n_candidates, n_windows):
    """Fits of a train flow run: every candidate at every selection window, the hold-out and the final fit."""
    return n_candidates * n_windows + 2


def time_per_fit(max_time, n_fits):
    """Seconds of training each fit gets when ``max_time`` is split evenly over ``n_fits`` fits
    (candidates x selection windows + hold-out + final fit); None when there is no budget."""
    return None if max_time is None else max(float(max_time) / max(int(n_fits), 1), 1e-3)


SLOW_WINDOWS = 5_000_000  # windows passed through training (steps x batch) above which train warns
# (the main job on AirPassengers: ~580,000; 400 hourly series with the defaults: ~9 million)


def warn_if_slow(df, lookback, horizon, batch_size, max_epochs, n_candidates, n_windows):
    """Log a warning with the number of gradient steps when the training work (steps x batch) is large; return it.

    Steps = ceil(windows per epoch / batch_size) x max_epochs x fits, with fits = candidates x
    selection windows + hold-out + final fit (an upper bound: early stopping or --max-time may end
    fits sooner). None for batch_size / max_epochs: what the estimator resolves them to.
    """
    from forecast.training import plan

    sizes = df.groupby(frames.ID, sort=False).size()
    windows = int((sizes - (lookback or 2 * horizon) - horizon + 1).clip(lower=1).sum())
    batch_size, per_epoch, max_epochs = plan(windows, batch_size, None, max_epochs)  # as each candidate will
    fits = n_fits(n_candidates, n_windows)
    steps = -(-min(windows, per_epoch) // batch_size) * max_epochs * fits
    if steps * batch_size > SLOW_WINDOWS:
        run_logger().warning(
            "large training job: about %s gradient steps (%s windows / batch %d x %d epochs x %d fits = "
            "%d candidates x %d selection windows + hold-out + final fit); this can take hours on a CPU. "
            "Bound it with --max-time SECONDS (split over the fits), or reduce it with a larger --batch-size, "
            "fewer --max-epochs or fewer candidates (--cells, --directions, --hidden-sizes).",
            f"{steps:,}", f"{windows:,}", batch_size, max_epochs, fits, n_candidates, n_windows)
    return steps
