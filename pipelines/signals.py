"""How a ``forecast`` command stops on SIGINT/SIGTERM, and the Prefect server that dies with it.

:func:`run_stoppable` runs a flow in a worker thread while the main thread waits under
``forecast.training.stopping.on_signals``. Prefect installs its own SIGTERM handler only in the main
thread, and would then wait for the task threads to finish their fits (over 40 s seen); here the
signal sets the stop flag instead, every fit stops at its next step, the flow run ends Crashed
(Prefect) with its MLflow runs KILLED (``runs.run``), and the command exits 130 (SIGINT) or 143
(SIGTERM). Code that is not training (a backtest, an upload) gets ``Interrupted`` raised in its
thread after :data:`GRACE` seconds. A second signal ends the process at once.

:func:`prefect_api` starts the command's temporary Prefect server, as Prefect's ephemeral mode
does, but as a child that the kernel stops when the command dies, even by SIGKILL (Linux
``PR_SET_PDEATHSIG``): a killed command leaves no server holding its port and memory behind.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from forecast.training.stopping import Interrupted, at_forced_exit, on_signals

# seconds a stopped flow has to end by itself, then again after Interrupted is raised in it
GRACE = 10.0


def run_stoppable(fn, grace=GRACE):
    """``fn()`` in a worker thread (with this thread's context), stoppable by SIGINT/SIGTERM.

    Returns its result or raises its exception; raises ``Interrupted`` after a signal, once the
    thread has ended or ``2 * grace`` seconds have passed.
    """
    box, context, done = {}, contextvars.copy_context(), threading.Event()

    def target():
        try:
            box["result"] = context.run(fn)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread as is
            box["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=target, name="forecast-flow", daemon=True)
    stopped = None
    with on_signals():
        worker.start()
        try:
            _wait(
                done, None
            )  # sleeps, not join(): a join interrupted by a signal marks a live thread ended
        except Interrupted as exc:
            stopped = exc
            _wind_down(worker, done, exc.signum, grace)
    if stopped is not None:
        raise stopped
    if "error" in box:
        raise box["error"]
    return box["result"]


def _wait(done, seconds):
    deadline = None if seconds is None else time.monotonic() + seconds
    while not done.is_set() and (deadline is None or time.monotonic() < deadline):
        time.sleep(0.1)


def _wind_down(worker, done, signum, grace):
    _wait(done, grace)  # fits stop at their next step; Prefect and MLflow record the end
    if not done.is_set():  # not in a fit: interrupt whatever the thread runs
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(worker.ident), ctypes.py_object(_INTERRUPTS[signum])
        )
        _wait(done, grace)


class _InterruptedBySigint(Interrupted):
    def __init__(self):
        super().__init__(signal.SIGINT)


class _InterruptedBySigterm(Interrupted):
    def __init__(self):
        super().__init__(signal.SIGTERM)


_INTERRUPTS = {
    signal.SIGINT: _InterruptedBySigint,
    signal.SIGTERM: _InterruptedBySigterm,
}  # classes: async raise


# ---------------------------------------------------------------------------------- the Prefect
# server
@contextlib.contextmanager
def prefect_api(timeout=None):
    """Within this block Prefect talks to a temporary server of this process (unless an API is set).

    The server is Prefect's own app under uvicorn on a free 127.0.0.1 port, over ``PREFECT_HOME``'s
    database, started as a child that dies with this process; it is stopped when the process exits.
    """
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    if PREFECT_API_URL.value():
        yield PREFECT_API_URL.value()
        return
    log = tempfile.TemporaryFile()  # noqa: SIM115 - the server writes to it until this process exits
    port = _free_port()
    proc = subprocess.Popen(
        server_command(port),
        env=dict(
            os.environ,
            PREFECT_UI_ENABLED="0",
            PREFECT__SERVER_EPHEMERAL="1",
            PREFECT__SERVER_FINAL="1",
        ),
        preexec_fn=die_with_parent(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    at_forced_exit(proc.kill)  # a second signal: the process dies at once, no atexit
    # Stopped at exit, after Prefect's log and event workers have drained into it (they flush
    # from threading's exit hooks, which run before atexit's).
    atexit.register(_stop, proc)
    url = f"http://127.0.0.1:{port}/api"
    _wait_healthy(
        url, proc, log, timeout or PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
    )
    with temporary_settings({PREFECT_API_URL: url}):
        yield url


def server_command(port):
    """The argv of Prefect's API server (its ephemeral server's command) on 127.0.0.1:``port``."""
    import prefect

    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(prefect.__module_path__.parent),
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]


def start_server(port, env, log_path):
    """Prefect's API server (:func:`server_command`) on ``port`` in a session of its own, its output
    appended to ``log_path``: the ``Popen`` (a server that may outlive this process)."""
    with open(log_path, "ab") as log:  # the server keeps its own copy
        return subprocess.Popen(
            server_command(port),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def die_with_parent():
    """A ``preexec_fn`` that makes the child receive SIGTERM when its parent dies (Linux; else
    None).
    """
    if not sys.platform.startswith("linux"):
        return None
    parent = os.getpid()

    def arm():
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the line above
            os.kill(os.getpid(), signal.SIGKILL)

    return arm


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url, proc, log, timeout):
    deadline = time.monotonic() + float(timeout)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(
                f"the temporary Prefect server exited with code {proc.returncode}: "
                f"{log.read().decode(errors='replace')[-2000:]}"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    _stop(proc)
    raise RuntimeError(
        f"the temporary Prefect server at {url} was not healthy after {timeout} s "
        "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)"
    )


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
