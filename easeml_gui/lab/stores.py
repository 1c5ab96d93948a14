"""Opening a lab's store for the lab's operations: a writer (created on first use) or a read-only reader, with
the store's errors as LabError."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..store import LabReader, LabStore, StoreError
from .errors import LabError


@contextmanager
def open_writer(db: Path) -> Iterator[LabStore]:
    """The store at `db`, created with its folder if it does not exist yet."""
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        with LabStore(db) as store:
            yield store
    except StoreError as error:
        raise LabError(str(error)) from None


@contextmanager
def open_reader(db: Path) -> Iterator[LabReader]:
    """A read-only view of the store at `db`, which must exist (a reader never creates a lab)."""
    if not db.exists():
        raise LabError(f"no lab store at {db}; create one with `easeml-gui tenant add NAME` or `easeml-gui demo`")
    try:
        with LabStore.open_readonly(db) as store:
            yield store
    except StoreError as error:
        raise LabError(str(error)) from None
