"""What a dataset folder holds, as registration lists it (torch-free).

One rule for links: none is followed. A link inside the folder (to a file, a folder, /dev/zero, or a place above
the folder) is left out, and so is a sub-folder that cannot be read; each is noted, so the user sees a list of
what was left out instead of a silent gap. Hidden names and "__MACOSX" are ignored silently: they are never part
of a dataset. Files are listed whatever their kind: opening one (safe_files) decides whether it is a regular file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from .archives import ignored_part
from .errors import DatasetError

LINK_LEFT_OUT = "a symbolic link, left out (links are not followed; copy the files in instead)"
NAME_LEFT_OUT = "a name that is not valid UTF-8, left out (rename it to register it)"


class DatasetTree:
    """Lists a folder's entries without following links, counts files against a cap, notes what it leaves out."""

    def __init__(self, top: Path, max_files: int) -> None:
        self.top = top
        self.max_files = max_files
        self.files_listed = 0
        self.left_out: dict[Path, str] = {}  # absolute path -> why, in the order met

    def children(self, folder: Path) -> list[Path]:
        """The visible entries of `folder` in name order, without its links."""
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError as error:
            self.left_out[folder] = f"an unreadable folder ({error.strerror or error}), left out"
            return []
        kept = []
        for entry in entries:
            if ignored_part(entry.name):
                continue
            if entry.is_symlink():
                self.left_out[Path(entry.path)] = LINK_LEFT_OUT
            elif not _utf8(entry.name):  # the manifest, the store and the hosts' file names are UTF-8
                self.left_out[Path(entry.path)] = NAME_LEFT_OUT
            else:
                kept.append(Path(entry.path))
        return kept

    def files(self, folder: Path) -> Iterator[Path]:
        """Every file below `folder`, as os.walk orders them (a folder's files, then its sub-folders in turn);
        an explicit stack, so a hostile depth cannot exhaust the recursion limit."""
        pending = [folder]
        while pending:
            subfolders = []
            for path in self.children(pending.pop()):
                if path.is_dir():
                    subfolders.append(path)
                else:
                    self._count(path)
                    yield path
            pending.extend(reversed(subfolders))

    def notes(self, root: Path) -> list[tuple[str, str]]:
        """(path, why) of what was left out: relative to `root` where inside it, else to the folder given."""
        return [(_relative(path, root if path.is_relative_to(root) else self.top), why)
                for path, why in self.left_out.items()]

    def _count(self, path: Path) -> None:
        self.files_listed += 1
        if self.files_listed > self.max_files:
            raise DatasetError(f"{self.top} holds more than {self.max_files:,} files; split it into several "
                               "datasets or leave files out")


def _relative(path: Path, base: Path) -> str:
    """Printable: bytes that are not UTF-8 shown as \\xff escapes."""
    relative = path.relative_to(base).as_posix() if path != base else "."
    return os.fsencode(relative).decode("utf-8", "backslashreplace")


def _utf8(name: str) -> bool:
    try:
        name.encode()
    except UnicodeEncodeError:  # undecodable bytes arrive as surrogate escapes
        return False
    return True
