"""Write a file so that readers see the old file or the whole new one, never a part (torch-free)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Callable


def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """`write` fills a temporary file beside `path` (named per process, so two writers never share one), which
    then replaces `path` in one rename. On any error the temporary file is removed and the error raised."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as out:
            write(out)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
