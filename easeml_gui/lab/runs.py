"""What starting a lab run needs beyond the live lab itself: one run per store."""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import LabError


def lock_path(db: Path) -> Path:
    return db.with_name(db.name + ".run.lock")


@contextmanager
def run_lock(db: Path) -> Iterator[None]:
    """One `run` per store, held while the run lives: a second one would re-queue the first one's running tasks.
    The lock is the kernel's (flock), so a crashed run never leaves it taken."""
    with open(lock_path(db), "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LabError(f"another `easeml-gui run` is using {db}; stop it first (one run per lab)") from None
        yield
