"""Moving files to and from a host: over SFTP when its sshd offers the subsystem, else over exec channels, as
Ansible's "smart" transfer does (hardened hosts often run sshd without SFTP): an upload is a one-member tar fed to
`tar -x -C DIR` on stdin, a download `tail -c` of the file on stdout. Which one a connection uses is chosen once,
when it first moves a file (session.py). Both raise FileNotFoundError for a missing file and OSError when the
host could not write one (a full disk); every remote word is quoted (shell.py)."""

from __future__ import annotations

import errno
import io
import tarfile
import threading
from pathlib import Path, PurePosixPath
from typing import Protocol

import paramiko

from .errors import Unreachable
from .shell import Completed, run

TRANSFER_TIMEOUT_S = 3600.0  # one upload or download over an exec channel; a dead connection ends it sooner
NO_SFTP = "no SFTP subsystem: files go over an exec channel (tar)"  # what the probe notes of such a host

# Bytes of a file from $2 (tail's "+N": from byte N, 1-based; "N": the last N), at most $3 of them (all when
# empty); exit 66 when it is missing, 77 when it cannot be read. A constant script: the path is data ($1).
_READ = ('test -e "$1" || exit 66; test -r "$1" || exit 77; '
         'tail -c "$2" -- "$1" | if [ -n "$3" ]; then head -c "$3"; else cat; fi')
_MISSING, _UNREADABLE = 66, 77


class FileTransfer(Protocol):
    """The file operations the SSH executor and the syncs use; paths are the host's, absolute."""

    closed: bool  # True once it can no longer be used on its connection

    def home(self) -> str:
        """The remote user's home folder, resolved."""

    def exists(self, path: str) -> bool: ...

    def write(self, path: str, data: bytes) -> None:
        """`data` as the file `path` (its folder exists), replacing one there."""

    def read(self, path: str, start: int = 0, size: int | None = None) -> bytes:
        """At most `size` bytes (None: all) from byte `start`; a negative `start` counts from the end."""

    def download(self, path: str, local: Path) -> None: ...

    def rename(self, source: str, target: str) -> None:
        """POSIX rename: replaces a file, fails (OSError) onto a folder that is not empty."""

    def remove(self, path: str) -> None: ...

    def close(self) -> None: ...


class SftpTransfer:
    """Over one SFTP session; a lock makes it safe for threads (paramiko's SFTPClient is not)."""

    def __init__(self, sftp: paramiko.SFTPClient) -> None:
        self._sftp = sftp
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        return self._sftp.get_channel().closed

    def home(self) -> str:
        with self._lock:
            return self._sftp.normalize(".")

    def exists(self, path: str) -> bool:
        with self._lock:
            try:
                self._sftp.stat(path)
                return True
            except FileNotFoundError:
                return False

    def write(self, path: str, data: bytes) -> None:
        with self._lock:
            self._sftp.putfo(io.BytesIO(data), path)

    def read(self, path: str, start: int = 0, size: int | None = None) -> bytes:
        with self._lock, self._sftp.open(path, "rb") as stream:
            stream.seek(start if start >= 0 else max(0, stream.stat().st_size + start))
            return stream.read(size)

    def download(self, path: str, local: Path) -> None:
        with self._lock:
            self._sftp.get(path, str(local))

    def rename(self, source: str, target: str) -> None:
        with self._lock:
            self._sftp.posix_rename(source, target)

    def remove(self, path: str) -> None:
        with self._lock:
            self._sftp.remove(path)

    def close(self) -> None:
        self._sftp.close()


class ExecTransfer:
    """Over a command channel per operation (thread-safe: channels are independent); needs only POSIX sh, tar,
    tail and head on the host, and GNU mv (-T) for renames."""

    closed = False  # it lives as long as its connection (a new connection chooses again)

    def __init__(self, client: paramiko.SSHClient) -> None:
        self._client = client

    def home(self) -> str:
        return self._checked(["pwd", "-P"], "read the home folder").stdout.decode().rstrip("\n")

    def exists(self, path: str) -> bool:
        return self._run(["test", "-e", path]).returncode == 0

    def write(self, path: str, data: bytes) -> None:
        target = PurePosixPath(path)
        self._checked(["tar", "-x", "--no-same-owner", "-f", "-", "-C", str(target.parent)],
                      f"write {path}", stdin=_one_member_tar(target.name, data))

    def read(self, path: str, start: int = 0, size: int | None = None) -> bytes:
        origin = f"+{start + 1}" if start >= 0 else str(-start)
        done = self._run(["sh", "-c", _READ, "sh", path, origin, "" if size is None else str(size)])
        if done.returncode == _MISSING:
            raise FileNotFoundError(errno.ENOENT, "no such file on the host", path)
        if done.returncode == _UNREADABLE:
            raise PermissionError(errno.EACCES, "not readable on the host", path)
        _check(done, f"read {path}")
        return done.stdout

    def download(self, path: str, local: Path) -> None:
        local.write_bytes(self.read(path))

    def rename(self, source: str, target: str) -> None:
        # -T: rename(2)'s meaning (onto a non-empty folder it fails), not "move into the folder `target`".
        self._checked(["mv", "-f", "-T", "--", source, target], f"rename {source} to {target}")

    def remove(self, path: str) -> None:
        self._checked(["rm", "-f", "--", path], f"remove {path}")

    def close(self) -> None:
        pass  # nothing of its own: the connection is the link's

    def _run(self, argv: list[str], stdin: bytes = b"") -> Completed:
        return run(self._client, argv, stdin=stdin, timeout=TRANSFER_TIMEOUT_S)

    def _checked(self, argv: list[str], what: str, stdin: bytes = b"") -> Completed:
        return _check(self._run(argv, stdin), what)


def _check(done: Completed, what: str) -> Completed:
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        raise OSError(f"could not {what} on the host: {why}")
    return done


def _one_member_tar(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        member = tarfile.TarInfo(name)
        member.size, member.mode = len(data), 0o644
        tar.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def open_transfer(client: paramiko.SSHClient, timeout: float) -> FileTransfer:
    """SFTP when the server offers it, else exec channels. A server without the subsystem closes the channel
    ("Channel closed."), the connection staying up; a connection that went down raises Unreachable."""
    try:
        sftp = client.open_sftp()
    except paramiko.SSHException as error:
        transport = client.get_transport()
        if transport is None or not transport.is_active():
            raise Unreachable(f"lost the connection while opening a file transfer: {error}",
                              status="unreachable: connection lost") from None
        return ExecTransfer(client)
    sftp.get_channel().settimeout(timeout)
    return SftpTransfer(sftp)


def offers_sftp(client: paramiko.SSHClient, timeout: float) -> bool:
    """Whether the host's sshd offers SFTP (the probe notes it when not: files then go over exec channels)."""
    transfer = open_transfer(client, timeout)
    transfer.close()
    return isinstance(transfer, SftpTransfer)
