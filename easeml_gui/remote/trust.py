"""Host-key trust: the keys a host may present, pinned in our store (plus what ~/.ssh/known_hosts already holds,
read, never written), their fingerprints as `ssh-keygen -lf` prints them, and the refusals."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import paramiko

from ..store import KeySource, PinnedKey
from .address import Endpoint
from .errors import RemoteError

DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts")


def fingerprint_line(key: paramiko.PKey, label: str) -> str:
    """The line `ssh-keygen -lf` prints for a key: "256 SHA256:<base64, no padding> LABEL (ED25519)"."""
    return f"{key.get_bits()} {key.fingerprint} {label} ({key.algorithm_name})"


def known_hosts_name(endpoint: Endpoint) -> str:
    """How ssh names a server in known_hosts: the host alone on port 22, else "[host]:port"."""
    return endpoint.host if endpoint.port == 22 else f"[{endpoint.host}]:{endpoint.port}"


def key_of(pin: PinnedKey) -> paramiko.PKey:
    return paramiko.PKey.from_type_string(pin.key_type, base64.b64decode(pin.key_base64))


@dataclass(frozen=True)
class TrustedKey:
    key: paramiko.PKey
    source: KeySource  # KNOWN_HOSTS also for a key found in the file and not pinned


@dataclass(frozen=True)
class HostTrust:
    """Everything one host's connections trust: its pins first (so the pinned key type is negotiated), then key
    types only the user's known_hosts holds."""

    name: str  # our host name, for messages
    endpoint: Endpoint
    keys: tuple[TrustedKey, ...]

    @classmethod
    def load(cls, name: str, endpoint: Endpoint, pins: Sequence[PinnedKey],
             known_hosts: Path = DEFAULT_KNOWN_HOSTS) -> "HostTrust":
        keys = [TrustedKey(key_of(p), p.source) for p in pins]
        pinned_types = {k.key.get_name() for k in keys}
        path = known_hosts.expanduser()
        try:
            # HostKeys reads hashed entries too; a line it cannot parse is skipped, as ssh does.
            found = paramiko.HostKeys(str(path)).lookup(known_hosts_name(endpoint)) if path.is_file() else None
        except OSError as error:
            raise RemoteError(f"cannot read {path} ({error.strerror}); check its permissions") from None
        for key_type, key in (found or {}).items():
            if key_type not in pinned_types:
                keys.append(TrustedKey(key, KeySource.KNOWN_HOSTS))
        return cls(name, endpoint, tuple(keys))

    def install(self, client: paramiko.SSHClient) -> None:
        """Give the client these keys to check the server against (in memory: nothing is saved)."""
        for trusted in self.keys:
            client.get_host_keys().add(known_hosts_name(self.endpoint), trusted.key.get_name(), trusted.key)

    def source_of(self, key: paramiko.PKey) -> KeySource | None:
        """Who vouches for `key` (our pin, or the user's known_hosts); None when nobody does."""
        return next((t.source for t in self.keys if t.key == key), None)


class HostKeyUnknown(RemoteError):
    """The host presented a key nobody vouches for yet; `key` is that key, to show and perhaps accept."""

    def __init__(self, trust: HostTrust, key: paramiko.PKey) -> None:
        super().__init__(
            f"the host key of {trust.name} ({trust.endpoint.display()}) is not trusted yet: run "
            f"`easeml-gui host trust {trust.name}` to see its fingerprint and accept it",
            status=f"host key not trusted yet: run easeml-gui host trust {trust.name}",
        )
        self.key = key


def changed_warning(trust: HostTrust, key: paramiko.PKey, expected: paramiko.PKey) -> str:
    """What a changed host key means and how to check it, before any re-trust."""
    return (
        f"HOST KEY CHANGED for {trust.name} ({trust.endpoint.display()}): the connection was refused.\n"
        f"  the host now presents: {fingerprint_line(key, trust.name)}\n"
        f"  easeml-gui trusts:     {fingerprint_line(expected, trust.name)}\n"
        "This may mean the host was reinstalled (or its SSH keys regenerated), or that someone is intercepting the "
        "connection (a man-in-the-middle attack). Check the new fingerprint out of band: ask the host's admin to "
        "run `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host itself."
    )


class HostKeyChanged(RemoteError):
    """The host presented another key than the one trusted: refused, loudly."""

    def __init__(self, trust: HostTrust, key: paramiko.PKey, expected: paramiko.PKey) -> None:
        super().__init__(
            changed_warning(trust, key, expected)
            + f" Only if it matches, re-trust the host with `easeml-gui host trust {trust.name}`.",
            status="host key changed: refused",
        )
        self.key = key
        self.expected = expected


class RejectUnknown(paramiko.MissingHostKeyPolicy):
    """paramiko's RejectPolicy that says which key it rejected: `host trust` shows it for the admin to accept."""

    def __init__(self, trust: HostTrust) -> None:
        self._trust = trust

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise HostKeyUnknown(self._trust, key)
