"""Where a host is: `[user@]host[:port]` (IPv6 in brackets), or an alias from ~/.ssh/config, perhaps reached
through one jump host (its ProxyJump, resolved through the same config: the jump's own HostName, User, Port and
IdentityFile). The connection then goes to the jump host first and on to the host in a "direct-tcpip" channel
(remote/connection.py); the jump host's key is checked like the host's (remote/trust.py)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

import paramiko

from .errors import AddressError

DEFAULT_SSH_CONFIG = Path("~/.ssh/config")

# Allow-lists: what passes is a DNS name, an IPv4 or an IPv6 address (zone index allowed), never an ssh option.
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252})")
_ZONE = re.compile(r"[A-Za-z0-9._-]+")
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")
_FORM = "[user@]host[:port] (IPv6 in brackets: [::1]:2222) or an alias from ~/.ssh/config"


@dataclass(frozen=True)
class Endpoint:
    """An SSH server to connect to: what goes into the store's hosts row."""

    host: str  # DNS name or IP, no brackets
    port: int = 22
    user: str | None = None  # None: the local user name, as ssh does
    key_path: str | None = None  # an IdentityFile from ~/.ssh/config
    alias: str | None = None  # the ~/.ssh/config alias this was resolved from
    jump: Endpoint | None = None  # the ProxyJump host the connection goes through (which opens it to `host`)

    def display(self) -> str:
        """`user@host:port` as the user would type it (IPv6 bracketed when a port follows)."""
        host = f"[{self.host}]" if ":" in self.host and self.port != 22 else self.host
        return (f"{self.user}@" if self.user else "") + host + (f":{self.port}" if self.port != 22 else "")

    def route(self) -> str:
        """display(), and the jump host it is reached through: "alice@10.1.2.3 via bob@bastion.lab:2200"."""
        return self.display() + (f" via {self.jump.display()}" if self.jump else "")


def parse_address(text: str) -> tuple[str | None, str, int | None]:
    """Split `[user@]host[:port]` into (user, host, port); port None when not given. Raises AddressError."""
    user, at, rest = text.rpartition("@")
    port_text = None
    if rest.startswith("["):
        host, bracket, tail = rest[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            raise AddressError(f"invalid address {text!r}: write an IPv6 address in brackets, e.g. [fe80::1]:22")
        port_text = tail[1:] if tail else None
    elif rest.count(":") >= 2:  # a bare IPv6 address: it cannot carry a port
        host = rest
    else:
        host, colon, port_text = rest.partition(":")
        port_text = port_text if colon else None
    return (_user(user, text) if at else None), _host(host, text), _port(port_text, text)


def _user(user: str, where: str) -> str:
    if not _USER.fullmatch(user):
        raise AddressError(f"invalid user {user!r} in {where!r}: use letters, digits, . _ -; form: {_FORM}")
    return user


def _host(host: str, where: str) -> str:
    if not (_NAME.fullmatch(host) or _is_ipv6(host)):
        raise AddressError(f"invalid host {host!r} in {where!r}: give a host name or IP address; form: {_FORM}")
    if _is_unspecified(host):  # 0.0.0.0 and :: mean "any address" to a server, no host to connect to
        raise AddressError(f"{host!r} in {where!r} is no host's address: give the host's name or IP address")
    return host


def _is_ipv6(host: str) -> bool:
    address, percent, zone = host.partition("%")
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return not percent or bool(_ZONE.fullmatch(zone))


def _is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.partition("%")[0]).is_unspecified
    except ValueError:  # a host name
        return False


def _port(text: str | None, where: str) -> int | None:
    if text is None:
        return None
    # ASCII digits only: str.isdigit() also passes "²²" (int() then fails) and "٢٢" (int() reads 22).
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise AddressError(f"invalid port {text!r} in {where!r}: use 1 to 65535")
    return int(text)


def resolve(text: str, ssh_config: Path = DEFAULT_SSH_CONFIG) -> Endpoint:
    """Parse `text` and apply ~/.ssh/config to its host as ssh does (HostName, User, Port, IdentityFile, ProxyJump);
    a user or port written in `text` wins over the config's. A ProxyJump host is resolved through the same config.
    Refuses what it cannot honour (ProxyCommand, a chain of jump hosts) rather than connecting somewhere the user
    did not mean."""
    return _resolve(text, ssh_config.expanduser(), jump_of=None)


def _resolve(text: str, config: Path, jump_of: str | None) -> Endpoint:
    user, host, port = parse_address(text)
    options = _lookup(host, config)
    where = f"{config}, Host {host}"
    hostname = _host(options.get("hostname", host), where)
    if (options.get("proxycommand") or "none").lower() != "none":
        raise AddressError(
            f"{host!r} is reached through ProxyCommand {options['proxycommand']!r} in {config}; easeml-gui cannot "
            f"run a ProxyCommand. If it only goes through a jump host, write `ProxyJump JUMP_HOST` instead, or "
            f"forward a port (`ssh -N -L 2222:{hostname}:{options.get('port', 22)} JUMP_HOST`) and add the host "
            "with --address localhost:2222")
    jump = _jump(host, options, config, jump_of)
    keys = [str(Path(k).expanduser()) for k in options.get("identityfile", [])]
    return Endpoint(
        host=hostname,
        port=port or _port(options.get("port"), where) or 22,
        user=user or (_user(options["user"], where) if "user" in options else None),
        # ssh tries every IdentityFile; one key is recorded: the first that exists here
        key_path=next((k for k in keys if Path(k).is_file()), keys[0] if keys else None),
        alias=host if hostname != host or jump or options.keys() & {"user", "port", "identityfile"} else None,
        jump=jump,
    )


def _jump(host: str, options: dict, config: Path, jump_of: str | None) -> Endpoint | None:
    """The ProxyJump host of `host` (itself the jump host of `jump_of`, if given), or None. One hop only: each
    hop's key is pinned and checked (remote/trust.py), and a chain would multiply what the admin compares."""
    spec = options.get("proxyjump") or "none"
    if spec.lower() == "none":
        return None
    if jump_of is None and "," not in spec:
        return _resolve(spec.removeprefix("ssh://"), config, jump_of=host)
    target = jump_of or host
    direct = f"; if {host!r} is reached directly, write `ProxyJump none` under `Host {host}`" if jump_of else ""
    raise AddressError(
        f"{target!r} is reached through a chain of jump hosts (ProxyJump {spec!r} of {host!r} in {config}); "
        "easeml-gui goes through one jump host only: forward a port through the chain (`ssh -N -L "
        f"2222:localhost:22 {target}`, 22 being the port its sshd listens on) and add the host with --address "
        f"localhost:2222{direct}")


def config_aliases(ssh_config: Path = DEFAULT_SSH_CONFIG) -> list[str]:
    """The concrete `Host` names of the user's ssh config (patterns such as `*` or `gpu?` left out), sorted: what
    an "add host" form offers. An unreadable config offers none (adding by address still works)."""
    path = ssh_config.expanduser()
    if not path.is_file():
        return []
    try:
        names = paramiko.SSHConfig.from_path(str(path)).get_hostnames()
    except Exception:  # paramiko raises a variety; resolve() reports the problem when an alias is used
        return []
    return sorted(n for n in names if not any(c in n for c in "*?!"))


def _lookup(host: str, path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return dict(paramiko.SSHConfig.from_path(str(path)).lookup(host))
    except Exception as error:  # paramiko raises a variety (bad syntax, Match exec without invoke, ...)
        raise AddressError(f"cannot read {path}: {error}; fix that file or give the address as user@host:port"
                           ) from None
