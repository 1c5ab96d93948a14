"""The errors a user sees from training: each message says what is wrong and what to do (torch-free)."""

from __future__ import annotations

import errno
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class DatasetError(Exception):
    """A dataset or archive that cannot be registered or used; str(error) is meant for the user."""


class TrainingError(Exception):
    """Training could not produce a model (diverged, too small an image, ...); str(error) says why and what to try."""


class OutOfMemory(TrainingError):
    """The device ran out of memory even at the smallest batch tried."""


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


@contextmanager
def saying_disk_full(folder: Path) -> Iterator[None]:
    """A full disk (or quota) met inside the block raised as a DatasetError that says so, with the MiB free."""
    try:
        yield
    except OSError as error:
        if error.errno not in DISK_FULL_ERRNOS:
            raise
        existing = next(p for p in (folder, *folder.parents) if p.exists())  # the folder may be gone by now
        free = shutil.disk_usage(existing).free / 1024**2
        raise DatasetError(f"the disk holding {folder} is full ({free:,.1f} MiB free); free some space there "
                           "and try again") from None
