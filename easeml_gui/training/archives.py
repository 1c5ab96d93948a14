"""Safe extraction of a dataset archive (.zip, .tar, .tar.gz / .tgz) into a fresh folder.

Refused: members that would land outside the target (absolute paths, drive letters, `..`), symbolic and hard
links, device files and fifos, encrypted zip members, a file given twice (never silently replaced) or at the path
of a folder, a name too long for the file system, more than `Limits.max_members` members, a member over
`Limits.max_file_bytes`, more than `Limits.max_total_bytes` uncompressed bytes, and an archive or zip member that
expands more than `Limits.max_ratio` times. A zip's declared sizes are checked before anything is extracted, and
every archive's bytes are counted again while writing, so a lying header does not help a bomb.
Hidden members ("." prefix) and macOS "__MACOSX" folders are skipped: they are never part of a dataset (their
bytes still count against the limits: a compressed tar is decompressed through them, and a zip declares them).
A tar's members then also pass tarfile's "data" filter where Python has it (3.11.4+). A damaged or truncated
archive is refused, never registered as part of itself: a tar must reach its end-of-archive marker, and a
compressed one is read to its end, where its CRC is checked.
"""

from __future__ import annotations

import errno
import lzma
import os
import re
import stat
import sys
import tarfile
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import IO, BinaryIO, Iterator

from .errors import DISK_FULL_ERRNOS, DatasetError
from .limits import Limits
from .safe_files import RefusedFile, open_regular

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
_CHUNK = 1 << 20
_MIB = 1024**2
_CLASH = "clashes with another member: the archive holds a file and a folder at the same path"


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
    with _open_archive(archive) as source:
        target.mkdir(parents=True)
        guard = _Guard(archive, os.fstat(source.fileno()).st_size, target, limits)
        try:
            if suffix == ".zip":
                _extract_zip(source, guard)
            else:
                _extract_tar(source, guard)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError) as error:
            # zlib and lzma raise their own errors on damaged data, inside a member as well as in the headers
            if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
                raise  # not a broken archive: the caller says the disk is full (errors.saying_disk_full)
            raise DatasetError(f"{archive.name} is not a valid {suffix} archive or is truncated ({error}); "
                               "re-create the archive and try again") from None
        except UnicodeDecodeError:  # zipfile decodes a name flagged UTF-8, in the directory or a member's header
            raise DatasetError(f"{archive.name}: a member's name is marked as UTF-8 but is not valid UTF-8 (a damaged "
                               "archive or a broken zip tool); re-create the archive and try again") from None


def _open_archive(archive: Path) -> BinaryIO:
    """The archive file, opened once and checked on its descriptor: a FIFO (which would wait for a writer forever)
    or a device such as /dev/zero (which never ends) named like an archive is refused, a link the user gave is
    followed to a regular file. Its size is checked by expansion (_Guard), not here."""
    try:
        return open_regular(archive, sys.maxsize, follow_links=True)
    except RefusedFile as why:
        raise DatasetError(f"{archive} is {why}; give a folder of class sub-folders or an archive file of one") \
            from None
    except OSError as error:
        raise DatasetError(f"{archive} cannot be read ({error.strerror or error}); check that it exists and "
                           "that you may read it") from None


class _Guard:
    """Checks every member's path and counts members and bytes against the limits."""

    def __init__(self, archive: Path, archive_bytes: int, target: Path, limits: Limits) -> None:
        self.archive = archive.name
        self.archive_bytes = archive_bytes
        self.target = target.resolve()
        self.limits = limits
        self.members = 0
        self.total_bytes = 0

    def refuse(self, name: str, why: str) -> DatasetError:
        shown = name if len(name) <= 200 else f"{name[:120]}...{name[-60:]}"  # a hostile name may be kilobytes
        return DatasetError(f"{self.archive}: member {shown!r} {why}; refusing to extract it. "
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

    @contextmanager
    def _placing(self, path: Path, name: str, file: bool) -> Iterator[None]:
        """Making a member's place: a clash with an earlier member, or a name the file system cannot hold, is the
        archive's, said as such (not as a broken archive naming the temporary folder)."""
        try:
            yield
        except FileExistsError:
            if file and path.is_file():
                raise self.refuse(name, "appears twice in the archive (or beside a name differing only in letter "
                                  "case, which this file system takes for the same): which copy is meant is "
                                  "unclear") from None
            raise self.refuse(name, _CLASH) from None
        except (IsADirectoryError, NotADirectoryError):
            raise self.refuse(name, _CLASH) from None
        except OSError as error:
            if error.errno != errno.ENAMETOOLONG:
                raise
            raise self.refuse(name, "has a name too long for this file system (a file or folder name over 255 "
                              "bytes, or too long a path in all); shorten it") from None

    def check_size(self, name: str, size: int) -> None:
        """A member's size, declared or counted: one file over the cap is refused before it fills memory or disk."""
        if size > self.limits.max_file_bytes:
            raise DatasetError(f"{self.archive}: member {name!r} is {size / _MIB:,.1f} MiB uncompressed, over the "
                               f"limit of {self.limits.max_file_bytes / _MIB:,.1f} MiB per file (a decompression "
                               "bomb, or a file that is no dataset image); refusing to extract it. Leave it out or "
                               "downscale it, and re-create the archive")

    def check_expansion(self, expanded: int, compressed: int, what: str) -> None:
        """`expanded` uncompressed bytes from `compressed` ones, of a member or of the whole archive."""
        if expanded > self.limits.max_total_bytes:
            raise DatasetError(f"{self.archive} expands to more than {self.limits.max_total_bytes:,} bytes "
                               "(a decompression bomb?); refusing to extract it")
        if expanded > self.limits.ratio_exempt_bytes and expanded > self.limits.max_ratio * max(compressed, 1):
            raise DatasetError(f"{what} expands more than {self.limits.max_ratio} times ({expanded / _MIB:,.1f} MiB "
                               f"from {compressed / 1024:,.1f} KiB: a decompression bomb?); refusing to extract it")

    def folder(self, path: Path, name: str) -> None:
        with self._placing(path, name, file=False):
            path.mkdir(parents=True, exist_ok=True)

    def write(self, source: IO[bytes], path: Path, name: str) -> None:
        with self._placing(path, name, file=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            out = open(path, "xb")  # never over an earlier member: a duplicate is refused, not silently replaced
        written = 0
        with out:
            while chunk := source.read(_CHUNK):
                written += len(chunk)
                self.check_size(name, written)
                self.count(len(chunk))
                out.write(chunk)

    def count(self, size: int) -> None:
        """Bytes expanded from the archive, written or not: all of them count against the bomb checks."""
        self.total_bytes += size
        self.check_expansion(self.total_bytes, self.archive_bytes, self.archive)


def _extract_zip(archive: BinaryIO, guard: _Guard) -> None:
    with _open_zip(archive, guard) as zf:
        _check_declared(zf.infolist(), guard)
        for info in zf.infolist():
            path = guard.member_path(info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise guard.refuse(info.filename, "is a symbolic link (links can point outside the dataset)")
            if info.flag_bits & 0x1:
                raise guard.refuse(info.filename, "is encrypted; give an archive without a password")
            if path is None:
                continue
            if info.is_dir():
                guard.folder(path, info.filename)
                continue
            try:
                with zf.open(info) as source:
                    guard.write(source, path, info.filename)
            except NotImplementedError as error:
                raise guard.refuse(info.filename, f"uses an unsupported compression method ({error})") from None


def _open_zip(archive: BinaryIO, guard: _Guard) -> zipfile.ZipFile:
    """The zip with its central directory read, or what is wrong with that directory."""
    try:
        return zipfile.ZipFile(archive)
    except NotImplementedError as error:  # a zip version or feature zipfile lacks, or a damaged header saying so
        raise DatasetError(f"{guard.archive} needs a zip feature this program does not have ({error}) or is "
                           "damaged; re-create it with a plain zip tool (deflate compression, no encryption)") \
            from None


def _extract_tar(archive: BinaryIO, guard: _Guard) -> None:
    with tarfile.open(fileobj=archive, mode="r:*", tarinfo=_EndNoting) as tf:
        member = None
        for member in tf:  # streaming: a bomb is stopped at the limit, not after reading the whole archive
            path = guard.member_path(member.name)
            if member.issym() or member.islnk():
                raise guard.refuse(member.name, "is a link (links can point outside the dataset)")
            if not (member.isdir() or member.isfile()):
                raise guard.refuse(member.name, "is a device file or fifo, not a regular file")
            if path is None:
                guard.count(member.size)  # skipped, yet read through: a compressed stream decompresses it
                continue
            _data_filter(member, guard)
            if member.isdir():
                guard.folder(path, member.name)
                continue
            guard.check_size(member.name, member.size)
            source = tf.extractfile(member)
            assert source is not None  # a regular file always has content
            with source:
                guard.write(source, path, member.name)
        if not getattr(tf, _END_SEEN, False):
            after = f" after member {member.name!r}" if member is not None else ""
            raise DatasetError(f"{guard.archive} stops{after} without the end-of-archive marker a tar ends with: it is "
                               "truncated or damaged there; re-create the archive and try again")
        if tf.fileobj is not archive:
            _read_to_the_end(tf.fileobj, guard)


_END_SEEN = "_easeml_end_seen"


class _EndNoting(tarfile.TarInfo):
    """Notes on its TarFile when the members end at the end-of-archive marker (a block of zeros). tarfile stops
    quietly there, and just as quietly at a header cut short or damaged past the first member, so an archive
    truncated between members, or with a damaged header, would pass as the members before it."""

    @classmethod
    def fromtarfile(cls, tar: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(tar)
        except tarfile.EOFHeaderError:  # tarfile's name for the zero block, not for the end of the file
            setattr(tar, _END_SEEN, True)
            raise


def _read_to_the_end(stream: IO[bytes], guard: _Guard) -> None:
    """A compressed tar's stream read past the end-of-archive marker to its own end, where gzip, bzip2 and xz check
    their CRC (tarfile stops at the marker): damage inside a member's bytes is then refused as a broken archive,
    not registered as other pixels. What follows the marker counts as expanded bytes, as members do."""
    while chunk := stream.read(_CHUNK):
        guard.count(len(chunk))


def _data_filter(member: tarfile.TarInfo, guard: _Guard) -> None:
    """The standard library's "data" extraction filter (PEP 706) under the checks above, as a second, maintained
    opinion on each member. Its sanitised modes (no setuid, no group/other write) need no applying: files are written
    here with the default mode. Python before 3.11.4 has no filter; the checks above then stand alone."""
    if not hasattr(tarfile, "data_filter"):
        return
    try:
        tarfile.data_filter(member, str(guard.target))
    except tarfile.FilterError as error:
        raise guard.refuse(member.name, f"is refused by tarfile's data filter ({error})") from None


def _check_declared(members: list[zipfile.ZipInfo], guard: _Guard) -> None:
    """A zip's central directory, before anything is extracted: member count, sizes and expansion ratios."""
    if len(members) > guard.limits.max_members:
        raise DatasetError(f"{guard.archive} holds more than {guard.limits.max_members:,} members "
                           "(a decompression bomb?); split the dataset or raise the limit")
    for info in members:
        guard.check_size(info.filename, info.file_size)
        guard.check_expansion(info.file_size, info.compress_size, f"{guard.archive}: member {info.filename!r}")
    guard.check_expansion(sum(info.file_size for info in members), guard.archive_bytes, guard.archive)

