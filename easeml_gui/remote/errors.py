"""What can go wrong with a remote host, each as a message a newcomer can act on plus a one-line status."""

from __future__ import annotations


class RemoteError(Exception):
    """A failure the user can fix. str(error) says what is wrong and what to do; `status` is the short form a
    probe reports for the host (e.g. "unreachable: timed out after 10 s")."""

    def __init__(self, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.status = status or message


class AddressError(RemoteError):
    """An address or ~/.ssh/config entry that cannot be used."""


class Unreachable(RemoteError):
    """No SSH server answered at the address."""


class LoginFailed(RemoteError):
    """The server answered but refused every key (or a key could not be opened)."""


class RemoteCommandFailed(RemoteError):
    """A command on the host failed or timed out."""
