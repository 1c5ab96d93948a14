"""Host-key trust: the keys a host may present, pinned in our store (plus what ~/.ssh/known_hosts already holds,
read, never written), their fingerprints as `ssh-keygen -lf` prints them, and the refusals.

A host reached through a jump host (ProxyJump) trusts two servers, each checked the same way: the jump host's key
when we connect to it, then the host's own key inside the forwarded channel. Neither is ever accepted unseen:
`host trust NAME` shows the jump host's fingerprint first (before logging in to it), then the host's, and pins
both once both are accepted (or vouched for by known_hosts). The jump host's pins belong to the host reached
through it and are stored in that host's host_keys rows, known_hosts-style, under a marked key type:
`@jump/<the jump host's known_hosts name>/<key type>`, e.g. `@jump/[bastion.lab]:2200/ssh-ed25519` (a key type
holds no "/", and neither does a host name). So they go when the host goes, and, as in known_hosts, they vouch
for that address only: when ~/.ssh/config sends the host through another jump host, that one is unknown until
trusted; a jump host presenting another key than the pinned one is refused as loudly as a changed host key."""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import paramiko

from ..store import KeySource, PinnedKey
from .address import Endpoint
from .errors import RemoteError

DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts")
JUMP_PIN = "@jump/"  # marks a jump host's pin (module docstring)


def fingerprint_line(key: paramiko.PKey, label: str) -> str:
    """The line `ssh-keygen -lf` prints for a key: "256 SHA256:<base64, no padding> LABEL (ED25519)"."""
    return f"{key.get_bits()} {key.fingerprint} {label} ({key.algorithm_name})"


def known_hosts_name(endpoint: Endpoint) -> str:
    """How ssh names a server in known_hosts: the host alone on port 22, else "[host]:port"."""
    return endpoint.host if endpoint.port == 22 else f"[{endpoint.host}]:{endpoint.port}"


def key_of(pin: PinnedKey) -> paramiko.PKey:
    return paramiko.PKey.from_type_string(pin.key_type.rpartition("/")[2], base64.b64decode(pin.key_base64))


@dataclass(frozen=True)
class TrustedKey:
    key: paramiko.PKey
    source: KeySource  # KNOWN_HOSTS also for a key found in the file and not pinned


@dataclass(frozen=True)
class HostTrust:
    """Everything one server's connections trust: its pins first (so the pinned key type is negotiated), then key
    types only the user's known_hosts holds; for a host behind a jump host, the jump host's trust too."""

    name: str  # our host's name: for messages, and the `host trust NAME` they suggest
    endpoint: Endpoint
    keys: tuple[TrustedKey, ...]
    jump: HostTrust | None = None  # the jump host's trust, when `endpoint` is reached through one
    is_jump: bool = False  # this is the jump host of host `name`

    @classmethod
    def load(cls, name: str, endpoint: Endpoint, pins: Sequence[PinnedKey],
             known_hosts: Path = DEFAULT_KNOWN_HOSTS, *, is_jump: bool = False) -> "HostTrust":
        """The trust of host `name` (its jump host's too) from the host's pins and the user's known_hosts."""
        jump = None if endpoint.jump is None else cls.load(name, endpoint.jump, pins, known_hosts, is_jump=True)
        trust = cls(name, endpoint, (), jump, is_jump)
        keys = [TrustedKey(key_of(p), p.source) for p in pins if trust._owns(p)]
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
        return replace(trust, keys=tuple(keys))

    @property
    def label(self) -> str:
        """What the server is called in fingerprint lines: our host's name, or the jump host's alias."""
        return (self.endpoint.alias or self.endpoint.host) if self.is_jump else self.name

    @property
    def server(self) -> str:
        """The server in messages: "gpu1 (alice@10.1.2.3)" or "jump host bastion (bob@bastion.lab) of gpu1"."""
        where = f"{self.label} ({self.endpoint.display()})"
        return f"jump host {where} of {self.name}" if self.is_jump else where

    @property
    def what(self) -> str:
        """Whose key a status line is about: "host key" or "jump host key"."""
        return "jump host key" if self.is_jump else "host key"

    def pin_type(self, key: paramiko.PKey) -> str:
        """The host_keys key type that pins `key` for this server (module docstring)."""
        return f"{self._pin_prefix()}{key.get_name()}"

    def _pin_prefix(self) -> str:
        return f"{JUMP_PIN}{known_hosts_name(self.endpoint)}/" if self.is_jump else ""

    def _owns(self, pin: PinnedKey) -> bool:
        prefix = self._pin_prefix()
        return pin.key_type.startswith(prefix) and "/" not in pin.key_type[len(prefix):]

    def accepting(self, key: paramiko.PKey) -> "HostTrust":
        """This trust plus `key`, just accepted by the admin (in memory: the pin is written once the whole route
        is accepted). It replaces a trusted key of its type (a changed key the admin re-trusts)."""
        others = tuple(t for t in self.keys if t.key.get_name() != key.get_name())
        return replace(self, keys=(TrustedKey(key, KeySource.ACCEPTED), *others))

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
            f"the host key of {trust.server} is not trusted yet: run `easeml-gui host trust {trust.name}` to see "
            "its fingerprint and accept it",
            status=f"{trust.what} not trusted yet: run easeml-gui host trust {trust.name}",
        )
        self.trust = trust  # whose key: the host's, or its jump host's
        self.key = key


def changed_warning(trust: HostTrust, key: paramiko.PKey, expected: paramiko.PKey) -> str:
    """What a changed host key means and how to check it, before any re-trust."""
    return (
        f"HOST KEY CHANGED for {trust.server}: the connection was refused.\n"
        f"  the host now presents: {fingerprint_line(key, trust.label)}\n"
        f"  easeml-gui trusts:     {fingerprint_line(expected, trust.label)}\n"
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
            status=f"{trust.what} changed: refused",
        )
        self.trust = trust
        self.key = key
        self.expected = expected


class RejectUnknown(paramiko.MissingHostKeyPolicy):
    """paramiko's RejectPolicy that says which key it rejected: `host trust` shows it for the admin to accept."""

    def __init__(self, trust: HostTrust) -> None:
        self._trust = trust

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise HostKeyUnknown(self._trust, key)
