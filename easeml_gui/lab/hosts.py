"""Remote GPU hosts as a lab's admin handles them: add one (an address or a ~/.ssh/config alias), see and accept
its host key, probe it. The command line and the window call these and only show what they return.

A host's own address, user, port and key are recorded when it is added. Its jump host (ProxyJump) is not (the
store has no place for it): connections read it from ~/.ssh/config each time through the alias the host was added
by, as ssh itself does, so the jump host's pins (remote/trust.py) vouch only while the config names that server."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from ..remote.address import DEFAULT_SSH_CONFIG, Endpoint, config_aliases, resolve
from ..remote.connection import TIMEOUT_S, AskPassphrase, Credentials, Scan, connect, scan_host_key
from ..remote.errors import RemoteError
from ..remote.probe import assess, failed, run_probe
from ..remote.trust import (
    DEFAULT_KNOWN_HOSTS, HostKeyChanged, HostKeyUnknown, HostTrust, changed_warning, fingerprint_line,
)
from ..store import HostRecord, KeySource, LabStore, validate_name
from .errors import LabError


def add(store: LabStore, name: str, address: str, *, key: Path | None = None, python: str | None = None,
        ssh_config: Path = DEFAULT_SSH_CONFIG) -> HostRecord:
    """Register a host without connecting to it (trust and probe come next). `address`: `[user@]host[:port]` or
    an alias of `ssh_config`, whose HostName, User, Port and IdentityFile are recorded; --key wins over the
    alias's IdentityFile. Raises StoreError or RemoteError; nothing is registered then."""
    validate_name("host", name)  # the name's complaint before the address's
    endpoint = resolve(address, ssh_config)
    if endpoint.jump is not None and ssh_config.expanduser().absolute() != DEFAULT_SSH_CONFIG.expanduser().absolute():
        raise RemoteError(f"{address!r} is reached through the jump host {endpoint.jump.display()}, which connections "
                          f"read from {DEFAULT_SSH_CONFIG} each time: put its Host entries there, not in {ssh_config}")
    key_path = endpoint.key_path
    if key is not None:
        key = key.expanduser().absolute()
        if not key.is_file():
            raise RemoteError(f"no key file at {key}; give the private key's path with --key (e.g. ~/.ssh/id_ed25519)")
        key_path = str(key)
    return store.add_host(name, endpoint.host, user=endpoint.user, port=endpoint.port, key_path=key_path,
                          python=python or "python3", ssh_alias=endpoint.alias)


def endpoint_of(host: HostRecord) -> Endpoint:
    """Where the host is, as recorded (without its jump host: route_of)."""
    return Endpoint(host=host.address, port=host.port, user=host.user, key_path=host.key_path, alias=host.ssh_alias)


def route_of(host: HostRecord) -> Endpoint:
    """Where the host is and the jump host its alias goes through now (module docstring). Raises AddressError."""
    jump = resolve(host.ssh_alias).jump if host.ssh_alias else None
    return replace(endpoint_of(host), jump=jump)


def address_of(host: HostRecord) -> str:
    """The host's address for lists: "alice@10.1.2.3 via bob@bastion.lab", or what keeps the route unknown."""
    try:
        return route_of(host).route()
    except RemoteError as error:
        return f"{endpoint_of(host).display()} (jump host unknown: {error})"


def trust_of(store: LabStore, name: str, known_hosts: Path = DEFAULT_KNOWN_HOSTS) -> HostTrust:
    """What host `name`'s connections trust: its pins in the store, then the user's known_hosts; its jump host's
    too. Raises AddressError when ~/.ssh/config cannot say which jump host."""
    return HostTrust.load(name, route_of(store.host(name)), store.host_keys(name), known_hosts)


def aliases(ssh_config: Path = DEFAULT_SSH_CONFIG) -> list[str]:
    """The ~/.ssh/config aliases a new host may be added by."""
    return config_aliases(ssh_config)


@dataclass(frozen=True)
class KeyCheck:
    """A server's key as the admin must judge it: the line `ssh-keygen -lf` prints, and whether anybody vouches for
    it already (`source`) or it replaces a trusted key (`changed`: the warning to show). `server` names it in
    words ("gpu1 (alice@10.1.2.3)", "jump host bastion (bob@bastion.lab) of gpu1")."""

    name: str
    address: str
    scan: Scan
    line: str
    changed: str | None
    server: str

    @property
    def source(self) -> KeySource | None:
        return self.scan.source


def check_jump_key(store: LabStore, name: str, *, known_hosts: Path = DEFAULT_KNOWN_HOSTS,
                   timeout: float = TIMEOUT_S) -> KeyCheck | None:
    """The key host `name`'s jump host presents now (no login), to judge before check_key logs in to it; None when
    the host has no jump host. Raises Unreachable."""
    jump = trust_of(store, name, known_hosts).jump
    return None if jump is None else _judged(jump, scan_host_key(jump, timeout))


def check_key(store: LabStore, name: str, *, jump: Scan | None = None, ask_passphrase: AskPassphrase | None = None,
              known_hosts: Path = DEFAULT_KNOWN_HOSTS, timeout: float = TIMEOUT_S) -> KeyCheck:
    """The key host `name` presents now (no login there), put in words. Behind a jump host the connection logs in
    to the jump host first: `jump` is its key as check_jump_key read it and the admin accepted it; without it, the
    jump host must be trusted already (HostKeyUnknown or HostKeyChanged for it otherwise). Accepting the result
    pins both keys. Raises Unreachable, LoginFailed (at the jump host)."""
    trust = trust_of(store, name, known_hosts)
    through = None
    if trust.jump is not None:
        through = jump or _trusted(trust.jump, scan_host_key(trust.jump, timeout))
        trust = replace(trust, jump=trust.jump.accepting(through.key))
    found = scan_host_key(trust, timeout, Credentials(ask_passphrase=ask_passphrase))
    return _judged(trust, replace(found, jump=through))


def _trusted(trust: HostTrust, found: Scan) -> Scan:
    if found.expected is not None:
        raise HostKeyChanged(trust, found.key, found.expected)
    if found.source is None:
        raise HostKeyUnknown(trust, found.key)
    return found


def _judged(trust: HostTrust, found: Scan) -> KeyCheck:
    changed = None if found.expected is None else changed_warning(trust, found.key, found.expected)
    return KeyCheck(trust.name, trust.endpoint.display(), found, fingerprint_line(found.key, trust.label), changed,
                    trust.server)


def accept(store: LabStore, name: str, scan: Scan) -> HostRecord:
    """Pin the scanned keys, each one the admin accepted or the user's known_hosts vouched for: the jump host's
    first, so the host's own fingerprint is the one the store records last (and lists). A changed key (of either)
    replaces every earlier pin of the host; the keys just scanned are pinned again together."""
    route = [s for s in (scan.jump, scan) if s is not None]
    replacing = any(s.expected is not None for s in route)
    for index, found in enumerate(route):
        source = KeySource.KNOWN_HOSTS if found.source is KeySource.KNOWN_HOSTS else KeySource.ACCEPTED
        host = store.pin_host_key(name, found.pin_type, found.key.get_base64(), found.key.fingerprint,
                                  source=source, replace=replacing and index == 0)
    return host


def probe(store: LabStore, name: str, *, ask_passphrase: AskPassphrase | None = None,
          known_hosts: Path = DEFAULT_KNOWN_HOSTS, timeout: float = TIMEOUT_S) -> dict[str, Any]:
    """Log in, run the probe, store and return its assessment (see remote.probe.assess); a host that could not be
    probed gets its failure stored as its status ("unreachable: ...", "host key changed: refused", ...). A key
    file others may read is warned about in its notes, after the failure's message."""
    host = store.host(name)
    warnings: list[str] = []
    credentials = Credentials(key_path=Path(host.key_path) if host.key_path else None, ask_passphrase=ask_passphrase,
                              warn=warnings.append)
    try:
        with connect(trust_of(store, name, known_hosts), credentials, timeout) as client:
            result = assess(run_probe(client, host.python), host)
    except RemoteError as error:
        result = failed(error)
    result["notes"] += warnings
    store.record_probe(name, result)
    return result


def remove(store: LabStore, name: str) -> dict[str, int]:
    """Take host `name` out of the lab: deleted with its pinned keys when no task ran on it, else archived so its
    tasks keep naming it. Returns the history that kept it archived ({} when it was deleted)."""
    return store.remove_host(name)


def edit(store: LabStore, name: str, *, python: str, gpus: Sequence[int] | None) -> HostRecord:
    """The interpreter that runs the worker on the host and the GPUs tasks may use there, in the order to fill
    them (None: every GPU), in one write; a running lab picks them up."""
    return store.set_host(name, python=python, gpus=None if gpus is None else list(gpus), all_gpus=gpus is None)


def gpu_choice(text: str) -> list[int] | None:
    """ "all" (or nothing) -> None, every GPU; "2,0" -> [2, 0], those in that order."""
    words = [word.strip() for word in text.split(",") if word.strip()]
    if not words or words == ["all"]:
        return None
    if not all(word.isascii() and word.isdigit() for word in words):  # "²" passes isdigit(), int() fails
        raise LabError(f"GPUs {text.strip()!r}: give all, or GPU numbers as nvidia-smi counts them, e.g. 0,2")
    return [int(word) for word in words]
