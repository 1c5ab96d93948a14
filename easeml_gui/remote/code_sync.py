"""Shipping the worker code: the package's files go to `<root>/code/<hash of the files>/easeml_gui/` on the host,
only when that version is not there yet (one tar, sent as transfer.py chooses, unpacked into a folder of the
sender's own and renamed into place with its `.complete` marker, so a transfer cut short is simply redone)."""

from __future__ import annotations

import hashlib
import io
import secrets
import tarfile
from functools import lru_cache
from pathlib import Path

import easeml_gui

from .errors import RemoteCommandFailed
from .session import HostLink
from .transfer import FileTransfer

PACKAGE = Path(easeml_gui.__file__).resolve().parent
MARKER = ".complete"


def package_files(package: Path = PACKAGE) -> list[Path]:
    """Every file of the package but compiled caches, in a stable order."""
    return sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and p.suffix not in (".pyc", ".pyo"))


@lru_cache(maxsize=None)
def code_version(package: Path = PACKAGE) -> str:
    """A hash of the package's paths and contents: another version of the code is another folder on the host."""
    digest = hashlib.sha256()
    for path in package_files(package):
        digest.update(f"{path.relative_to(package).as_posix()}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:20]


def _tarball(package: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in package_files(package):
            tar.add(path, arcname=f"{package.name}/{path.relative_to(package).as_posix()}", recursive=False)
    return buffer.getvalue()


def ensure_code(link: HostLink, root: str, package: Path = PACKAGE) -> tuple[str, bool]:
    """The host's folder of this code version (what PYTHONPATH names there), sent first if missing; and
    whether it was sent."""
    folder = f"{root}/code/{code_version(package)}"
    if link.files(lambda files: files.exists(f"{folder}/{MARKER}")):
        return folder, False
    # Unpacked into this sender's own folder and renamed into place whole: hosts that share one root (an NFS
    # home) may send the same version at the same moment, and a worker never sees a half-unpacked folder.
    staging = f"{folder}.sending-{secrets.token_hex(6)}"
    archive = f"{staging}.tar.gz"
    done = link.run(["mkdir", "-p", staging], timeout=30)
    if done.returncode == 0:
        link.files(lambda files: files.write(archive, _tarball(package)))
        done = link.run(["tar", "-xzf", archive, "-C", staging], timeout=120)
    if done.returncode != 0:
        link.run(["rm", "-rf", staging, archive], timeout=60)
        raise RemoteCommandFailed(
            f"could not unpack the worker code into {folder} on {link.name}: "
            f"{done.stderr.decode(errors='replace').strip() or f'exit status {done.returncode}'}; "
            "check the host's free disk and that the folder is writable", status="code sync failed")

    def install(files: FileTransfer) -> bool:
        files.write(f"{staging}/{MARKER}", b"")
        files.remove(archive)
        try:
            files.rename(staging, folder)
            return True
        except OSError:
            if files.exists(f"{folder}/{MARKER}"):
                return False  # another sender's copy landed first: the same files
            raise

    installed = link.files(install)
    if not installed:
        link.run(["rm", "-rf", staging], timeout=60)
    return folder, installed
