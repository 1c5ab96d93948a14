"""Dataset copies ON THE HOST, kept by content: `python -m easeml_gui.remote.host_datasets COMMAND` from the synced
worker code, a JSON request on stdin, a JSON answer on stdout. Standard library only.

Layout under the host's root:
  objects/<sha256>          each file once per host, whatever dataset it belongs to; it arrives in a bundle
                            (objects/bundle-*.tar: <sha256>.part members), is unpacked as objects/<sha256>.part
                            and renamed only after its sha256 was checked here
  datasets/<content hash>/  a registered dataset folder (hard links to the objects, and its manifest.json) that
                            the worker's load_dataset reads; its .verified marker is written last

  plan   {"root", "hash", "files": [[path, size, sha256]]}  -> {"ready": true} when the dataset folder is there
         (marker present, every file its size), else {"ready": false, "missing": [sha256...]}: the objects still
         to send, after re-hashing every object there (a corrupted one is removed; a complete .part is kept)
  finish {"root", "hash", "files", "manifest"}  check the sent .parts, then build the dataset folder
         -> {"ready": true} or {"ready": false, "missing": [...]} (parts that did not arrive whole)
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sys
import tarfile
import time
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Mapping, Sequence

from .host_commands import Command, serve

MARKER = ".verified"
MANIFEST = "manifest.json"  # training/datasets.py's MANIFEST_NAME (not imported: that module needs numpy)
# A bundle still .tar.part this long after its last write was cut short by a drop; a younger one may be another
# sender's, in flight (hosts sharing one root through an NFS home sync at once).
ABANDONED_BUNDLE_SECONDS = 6 * 3600


def _dataset(root: Path, content_hash: str) -> Path:
    if not all(c in "0123456789abcdef" for c in content_hash) or not content_hash:
        raise ValueError(f"not a content hash: {content_hash!r}")
    return root / "datasets" / content_hash


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _relative(path: str) -> PurePosixPath:
    """A manifest path is data: it must stay inside the dataset folder."""
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"unsafe path in the manifest: {path!r}")
    return rel


@contextmanager
def objects_locked(root: Path) -> Iterator[Path]:
    """The root's objects folder, held by this command alone until the block ends: hosts that share one root (an
    NFS home, where flock works through the client's POSIX locks) unpack, check and link objects one at a time."""
    objects = root / "objects"
    objects.mkdir(parents=True, exist_ok=True)
    with open(objects / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield objects


def have_object(objects: Path, sha: str, size: int) -> bool:
    """Whether the object is there and whole: verified now (a complete .part is checked and renamed)."""
    final, part = objects / sha, objects / f"{sha}.part"
    for candidate in (final, part):
        if candidate.is_file() and candidate.stat().st_size == size and sha256_of(candidate) == sha:
            if candidate is part:
                os.replace(part, final)
            return True
        candidate.unlink(missing_ok=True)  # corrupted, or cut short by a dropped transfer: sent again
    return False


def unpack_bundles(objects: Path) -> None:
    """Sent bundles (tars of <sha256>.part members, renamed to .tar only once whole) into .part objects; a bundle
    cut short by a drop (still .tar.part long after) is dropped and its objects sent again. Members are data: only
    names of the form <64 hex>.part and plain files are taken. Call it holding objects_locked."""
    for part in objects.glob("bundle-*.tar.part"):
        if time.time() - part.stat().st_mtime > ABANDONED_BUNDLE_SECONDS:
            part.unlink(missing_ok=True)
    for path in sorted(objects.glob("bundle-*.tar")):
        with tarfile.open(path) as bundle:
            for member in bundle.getmembers():
                sha = member.name[:-len(".part")]
                if member.isfile() and member.name.endswith(".part") and len(sha) == 64 and \
                        all(c in "0123456789abcdef" for c in sha):
                    with bundle.extractfile(member) as data, open(objects / member.name, "wb") as out:
                        shutil.copyfileobj(data, out)
        path.unlink()


def _objects(files: Sequence[Sequence[Any]]) -> dict[str, int]:
    return {sha: int(size) for _, size, sha in files}


def _ready(dataset: Path, files: Sequence[Sequence[Any]]) -> bool:
    return (dataset / MARKER).is_file() and all(
        (dataset / _relative(path)).is_file() and (dataset / _relative(path)).stat().st_size == int(size)
        for path, size, _ in files)


def _missing(objects: Path, files: Sequence[Sequence[Any]]) -> list[str]:
    unpack_bundles(objects)  # what this or an earlier, interrupted sync sent whole
    return sorted(sha for sha, size in _objects(files).items() if not have_object(objects, sha, size))


def plan(request: Mapping[str, Any]) -> dict[str, Any]:
    root = Path(request["root"])
    dataset = _dataset(root, request["hash"])
    files = request["files"]
    with objects_locked(root) as objects:
        if _ready(dataset, files):
            return {"ready": True}
        (dataset / MARKER).unlink(missing_ok=True)  # not trusted until rebuilt
        return {"ready": False, "missing": _missing(objects, files)}


def finish(request: Mapping[str, Any]) -> dict[str, Any]:
    root = Path(request["root"])
    dataset = _dataset(root, request["hash"])
    files = request["files"]
    with objects_locked(root) as objects:
        if _ready(dataset, files):
            return {"ready": True}  # built meanwhile by another host sharing this root
        missing = _missing(objects, files)
        if missing:
            return {"ready": False, "missing": missing}
        _build(dataset, objects, files, request["manifest"])
    return {"ready": True}


def _build(dataset: Path, objects: Path, files: Sequence[Sequence[Any]], manifest: str) -> None:
    """The dataset folder of hard links to checked objects, staged and renamed into place with its marker."""
    stage = dataset.with_name(f".{dataset.name}.building-{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    for path, _, sha in files:
        target = stage / _relative(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(objects / sha, target)
        except OSError:  # a file system without hard links: a copy costs disk, not correctness
            shutil.copyfile(objects / sha, target)
    (stage / MANIFEST).write_text(manifest)
    (stage / MARKER).write_text("")
    if dataset.exists():  # an older, broken copy: out of the way first, then replaced in one rename
        old = dataset.with_name(f".{dataset.name}.old-{os.getpid()}")
        os.replace(dataset, old)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(stage, dataset)


COMMANDS: dict[str, Command] = {"plan": plan, "finish": finish}


if __name__ == "__main__":
    sys.exit(serve(__spec__.name, COMMANDS, sys.argv[1:]))
