"""Remote GPU hosts as a lab's admin handles them: add one (an address or a ~/.ssh/config alias), see and accept
its host key, probe it. The command line and the window call these and only show what they return."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..remote.address import DEFAULT_SSH_CONFIG, Endpoint, config_aliases, resolve
from ..remote.connection import TIMEOUT_S, AskPassphrase, Credentials, Scan, connect, scan_host_key
from ..remote.errors import RemoteError
from ..remote.probe import assess, failed, run_probe
from ..remote.trust import DEFAULT_KNOWN_HOSTS, HostTrust, changed_warning, fingerprint_line
from ..store import HostRecord, KeySource, LabStore, validate_name


def add(store: LabStore, name: str, address: str, *, key: Path | None = None, python: str | None = None,
        ssh_config: Path = DEFAULT_SSH_CONFIG) -> HostRecord:
    """Register a host without connecting to it (trust and probe come next). `address`: `[user@]host[:port]` or
    an alias of `ssh_config`, whose HostName, User, Port and IdentityFile are recorded; --key wins over the
    alias's IdentityFile. Raises StoreError or RemoteError; nothing is registered then."""
    validate_name("host", name)  # the name's complaint before the address's
    endpoint = resolve(address, ssh_config)
    key_path = endpoint.key_path
    if key is not None:
        key = key.expanduser().absolute()
        if not key.is_file():
            raise RemoteError(f"no key file at {key}; give the private key's path with --key (e.g. ~/.ssh/id_ed25519)")
        key_path = str(key)
    return store.add_host(name, endpoint.host, user=endpoint.user, port=endpoint.port, key_path=key_path,
                          python=python or "python3", ssh_alias=endpoint.alias)


def endpoint_of(host: HostRecord) -> Endpoint:
    return Endpoint(host=host.address, port=host.port, user=host.user, key_path=host.key_path, alias=host.ssh_alias)


def trust_of(store: LabStore, name: str, known_hosts: Path = DEFAULT_KNOWN_HOSTS) -> HostTrust:
    """What host `name`'s connections trust: its pins in the store, then the user's known_hosts."""
    return HostTrust.load(name, endpoint_of(store.host(name)), store.host_keys(name), known_hosts)


def scan(store: LabStore, name: str, *, known_hosts: Path = DEFAULT_KNOWN_HOSTS,
         timeout: float = TIMEOUT_S) -> tuple[HostTrust, Scan]:
    """The key host `name` presents now (no login) and who vouches for it. Raises Unreachable."""
    trust = trust_of(store, name, known_hosts)
    return trust, scan_host_key(trust, timeout)


def aliases(ssh_config: Path = DEFAULT_SSH_CONFIG) -> list[str]:
    """The ~/.ssh/config aliases a new host may be added by."""
    return config_aliases(ssh_config)


@dataclass(frozen=True)
class KeyCheck:
    """A host's key as the admin must judge it: the line `ssh-keygen -lf` prints, and whether anybody vouches for
    it already (`source`) or it replaces a trusted key (`changed`: the warning to show)."""

    name: str
    address: str
    scan: Scan
    line: str
    changed: str | None

    @property
    def source(self) -> KeySource | None:
        return self.scan.source


def check_key(store: LabStore, name: str, *, known_hosts: Path = DEFAULT_KNOWN_HOSTS,
              timeout: float = TIMEOUT_S) -> KeyCheck:
    """scan() put in words. Raises Unreachable."""
    trust, found = scan(store, name, known_hosts=known_hosts, timeout=timeout)
    changed = None if found.expected is None else changed_warning(trust, found.key, found.expected)
    return KeyCheck(name, trust.endpoint.display(), found, fingerprint_line(found.key, name), changed)


def accept(store: LabStore, name: str, scan: Scan) -> HostRecord:
    """Pin the scanned key: the admin accepted it, or the user's known_hosts vouched for it. A changed key
    replaces every earlier pin."""
    key = scan.key
    source = KeySource.KNOWN_HOSTS if scan.source is KeySource.KNOWN_HOSTS else KeySource.ACCEPTED
    return store.pin_host_key(name, key.get_name(), key.get_base64(), key.fingerprint, source=source,
                              replace=scan.expected is not None)


def probe(store: LabStore, name: str, *, ask_passphrase: AskPassphrase | None = None,
          known_hosts: Path = DEFAULT_KNOWN_HOSTS, timeout: float = TIMEOUT_S) -> dict[str, Any]:
    """Log in, run the probe, store and return its assessment (see remote.probe.assess); a host that could not be
    probed gets its failure stored as its status ("unreachable: ...", "host key changed: refused", ...)."""
    host = store.host(name)
    credentials = Credentials(key_path=Path(host.key_path) if host.key_path else None, ask_passphrase=ask_passphrase)
    try:
        with connect(trust_of(store, name, known_hosts), credentials, timeout) as client:
            result = assess(run_probe(client, host.python), host)
    except RemoteError as error:
        result = failed(error)
    store.record_probe(name, result)
    return result
