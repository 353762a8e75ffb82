"""Stopping a fit on SIGINT/SIGTERM: a process-wide flag the training loop reads at every step.

A signal reaches only the main thread, while fits may run in worker threads (model selection,
Prefect's thread task runner). So the handler sets :data:`STOP` and the training loop of every
thread checks it (a plain attribute read) before each optimizer step, raising :class:`Interrupted`
there. The main thread gets :class:`Interrupted` from the handler itself.

:class:`Interrupted` is a ``KeyboardInterrupt``: ``except Exception`` does not swallow it (a
broken candidate is reported and skipped, a stopped one is not), and orchestrators treat it as an
interrupt (Prefect: a crashed run; the MLflow adapter: a KILLED run). Leaving the outermost
:func:`on_signals`, a SIGTERM's becomes ``SystemExit(143)`` and a SIGINT's a plain
``KeyboardInterrupt``, so an uncaught one ends the script with the status a scheduler expects.

A second signal while the first is being handled ends the process at once, killed by that signal
(status 128 + its number, no clean-up), after calling the hooks of :func:`at_forced_exit`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Training was stopped by a signal; ``signum`` says which, ``exit_code`` is 128 + signum."""

    def __init__(self, signum):
        self.signum = int(signum)
        super().__init__(f"stopped by {signal.Signals(self.signum).name}")

    @property
    def exit_code(self):
        return 128 + self.signum


class StopFlag:
    """``signum`` is 0 until a stop is requested; then the signal's number."""

    def __init__(self):
        self.signum = 0
        self.forced_exit_hooks = []

    def request(self, signum):
        self.signum = int(signum)

    def clear(self):
        self.signum = 0

    def check(self):
        """Raise :class:`Interrupted` when a stop was requested (every training step calls this)."""
        if self.signum:
            raise Interrupted(self.signum)


STOP = StopFlag()
_DEPTH = threading.local()  # n = 1 inside the main thread's outermost on_signals


def stop_fits_on(signum=signal.SIGTERM):
    """Make ``signum`` also request a stop, then run the handler that was there before.

    For code that does not own the process's signals: a flow run that an orchestrator's runner
    cancels with SIGTERM (Prefect serves each run in a process whose SIGTERM handler is its own).
    The fits in every thread then end at their next step (:class:`Interrupted`) instead of running
    on until the runner's grace period kills the process; the previous handler still runs. Call it
    from the main thread; anywhere else it does nothing (the owner of the signals handles them).
    Idempotent. Returns True when the chained handler is in place.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    previous = signal.getsignal(signum)
    if getattr(previous, "chains_stop", False):
        return True

    def chained(sig, frame):
        STOP.request(sig)
        if callable(previous):
            previous(sig, frame)
        elif previous == signal.SIG_DFL:  # what the signal would have done: end the process
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)

    chained.chains_stop = True
    signal.signal(signum, chained)
    return True


def at_forced_exit(hook):
    """Call ``hook()`` before a second signal ends the process at once (e.g. stop servers)."""
    STOP.forced_exit_hooks.append(hook)
    return hook


def _handler(signum, frame):
    if STOP.signum:  # the second signal: the user means it
        for hook in STOP.forced_exit_hooks:
            with contextlib.suppress(Exception):
                hook()
        signal.signal(
            signum, signal.SIG_DFL
        )  # die of the signal itself: status 128 + signum, no cleanup
        os.kill(os.getpid(), signum)
    STOP.request(signum)
    raise Interrupted(signum)


@contextlib.contextmanager
def on_signals(signals=SIGNALS):
    """Within this block SIGINT/SIGTERM stop every fit of the process (see the module's docstring).

    Handlers are installed only in the main thread (elsewhere this is a no-op) and only by the
    outermost block, which clears the flag on entry, restores the previous handlers on exit and
    turns :class:`Interrupted` into ``SystemExit(143)`` (SIGTERM) or ``KeyboardInterrupt`` (SIGINT).
    """
    depth = getattr(_DEPTH, "n", 0)
    if (
        threading.current_thread() is not threading.main_thread() or depth
    ):  # a worker thread, or nested
        yield STOP
        return
    STOP.clear()
    previous = {s: signal.signal(s, _handler) for s in signals}
    _DEPTH.n = 1
    try:
        yield STOP
    except (
        Interrupted
    ) as exc:  # exit as Python would: SIGTERM -> 143, SIGINT -> 130 (needs the exact type)
        if exc.signum == signal.SIGTERM:
            raise SystemExit(exc.exit_code) from exc
        raise KeyboardInterrupt(str(exc)) from exc
    finally:
        _DEPTH.n = 0
        for s, h in previous.items():
            signal.signal(s, h)
