"""Running one command on a host: every word quoted (names are data, never shell), stdin fed, both outputs read
as they come, a deadline."""

from __future__ import annotations

import select
import shlex
import time
from dataclasses import dataclass
from typing import Sequence

import paramiko

from .errors import RemoteCommandFailed


def command_line(argv: Sequence[str]) -> str:
    """`argv` as one shell line, each word quoted; a leading `~/` stays the remote user's home (as ssh users
    expect of `--python ~/venv/bin/python`), the rest of that word quoted."""
    return " ".join('"$HOME"/' + shlex.quote(a[2:]) if a.startswith("~/") else shlex.quote(a) for a in argv)


@dataclass(frozen=True)
class Completed:
    returncode: int  # -1 when the host sent no exit status (the process was killed by a signal)
    stdout: bytes
    stderr: bytes


def run(client: paramiko.SSHClient, argv: Sequence[str], *, stdin: bytes = b"", timeout: float) -> Completed:
    """Run `argv` on the host, feeding `stdin`; raise RemoteCommandFailed when it outlasts `timeout` seconds."""
    deadline = time.monotonic() + timeout
    channel = client.get_transport().open_session(timeout=timeout)
    try:
        channel.exec_command(command_line(argv))
        channel.sendall(stdin)
        channel.shutdown_write()
        out, err = bytearray(), bytearray()
        while True:
            # Drain both streams before waiting: a full stderr must never stall a reader of stdout.
            while channel.recv_ready():
                out += channel.recv(65536)
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
            if channel.exit_status_ready() or channel.closed:
                if not (channel.recv_ready() or channel.recv_stderr_ready()):
                    break
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise RemoteCommandFailed(f"`{argv[0]}` on the host did not finish within {timeout:g} s",
                                          status=f"timed out after {timeout:g} s: {argv[0]}")
            select.select([channel], [], [], left)  # the channel's fd wakes on either stream and on close
        return Completed(channel.recv_exit_status(), bytes(out), bytes(err))
    finally:
        channel.close()
