"""The one error the lab layer raises: a failure the user can fix (str(error) says what is wrong and what to do).
The command line prints it and exits 1; the window shows it in a dialog."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

from ..remote.errors import RemoteError
from ..store import StoreError
from ..training.errors import DatasetError


class LabError(Exception):
    """A lab operation failed for a reason the user can fix; nothing was changed."""


class Cancelled(LabError):
    """The user stopped the operation before it ended; nothing was changed."""


class BadImages(LabError):
    """A dataset's class folders hold files that are not usable images; `bad` lists (path, reason) for each.
    Registering again with skip_bad leaves them out."""

    def __init__(self, message: str, bad: Sequence[tuple[str, str]]) -> None:
        super().__init__(message)
        self.bad = tuple(bad)


@contextmanager
def as_lab_error() -> Iterator[None]:
    """The store's, the datasets' and the remote hosts' refusals (already worded for the user) as LabError."""
    try:
        yield
    except (StoreError, DatasetError, RemoteError) as error:
        raise LabError(str(error)) from None
