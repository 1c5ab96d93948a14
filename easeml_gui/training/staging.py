"""Where a registration builds its dataset before publishing it (torch-free).

A staging folder `.NAME.incoming-PID-XXXX` lies beside the destination and is locked (flock on the folder)
while its process lives; the lock goes with the process, even one killed by SIGKILL, so the next registration
and the next `easeml-gui run` sweep folders whose lock is free and whose process is gone. The finished dataset
folder is locked too, from its creation in the staging folder until its record is written, so a folder renamed
into place whose process died before recording it can be told from one still being recorded.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_STAGE = re.compile(r"^\..+\.incoming-(?:(\d+)-)?[^/]*$")  # older versions put no pid in the name


@contextmanager
def staging_folder(dest: Path) -> Iterator[Path]:
    """A fresh locked staging folder beside `dest`, removed on the way out; stale ones are swept first."""
    sweep_stale(dest.parent)
    stage = Path(tempfile.mkdtemp(prefix=f".{dest.name}.incoming-{os.getpid()}-", dir=dest.parent))
    try:
        with locked(stage):
            yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold `folder`'s lock inside the block (the lock follows the folder through a rename)."""
    fd = _lock(folder)
    if fd is None:
        raise BlockingIOError(f"{folder} is locked by another process")
    try:
        yield
    finally:
        os.close(fd)


def abandoned(folder: Path) -> bool:
    """True when no process holds `folder`'s lock (and so none is writing or recording it)."""
    fd = _lock(folder)
    if fd is None:
        return False
    os.close(fd)
    return True


def sweep_stale(parent: Path) -> None:
    """Remove the staging folders in `parent` that no live registration owns."""
    for child in parent.iterdir() if parent.is_dir() else ():
        match = _STAGE.match(child.name)
        if match is None or child.is_symlink() or not child.is_dir():
            continue
        pid = int(match.group(1)) if match.group(1) else None
        try:  # the pid covers the instant between a folder's creation and its lock
            stale = abandoned(child) and (pid is None or not process_alive(pid))
        except OSError:
            continue  # a folder this process cannot open is not its to judge
        if stale:
            shutil.rmtree(child, ignore_errors=True)


def _lock(folder: Path) -> int | None:
    """An open descriptor of `folder` holding its exclusive lock, or None when another process holds it."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
