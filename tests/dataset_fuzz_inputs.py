"""What the `dataset add` properties feed it (issue 22), and the property itself: folder trees and archives drawn by
hypothesis, built on disk, and `check_add`, which runs the command in this process and checks that it registered
the dataset (exit 0) or refused with a message leaving nothing behind, within bounded time and memory.
Shared by tests/test_dataset_fuzz.py, tests/test_archive_fuzz.py and bench/dataset_fuzz.py."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import signal
import struct
import tarfile
import time
import tracemalloc
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from hypothesis import strategies as st
from PIL import Image

from easeml_gui.__main__ import main
from easeml_gui.store import LabStore

_MIB = 1024**2
SECONDS_PER_RUN = 30.0  # far above any example's time on a loaded 2-core machine: only a hang or a hot loop
TRACED_MIB_PER_RUN = 48  # Python allocations of one run: below one capped member (64 MiB), never its bytes whole


def png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (8, 8), seed % 256).save(buffer, format="PNG")
    return buffer.getvalue()


# --- the property ----------------------------------------------------------------------------------------------

class Hung(Exception):
    """A block ran past its time limit (a `dataset add` past SECONDS_PER_RUN)."""


@dataclass(frozen=True)
class Outcome:
    code: int
    message: str  # stderr when refused, stdout when registered
    seconds: float
    traced_mib: float | None  # peak of Python's allocations during the run, when traced


def check_add(source: Path, db: Path, *, skip_bad: bool, must_refuse: bool = False, trace: bool = False) -> Outcome:
    """Run `easeml-gui dataset add SOURCE --name ds` and assert the property; `db`'s folder is the lab's.
    trace: also bound the run's Python allocations (tracemalloc doubles a run's time: for inputs with big members)."""
    out, err = io.StringIO(), io.StringIO()
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    try:
        with time_limit(SECONDS_PER_RUN), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["--db", str(db), "dataset", "add", str(source), "--name", "ds",
                         *(["--skip-bad"] if skip_bad else [])])
    finally:
        seconds = time.perf_counter() - start
        traced = tracemalloc.get_traced_memory()[1] / _MIB if trace else None
        tracemalloc.stop()
    with LabStore.open_readonly(db) as store:
        names = [d.name for d in store.datasets(include_archived=True)]
    datasets = db.parent / "datasets"
    left = sorted(p.name for p in datasets.iterdir()) if datasets.is_dir() else []
    if code == 0:
        assert not must_refuse, f"a hostile input was registered: {out.getvalue()}"
        assert names == ["ds"] and left == ["ds"], (out.getvalue(), left)
        assert (datasets / "ds" / "manifest.json").is_file()
    else:
        assert err.getvalue().strip(), "refused without a message"
        assert ".incoming-" not in err.getvalue(), f"names the staging folder, gone when read: {err.getvalue()}"
        assert names == [] and left == [], (err.getvalue(), names, left)
    assert traced is None or traced < TRACED_MIB_PER_RUN, f"{traced:.0f} MiB of Python allocations in one run"
    message = err.getvalue() if code else out.getvalue()
    return Outcome(code, message.strip(), seconds, traced)


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Hung raised in the block after `seconds` (a blocking open of a FIFO included: PEP 475 lets it through)."""
    def ring(_signum: int, _frame: object) -> None:
        raise Hung(f"dataset add ran past {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- folder trees ----------------------------------------------------------------------------------------------

NAMES = ["cat", "dog", "b i r d", "héllo", ".hidden", "__MACOSX", "x" * 120, "-dash", "new\nline",
         os.fsdecode(b"bad-\xff-utf8")]
EXTRAS = ["corrupt", "fifo", "link_to_dev_zero", "link_inside", "link_to_folder", "empty_folder", "sub_folder",
          "text"]

trees = st.one_of(  # a valid pair of classes with odd extras in one, else anything
    st.lists(st.sampled_from(EXTRAS), max_size=3).map(lambda extras: [("cat", 12, extras), ("dog", 10, [])]),
    st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from([0, 3, 10, 12]),
                       st.lists(st.sampled_from(EXTRAS), max_size=3)),
             min_size=1, max_size=3, unique_by=lambda c: c[0]))


def build_tree(root: Path, classes: list[tuple[str, int, list[str]]]) -> None:
    for name, images, extras in classes:
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(images):
            (folder / f"{i}.png").write_bytes(png(i))
        for i, kind in enumerate(extras):
            _add_extra(folder, kind, i)


def _add_extra(folder: Path, kind: str, i: int) -> None:
    path = folder / f"extra{i}.png"
    if kind == "corrupt":
        path.write_bytes(b"\x89PNG not really")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "link_to_dev_zero":
        path.symlink_to("/dev/zero")
    elif kind == "link_inside":
        path.symlink_to(folder / "0.png")
    elif kind == "link_to_folder":
        (folder / f"more{i}").symlink_to(folder)
    elif kind == "empty_folder":
        (folder / f"empty{i}").mkdir()
    elif kind == "sub_folder":
        (folder / f"sub{i}").mkdir()
        (folder / f"sub{i}" / "a.png").write_bytes(png(i))
    else:
        (folder / f"notes{i}.txt").write_text("not an image")


# --- archives --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    name: str  # as the archive holds it; surrogate escapes stand for bytes that are not UTF-8
    data: bytes = b""
    kind: str = "file"  # file, dir, symlink, hardlink, chr, fifo, setuid
    target: str = ""  # a link's
    zeros: int = 0  # zero bytes after `data`, written streaming (a bomb's gigabytes are never held in memory)
    patch: str = ""  # the extra whose header this member gets after writing (_patch_zip; lying_big in a tar)


@dataclass(frozen=True)
class ArchiveSpec:
    """An archive to build; the defaults make a valid zip of two classes of 10 PNGs."""
    suffix: str = ".zip"
    wrapper: str = ""  # "" (classes at the archive's root) or the folder(s) wrapping them
    classes: tuple[tuple[str, int], ...] = (("cat", 10), ("dog", 10))  # (class name, PNGs in it)
    extras: tuple[str, ...] = ()  # odd and hostile members: HOSTILE and BENIGN
    damage: str = "none"  # truncate, flip (bytes anywhere), flip_tail (a zip's central directory, a gzip trailer)
    damage_at: float = 0.0  # where, as a fraction of the archive's length
    path_kind: str = "file"  # what `dataset add` is given: file, link (to the archive), fifo, dev_zero (a link)
    big_mib: int = 20  # the size of a bomb's member of zeros


# Refused wherever they stand: a link, a path out of the folder, a device or FIFO (a tar's: a zip has none, its
# mode bits alone make a plain file), a member declaring more than the per-file cap, a file member twice or a file
# that is also a folder, a name too long for the file system, and a zip's encrypted, unknown-method or
# undecodable member (in a tar, ZIP_PATCHES are plain PNGs).
HOSTILE = frozenset({"traversal", "absolute", "backslash_traversal", "symlink_etc", "symlink_dev_zero",
                     "symlink_inside", "hardlink_etc", "hardlink_inside", "device", "fifo", "lying_big", "duplicate",
                     "file_and_folder", "long_name", "long_path", "encrypted", "unsupported_method",
                     "utf8_flag_bad_name"})
BENIGN = ("macosx", "hidden", "dir_entries", "empty_file", "text_beside", "loose_image", "nested_zip",
          "zip_named_png", "raw_bytes_name", "setuid", "lying_small", "bomb", "hidden_bomb")
ZIP_PATCHES = frozenset({"lying_small", "encrypted", "unsupported_method", "utf8_flag_bad_name", "raw_bytes_name"})
_PLACEHOLDER = "@@@@"  # name bytes patched after writing: zipfile writes only ASCII or flagged UTF-8 names


def archive_specs(big_mib: Sequence[int] = (20, 70)) -> st.SearchStrategy[ArchiveSpec]:
    """Archives to build; `big_mib`: the sizes a bomb's member of zeros is drawn from."""
    return st.builds(
        ArchiveSpec,
        suffix=st.sampled_from([".zip", ".zip", ".tar", ".tar", ".tar.gz", ".tgz", ".ZIP", ".tar.xz"]),
        wrapper=st.sampled_from(["", "", "data", "a/b"]),
        classes=st.one_of(st.just(ArchiveSpec.classes), st.lists(  # a valid pair, else anything
            st.tuples(st.sampled_from(["cat", "dog", "héllo", "b i r d", "-x", "__MACOSX"]),
                      st.sampled_from([0, 3, 10, 12])), max_size=3, unique_by=lambda c: c[0]).map(tuple)),
        extras=st.lists(st.sampled_from(sorted(HOSTILE) + list(BENIGN)), max_size=3, unique=True).map(tuple),
        damage=st.sampled_from(["none", "none", "none", "truncate", "flip", "flip_tail"]),
        damage_at=st.floats(0.0, 1.0),
        path_kind=st.sampled_from(["file"] * 6 + ["link", "fifo", "dev_zero"]),
        big_mib=st.sampled_from(list(big_mib)))


def must_refuse(spec: ArchiveSpec) -> bool:
    """Whether `dataset add` must refuse the archive, whatever else it holds."""
    suffix = spec.suffix.lower()
    if spec.path_kind in ("fifo", "dev_zero") or suffix == ".tar.xz":
        return True
    if spec.damage == "truncate":  # a zip's directory or a gzip stream's trailer is cut (a tar's cut may fall in
        return suffix != ".tar" and spec.damage_at < 1.0  # the zeros after its end-of-archive marker)
    if spec.damage != "none":
        return False  # damage can make a hostile member plain (a link's mode bits, say)
    extras = set(spec.extras) - ({"device", "fifo"} if suffix == ".zip" else ZIP_PATCHES)
    compressed = suffix != ".tar"  # zeros expand past the ratio cap there, wherever they stand
    bomb = ("bomb" in extras and (compressed or spec.big_mib > 64)) or ("hidden_bomb" in extras and compressed)
    return bomb or bool(extras & HOSTILE)


def build_archive(spec: ArchiveSpec, folder: Path) -> tuple[Path, frozenset[str]]:
    """The archive `spec` describes, written in `folder`: the path to give `dataset add` (the archive, a link to
    it, a FIFO or a link to /dev/zero) and the sha256 of every member's bytes. Members that try to escape aim at
    files named escaped* in `folder`'s parent or below it."""
    archive = folder / f"data{spec.suffix}"
    members = _members(spec, folder.parent)
    if spec.suffix.lower() == ".zip":
        _write_zip(archive, members)
    else:
        # .tar.xz is refused by its name before a byte is read: a plain tar inside spares xz's time and memory
        _write_tar(archive, members, "w:gz" if spec.suffix in (".tar.gz", ".tgz") else "w")
    _damage(archive, spec)
    given = folder / f"given{spec.suffix}"
    if spec.path_kind == "fifo":
        os.mkfifo(given)
    elif spec.path_kind in ("link", "dev_zero"):
        given.symlink_to(archive if spec.path_kind == "link" else Path("/dev/zero"))
    else:
        given = archive
    return given, frozenset(hashlib.sha256(member.data).hexdigest() for member in members if not member.zeros)


def checksummed(spec: ArchiveSpec) -> bool:
    """Whether the format checks its bytes (a zip's CRC per member, a gzip stream's CRC): damage there must be
    refused, never registered as other pixels. A plain tar checks only its headers."""
    return spec.suffix.lower() != ".tar"


def big_members(spec: ArchiveSpec) -> bool:
    return bool({"bomb", "hidden_bomb"} & set(spec.extras))


def _members(spec: ArchiveSpec, outside: Path) -> list[Member]:
    top = f"{spec.wrapper}/" if spec.wrapper else ""
    members = [Member(f"{top}{name}/{i}.png", png(i)) for name, count in spec.classes for i in range(count)]
    for extra in spec.extras:
        members += _extra(extra, top, outside, spec)
    return members


def _extra(kind: str, top: str, outside: Path, spec: ArchiveSpec) -> list[Member]:
    """The members of one odd or hostile extra; the extraction folder lies 4 levels below `outside`."""
    if kind in ZIP_PATCHES or kind == "lying_big":
        return [Member(f"{top}cat/{kind}-{_PLACEHOLDER}.png", png(7) * (40 if kind == "lying_small" else 1),
                       patch=kind)]
    if kind in ("bomb", "hidden_bomb"):
        return [Member(f"{top}cat/bomb.png" if kind == "bomb" else f"__MACOSX/{top}bomb.bin",
                       zeros=spec.big_mib * _MIB)]
    inner = _zip_bytes({"dog/0.png": png(18)})
    return {
        "traversal": [Member("../" * (1 + int(spec.damage_at * 3.99)) + "escaped.png", png(1))],
        "absolute": [Member(str(outside / "escaped-absolute.png"), png(2))],
        "backslash_traversal": [Member(f"{top}cat\\..\\..\\..\\escaped.png", png(3))],
        "symlink_etc": [Member(f"{top}cat/passwd.png", kind="symlink", target="/etc/passwd")],
        "symlink_dev_zero": [Member(f"{top}cat/zero.png", kind="symlink", target="/dev/zero")],
        "symlink_inside": [Member(f"{top}cat/a.png", png(4)), Member(f"{top}cat/b.png", kind="symlink",
                                                                      target="a.png")],
        "hardlink_etc": [Member(f"{top}cat/hard.png", kind="hardlink", target="/etc/passwd")],
        "hardlink_inside": [Member(f"{top}cat/a.png", png(5)), Member(f"{top}cat/c.png", kind="hardlink",
                                                                       target=f"{top}cat/a.png")],
        "device": [Member(f"{top}cat/dev.png", kind="chr")],
        "fifo": [Member(f"{top}cat/pipe.png", kind="fifo")],
        "duplicate": [Member(f"{top}dup/x.png", png(8)), Member(f"{top}dup/x.png", png(9))],
        "file_and_folder": [Member(f"{top}clash", b"a file"), Member(f"{top}clash/x.png", png(10))],
        "long_name": [Member(f"{top}cat/{'n' * 300}.png", png(11))],
        "long_path": [Member(f"{top}cat/{'/'.join(['p' * 200] * 22)}/x.png", png(12))],
        "macosx": [Member(f"__MACOSX/{top}cat/._0.png", b"\0\5\26\7 resource fork"), Member(".DS_Store", b"\0")],
        "hidden": [Member(f"{top}cat/.hidden.png", b"junk"), Member(f"{top}.git/config", b"[core]")],
        "dir_entries": [Member(f"{top}cat", kind="dir"), Member(f"{top}dog/", kind="dir")],
        "empty_file": [Member(f"{top}cat/empty.png")],
        "text_beside": [Member(f"{top}README.txt", b"read me")],
        "loose_image": [Member(f"{top}loose.png", png(17))],
        "nested_zip": [Member(f"{top}cat/inner.zip", inner)],
        "zip_named_png": [Member(f"{top}cat/inner.png", inner)],
        "setuid": [Member(f"{top}cat/suid.png", png(20), kind="setuid")],
    }[kind]


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


_ZIP_MODES = {"dir": 0o040755, "symlink": 0o120777, "hardlink": 0o120777, "chr": 0o020644, "fifo": 0o010644,
              "setuid": 0o104755}  # a zip has no hard links: one is written as a symbolic link


def _write_zip(archive: Path, members: list[Member]) -> None:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of a duplicate name: here the duplicate is the point
        for member in members:
            folder = member.kind == "dir" and not member.name.endswith("/")
            info = zipfile.ZipInfo(member.name + ("/" if folder else ""))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = _ZIP_MODES.get(member.kind, 0o100644) << 16
            with zf.open(info, "w", force_zip64=member.zeros > 0) as out:
                shutil.copyfileobj(_Content(member), out, _MIB)
    raw = bytearray(archive.read_bytes())
    for member in members:
        if member.patch:
            _patch_zip(raw, member)
    archive.write_bytes(bytes(raw))


# A zip's local header and central directory entry: their signature, where the name starts, and where the fields
# patched here lie, from the header's start.
_HEADERS = ((b"PK\x03\x04", 30, {"flags": 6, "method": 8, "size": 22}),
            (b"PK\x01\x02", 46, {"flags": 8, "method": 10, "size": 24}))


def _patch_zip(raw: bytearray, member: Member) -> None:
    """What zipfile would never write, in both headers of `member`: a lying size, an encryption flag, an unknown
    compression method, or name bytes that are not UTF-8 (with or without the flag that says they are)."""
    name = member.name.encode()
    at = 0
    while (at := raw.find(name, at)) >= 0:
        for signature, name_at, fields in _HEADERS:
            start = at - name_at
            if start >= 0 and raw[start:start + 4] == signature:
                if member.patch in ("lying_big", "lying_small"):
                    struct.pack_into("<I", raw, start + fields["size"], 0xFFFF_FFF0 if member.patch == "lying_big"
                                     else 1)
                elif member.patch == "encrypted":
                    raw[start + fields["flags"]] |= 0x01
                elif member.patch == "unsupported_method":
                    struct.pack_into("<H", raw, start + fields["method"], 99)
                elif member.patch == "utf8_flag_bad_name":
                    raw[start + fields["flags"] + 1] |= 0x08  # bit 11: the name is UTF-8
        if member.patch in ("utf8_flag_bad_name", "raw_bytes_name"):
            placeholder = at + name.index(_PLACEHOLDER.encode())
            raw[placeholder:placeholder + 4] = b"\xff\xfe\xfd\xfc"
        at += len(name)


_TAR_TYPES = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
              "chr": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}


def _write_tar(archive: Path, members: list[Member], mode: str) -> None:
    with tarfile.open(archive, mode, format=tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape",
                      copybufsize=_MIB) as tf:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type = _TAR_TYPES.get(member.kind, tarfile.REGTYPE)
            info.linkname = member.target
            info.mode = 0o4755 if member.kind == "setuid" else 0o644
            info.devmajor, info.devminor = (1, 5) if member.kind == "chr" else (0, 0)
            if member.patch == "lying_big":  # a header declaring 2 GiB over no bytes at all
                info.size = 2 * 1024**3
                tf.addfile(info)
                continue
            info.size = len(member.data) + member.zeros if info.type == tarfile.REGTYPE else 0
            tf.addfile(info, _Content(member) if info.size else None)


class _Content(io.RawIOBase):
    """A member's bytes as a file to read: its data (a link's target in a zip), then its zeros."""

    def __init__(self, member: Member) -> None:
        self.head = member.target.encode() if member.target else member.data
        self.zeros = member.zeros

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n], self.head = self.head[:n], self.head[n:]
        else:
            n = min(len(buffer), self.zeros)
            buffer[:n] = bytes(n)
            self.zeros -= n
        return n


def _damage(archive: Path, spec: ArchiveSpec) -> None:
    """Cut the archive or flip 16 of its bytes, in place (a plain tar may hold a gigabyte)."""
    if spec.damage == "truncate":
        os.truncate(archive, int(archive.stat().st_size * spec.damage_at))
    elif spec.damage != "none":
        size = archive.stat().st_size
        start = int(size * (0.9 + spec.damage_at / 10 if spec.damage == "flip_tail" else spec.damage_at))
        with open(archive, "r+b") as file:
            file.seek(start)
            flipped = bytes(b ^ 0x5A for b in file.read(16))
            file.seek(start)
            file.write(flipped)
