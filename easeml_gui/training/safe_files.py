"""Open, hash and copy a dataset's files without trusting their paths (torch-free).

Only regular files are read, and that is checked on the opened descriptor, never on the path: a link is not
followed (to /dev/zero, say), opening a FIFO does not wait for a writer, and a device is refused. A file is
never read whole to hash or copy it, and never past a size cap, so memory stays bounded whatever it holds.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path
from typing import BinaryIO, Iterator

_CHUNK = 1 << 20
_MIB = 1024**2


class RefusedFile(Exception):
    """A path that is not a regular file of an acceptable size; str(error) says what it is, without its name."""


def open_regular(path: Path, max_bytes: int, *, follow_links: bool = False) -> BinaryIO:
    """`path` opened for reading when it is a regular file of at most `max_bytes`; RefusedFile otherwise.
    follow_links: a path the user named (an archive) may be a link; what it leads to is checked the same way.
    Other OSErrors (missing, permission denied) are raised as they are."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_links else os.O_NOFOLLOW))
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise RefusedFile("a symbolic link (links are not followed)") from None
        raise
    try:
        facts = os.fstat(fd)
        if not stat.S_ISREG(facts.st_mode):
            raise RefusedFile(f"{_kind(facts.st_mode)}, not a regular file")
        if facts.st_size > max_bytes:
            raise RefusedFile(f"{facts.st_size / _MIB:,.1f} MiB, over the limit of {max_bytes / _MIB:,.1f} MiB "
                              "per file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path, max_bytes: int) -> bytes:
    """A regular file's bytes, at most max_bytes + 1 (so a file that grew never reads as its first part)."""
    with open_regular(path, max_bytes) as source:
        return source.read(max_bytes + 1)


def chunks(source: BinaryIO, max_bytes: int) -> Iterator[bytes]:
    """What is left in `source`, in chunks; RefusedFile once it holds more than max_bytes (it grew)."""
    left = max_bytes
    while chunk := source.read(min(_CHUNK, left + 1)):
        left -= len(chunk)
        if left < 0:
            raise RefusedFile(f"grew past {max_bytes:,} bytes while being read")
        yield chunk


def sha256_of(source: BinaryIO, max_bytes: int) -> tuple[str, int]:
    """The sha256 and the length of what is left in `source`, streamed."""
    digest, size = hashlib.sha256(), 0
    for chunk in chunks(source, max_bytes):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def copy_hashed(source: BinaryIO, target: Path, max_bytes: int) -> str:
    """Copy what is left in `source` into the new file `target`, streamed; the sha256 of what was copied."""
    digest = hashlib.sha256()
    with open(target, "xb") as out:
        for chunk in chunks(source, max_bytes):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a folder" if stat.S_ISDIR(mode) else "a special file"
