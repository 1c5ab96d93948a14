"""Opening an SSH connection to a host: the server's key checked against what we trust (an unknown key rejected,
a changed one refused), then our keys tried (a key file, the agent, the default keys), with timeouts that become
plain "unreachable" messages. No password or passphrase is ever stored: a passphrase lives only while its key is
decrypted."""

from __future__ import annotations

import getpass
import logging
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import paramiko
from paramiko.auth_strategy import AuthResult, AuthSource, AuthStrategy, InMemoryPrivateKey

from ..store import KeySource
from .errors import LoginFailed, RemoteError, Unreachable
from .trust import HostKeyChanged, HostKeyUnknown, HostTrust, RejectUnknown

TIMEOUT_S = 10.0
DEFAULT_SSH_DIR = Path("~/.ssh")
DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")  # what ssh tries when no key is named

# Our errors say what failed and what to do; without a handler, logging's last resort would also print paramiko's
# transport-thread tracebacks (e.g. "Error reading SSH protocol banner") on the user's terminal.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

AskPassphrase = Callable[[Path], str]


@dataclass(frozen=True)
class Credentials:
    """Where our side's keys come from."""

    key_path: Path | None = None  # --key or the host's IdentityFile: tried first
    ask_passphrase: AskPassphrase | None = None  # for an encrypted key; None: nobody to ask (no terminal)
    agent: bool = True  # keys held by ssh-agent (SSH_AUTH_SOCK)
    ssh_dir: Path = DEFAULT_SSH_DIR  # where the default keys are, tried when no key_path is given


def load_key(path: Path, ask: AskPassphrase | None) -> paramiko.PKey:
    """A private key from a file, decrypted with a passphrase from `ask` when it is encrypted."""
    path = path.expanduser()
    try:
        return paramiko.PKey.from_path(path)
    except (TypeError, paramiko.PasswordRequiredException):  # cryptography's and paramiko's "encrypted"
        pass
    except OSError as error:
        raise LoginFailed(f"cannot read the key {path} ({error.strerror}); check the path given with --key",
                          status="login failed: key file unreadable") from None
    except (ValueError, paramiko.SSHException) as error:
        raise LoginFailed(f"{path} is not a private key easeml-gui can read ({error}); give an OpenSSH or PEM "
                          "private key (not the .pub file)", status="login failed: not a private key") from None
    if ask is None:
        raise LoginFailed(
            f"the key {path} is encrypted and there is no terminal to ask for its passphrase: add it to ssh-agent "
            f"(`ssh-add {path}`) or run the command in a terminal",
            status="login failed: key encrypted, no passphrase")
    try:
        return paramiko.PKey.from_path(path, password=ask(path).encode())
    except (ValueError, TypeError, paramiko.SSHException):
        raise LoginFailed(f"wrong passphrase for the key {path}", status="login failed: wrong passphrase") from None


class _OurKeys(AuthStrategy):
    """Try the named key, then the agent's keys, then (with no named key) the default keys; keys are loaded
    lazily, so a passphrase is asked only when the keys before it were refused."""

    def __init__(self, user: str, credentials: Credentials) -> None:
        super().__init__(ssh_config=None)
        self._user = user
        self._credentials = credentials
        self.skipped: list[Path] = []  # encrypted default keys nobody could unlock

    def get_sources(self) -> Iterator[AuthSource]:
        c = self._credentials
        if c.key_path is not None:
            yield InMemoryPrivateKey(self._user, load_key(c.key_path, c.ask_passphrase))
        if c.agent:
            agent = paramiko.Agent()
            try:
                for key in agent.get_keys():
                    yield InMemoryPrivateKey(self._user, key)
            finally:
                agent.close()
        if c.key_path is None:
            for name in DEFAULT_KEYS:
                path = c.ssh_dir.expanduser() / name
                if path.is_file():
                    try:
                        key = load_key(path, c.ask_passphrase)
                    except LoginFailed:
                        self.skipped.append(path)
                        continue
                    yield InMemoryPrivateKey(self._user, key)


class _KeyExchangeOnly(AuthStrategy):
    """Stop after the host key was checked: `host trust` needs the key, not a login."""

    def __init__(self) -> None:
        super().__init__(ssh_config=None)

    def authenticate(self, transport: paramiko.Transport) -> AuthResult:
        return AuthResult(strategy=self)


@contextmanager
def connect(trust: HostTrust, credentials: Credentials | None,
            timeout: float = TIMEOUT_S) -> Iterator[paramiko.SSHClient]:
    """A logged-in client to the host `trust` describes (with credentials None: only the host key checked).
    Raises a RemoteError saying what failed: Unreachable, HostKeyUnknown, HostKeyChanged, LoginFailed."""
    endpoint = trust.endpoint
    user = endpoint.user or getpass.getuser()
    strategy = _OurKeys(user, credentials) if credentials is not None else _KeyExchangeOnly()
    client = paramiko.SSHClient()
    trust.install(client)
    client.set_missing_host_key_policy(RejectUnknown(trust))
    start = time.monotonic()
    try:
        try:
            client.connect(endpoint.host, endpoint.port, username=user, timeout=timeout, banner_timeout=timeout,
                           auth_timeout=timeout, channel_timeout=timeout, auth_strategy=strategy)
        except RemoteError:
            raise
        except paramiko.BadHostKeyException as error:
            raise HostKeyChanged(trust, error.key, error.expected_key) from None
        except paramiko.AuthenticationException:
            skipped = "".join(f"; {p} is encrypted: add it to ssh-agent (ssh-add {p})"
                              for p in (strategy.skipped if isinstance(strategy, _OurKeys) else ()))
            raise LoginFailed(
                f"{user}@{endpoint.display()} refused every key tried; put your public key into ~{user}/.ssh/"
                f"authorized_keys on the host, or name the right one with --key PATH{skipped}",
                status="login refused: no key was accepted") from None
        except Exception as error:  # sockets, timeouts, SSH protocol errors: the host is not there for us
            # The transport thread keeps the first cause (e.g. the banner timeout); connect() may only report
            # its consequence ("No existing session") when its own wait ran out at the same moment.
            transport = client.get_transport()
            cause = (transport.get_exception() if transport is not None else None) or error
            raise _unreachable(trust, cause, timeout, timed_out=time.monotonic() - start >= timeout) from None
        yield client
    finally:
        client.close()


def _unreachable(trust: HostTrust, error: Exception, timeout: float, timed_out: bool) -> Unreachable:
    where = f"{trust.name} ({trust.endpoint.display()})"
    if isinstance(error, paramiko.ssh_exception.NoValidConnectionsError):
        why, hint = "connection refused", "is sshd running there, and is the port right?"
    elif isinstance(error, socket.gaierror):
        why = f"cannot resolve the host name {trust.endpoint.host!r}"
        hint = "check the name; to change a host's address, remove the host and add it again"
    elif timed_out or isinstance(error, (socket.timeout, TimeoutError)) or "banner" in str(error).lower():
        why = f"timed out after {timeout:g} s"
        hint = "check that the host is up and that its address and port are an SSH server's"
    else:
        why, hint = str(error) or type(error).__name__, "check the address and that an SSH server answers there"
    return Unreachable(f"{where} is unreachable: {why}; {hint}", status=f"unreachable: {why}")


@dataclass(frozen=True)
class Scan:
    """The key a host presented, and what we make of it."""

    key: paramiko.PKey
    source: KeySource | None  # who vouches for it already; None: nobody (unknown, or changed)
    expected: paramiko.PKey | None  # the trusted key it replaces, when it changed


def scan_host_key(trust: HostTrust, timeout: float = TIMEOUT_S) -> Scan:
    """Fetch the host's key (no login) and compare it with what we trust."""
    try:
        with connect(trust, None, timeout) as client:
            key = client.get_transport().get_remote_server_key()
            return Scan(key, trust.source_of(key), None)
    except HostKeyUnknown as unknown:
        return Scan(unknown.key, None, None)
    except HostKeyChanged as changed:
        return Scan(changed.key, None, changed.expected)
