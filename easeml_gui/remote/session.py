"""One long-lived SSH connection to a host, shared by all of its tasks: commands on channels of their own, files
over one SFTP session or, where the host offers none, over exec channels (transfer.py), reopened on demand after a
drop. Any failure of the connection itself becomes Unreachable, so callers tell "the host is away" from "a command
failed". Behind a jump host the connection is two (connect() opens and closes them together): the jump host's
ending ends the host's, and the reopen opens both again."""

from __future__ import annotations

import json
import socket
import threading
from contextlib import ExitStack
from typing import Any, Callable, Mapping, Sequence, TypeVar

import paramiko

from .connection import TIMEOUT_S, Credentials, connect
from .errors import RemoteCommandFailed, Unreachable
from .shell import Completed, run
from .transfer import FileTransfer, open_transfer
from .trust import HostTrust

T = TypeVar("T")
CALL_TIMEOUT_S = 120.0
_DROPS = (paramiko.SSHException, socket.error, EOFError, OSError)  # what a dead connection raises mid-use


class HostLink:
    """A host's connection; thread-safe (one lock guards opening it, another choosing its file transfer)."""

    def __init__(self, trust: HostTrust, credentials: Credentials, timeout: float = TIMEOUT_S) -> None:
        self.name = trust.name
        self._trust, self._credentials, self._timeout = trust, credentials, timeout
        self._lock = threading.Lock()
        self._files_lock = threading.Lock()
        self._stack: ExitStack | None = None
        self._client: paramiko.SSHClient | None = None
        self._files: FileTransfer | None = None
        self.connects = 0  # how many times a connection was opened (tests count reconnects)

    def client(self, timeout: float | None = None) -> paramiko.SSHClient:
        """The open connection, opened now if there is none (raises Unreachable, HostKeyChanged, LoginFailed)."""
        with self._lock:
            transport = self._client.get_transport() if self._client is not None else None
            if transport is not None and transport.is_active():
                return self._client  # type: ignore[return-value]
            self._close_locked()
            stack = ExitStack()
            self._client = stack.enter_context(connect(self._trust, self._credentials, timeout or self._timeout))
            self._client.get_transport().set_keepalive(5)  # a silent drop shows within seconds
            self._stack = stack
            self.connects += 1
            return self._client

    @property
    def timeout(self) -> float:
        return self._timeout

    def run(self, argv: Sequence[str], *, stdin: bytes = b"", timeout: float = CALL_TIMEOUT_S) -> Completed:
        return self._guard(lambda: run(self.client(), argv, stdin=stdin, timeout=timeout))

    def files(self, use: Callable[[FileTransfer], T]) -> T:
        """Run `use` with the connection's file transfer: SFTP, or exec channels where the host has no SFTP."""
        return self._guard(lambda: use(self._transfer()))

    def _transfer(self) -> FileTransfer:
        with self._files_lock:
            client = self.client()
            if self._files is None or self._files.closed:
                self._files = open_transfer(client, self._timeout)
            return self._files

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        stack, self._stack, self._client, self._files = self._stack, None, None, None
        if stack is not None:
            stack.close()

    def _guard(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except (Unreachable, RemoteCommandFailed, FileNotFoundError, PermissionError):
            raise
        except _DROPS as error:
            transport = self._client.get_transport() if self._client is not None else None
            if isinstance(error, OSError) and not isinstance(error, TimeoutError) and transport is not None \
                    and transport.is_active():  # the connection is fine: a file could not be written (disk full)
                raise RemoteCommandFailed(f"on {self.name}: {error}", status=f"file transfer failed: {error}") from None
            self.close()
            raise Unreachable(f"lost the connection to {self.name}: {error or type(error).__name__}",
                              status="unreachable: connection lost") from None


def call(link: HostLink, python: str, code: str, module: str, command: str, request: Mapping[str, Any],
         timeout: float = CALL_TIMEOUT_S) -> dict[str, Any]:
    """Run `python -m module command` on the host with the synced code folder `code` first on its path, the
    request as JSON on stdin; its JSON answer. Every word is quoted (remote/shell.py): names are data."""
    done = link.run(["env", f"PYTHONPATH={code}", python, "-m", module, command],
                    stdin=json.dumps(request).encode(), timeout=timeout)
    if done.returncode != 0:
        tail = " / ".join(done.stderr.decode(errors="replace").strip().splitlines()[-3:])
        raise RemoteCommandFailed(f"{module} {command} failed on {link.name} (exit status {done.returncode}): "
                                  f"{tail or 'no output'}", status=f"{command} failed: {tail[-200:]}")
    return json.loads(done.stdout)
