"""A lock shared by every process and thread of this machine, for read-decide-write steps.

Promotion reads the champion, compares and moves the ``champion`` alias: two train flows doing
it at once could each see the old champion and the slower one win, though the other was better.
``held(key)`` serialises such steps on one machine (``fcntl.flock`` on a file in the temporary
folder, released by the kernel if the holder dies). Flows on other machines against one tracking
server are not covered: MLflow has no compare-and-set for aliases.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no lock
    fcntl = None


@contextlib.contextmanager
def held(*key):
    """Hold the machine-wide lock named by ``key`` (any reprs) for the block."""
    if fcntl is None:
        yield
        return
    path = (
        Path(tempfile.gettempdir())
        / f"forecast-lock-{hashlib.sha256(repr(key).encode()).hexdigest()[:16]}"
    )
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
