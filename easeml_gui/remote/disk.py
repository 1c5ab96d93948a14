"""The free disk behind a folder on a host, asked with POSIX `df` (no synced code needed: it is what a start that
failed for want of space can still ask)."""

from __future__ import annotations

from pathlib import PurePosixPath

from .errors import RemoteError
from .session import HostLink


def free_mib(link: HostLink, folder: str) -> int | None:
    """MiB free on the file system of `folder` (of its nearest existing parent: it may not exist yet), or None
    when the host cannot say."""
    path = PurePosixPath(folder)
    candidates = [str(path), *map(str, path.parents)]  # df reports those that exist, in this order
    try:
        done = link.run(["df", "-Pk", "--", *candidates], timeout=30)
    except RemoteError:
        return None
    for line in done.stdout.decode(errors="replace").splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 6 and fields[3].isdigit():
            return int(fields[3]) // 1024
    return None
