"""LabStore: the lab's one writer; LabStore.open_readonly: a reader for the GUI and `status`."""

from __future__ import annotations

import time
from os import PathLike
from pathlib import Path
from typing import Callable

from .connection import connect_reader, connect_writer
from .reader import LabReader
from .registry import Registry
from .runlog import RunLog

BUSY_TIMEOUT_S = 10.0


class LabStore(Registry, RunLog):
    """The SQLite store (WAL, foreign keys, one writer connection); implements engine.ports.Store.

    Opening creates or migrates the file; a file from a newer easeml-gui, a foreign or damaged file is refused
    with a StoreError and left untouched.
    """

    def __init__(self, path: str | PathLike[str], *, clock: Callable[[], float] = time.time,
                 busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        path = Path(path)
        super().__init__(connect_writer(path, busy_timeout), path, clock, busy_timeout)

    @staticmethod
    def open_readonly(path: str | PathLike[str], *, busy_timeout: float = BUSY_TIMEOUT_S) -> LabReader:
        """A read-only view (SQLite mode=ro) that a running writer never locks out; it never writes the file."""
        path = Path(path)
        return LabReader(connect_reader(path, busy_timeout), path, time.time, busy_timeout)
