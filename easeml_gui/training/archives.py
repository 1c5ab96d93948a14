"""Safe extraction of a dataset archive (.zip, .tar, .tar.gz / .tgz) into a fresh folder.

Refused: members that would land outside the target (absolute paths, drive letters, `..`), symbolic and hard
links, device files and fifos, encrypted zip members, more than `Limits.max_members` members, and more than
`Limits.max_total_bytes` uncompressed bytes (counted while writing, so a lying header does not help a bomb).
Hidden members ("." prefix) and macOS "__MACOSX" folders are skipped: they are never part of a dataset.
"""

from __future__ import annotations

import re
import stat
import tarfile
import zipfile
from pathlib import Path
from typing import IO

from .errors import DatasetError
from .limits import Limits

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
_CHUNK = 1 << 20


def ignored_part(part: str) -> bool:
    """A path component that is never part of a dataset (hidden files, macOS resource forks)."""
    return part.startswith(".") or part == "__MACOSX"


def archive_suffix(path: Path) -> str | None:
    name = path.name.lower()
    return next((suffix for suffix in ARCHIVE_SUFFIXES if name.endswith(suffix)), None)


def extract_archive(archive: Path, target: Path, limits: Limits) -> None:
    """Extract `archive` into `target` (created here; it must not exist). On error the caller removes `target`."""
    suffix = archive_suffix(archive)
    if suffix is None:
        raise DatasetError(f"{archive.name}: unsupported format; give a folder of class sub-folders, "
                           f"or a {', '.join(ARCHIVE_SUFFIXES)} archive of one")
    target.mkdir(parents=True)
    guard = _Guard(archive, target, limits)
    try:
        if suffix == ".zip":
            _extract_zip(archive, guard)
        else:
            _extract_tar(archive, guard)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as error:
        raise DatasetError(f"{archive.name} is not a valid {suffix} archive or is truncated ({error}); "
                           "re-create the archive and try again") from None


class _Guard:
    """Checks every member's path and counts members and bytes against the limits."""

    def __init__(self, archive: Path, target: Path, limits: Limits) -> None:
        self.archive = archive.name
        self.target = target.resolve()
        self.limits = limits
        self.members = 0
        self.total_bytes = 0

    def refuse(self, name: str, why: str) -> DatasetError:
        return DatasetError(f"{self.archive}: member {name!r} {why}; refusing to extract it. "
                            "Re-create the archive from a plain folder of class sub-folders")

    def member_path(self, name: str) -> Path | None:
        """Where member `name` goes inside the target, or None for a member to skip."""
        self.members += 1
        if self.members > self.limits.max_members:
            raise DatasetError(f"{self.archive} holds more than {self.limits.max_members:,} members "
                               "(a decompression bomb?); split the dataset or raise the limit")
        posix = name.replace("\\", "/")
        if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
            raise self.refuse(name, "has an absolute path that would be written outside the dataset folder")
        parts = [part for part in posix.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise self.refuse(name, "uses '..' to reach outside the dataset folder")
        if not parts or any(ignored_part(part) for part in parts):
            return None
        path = self.target.joinpath(*parts)
        if not path.resolve().is_relative_to(self.target):  # belt and braces: the checks above should cover it
            raise self.refuse(name, "resolves outside the dataset folder")
        return path

    def write(self, source: IO[bytes], path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as out:
            while chunk := source.read(_CHUNK):
                self.total_bytes += len(chunk)
                if self.total_bytes > self.limits.max_total_bytes:
                    raise DatasetError(f"{self.archive} expands to more than {self.limits.max_total_bytes:,} bytes "
                                       "(a decompression bomb?); refusing to extract it")
                out.write(chunk)


def _extract_zip(archive: Path, guard: _Guard) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            path = guard.member_path(info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise guard.refuse(info.filename, "is a symbolic link (links can point outside the dataset)")
            if info.flag_bits & 0x1:
                raise guard.refuse(info.filename, "is encrypted; give an archive without a password")
            if path is None:
                continue
            if info.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            try:
                with zf.open(info) as source:
                    guard.write(source, path)
            except NotImplementedError as error:
                raise guard.refuse(info.filename, f"uses an unsupported compression method ({error})") from None


def _extract_tar(archive: Path, guard: _Guard) -> None:
    with tarfile.open(archive, "r:*") as tf:
        for member in tf:  # streaming: a bomb is stopped at the limit, not after reading the whole archive
            path = guard.member_path(member.name)
            if member.issym() or member.islnk():
                raise guard.refuse(member.name, "is a link (links can point outside the dataset)")
            if not (member.isdir() or member.isfile()):
                raise guard.refuse(member.name, "is a device file or fifo, not a regular file")
            if path is None:
                continue
            if member.isdir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            source = tf.extractfile(member)
            assert source is not None  # a regular file always has content
            with source:
                guard.write(source, path)

