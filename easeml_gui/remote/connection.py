"""Opening an SSH connection to a host: the server's key checked against what we trust (an unknown key rejected,
a changed one refused), then our keys tried (a key file, the agent, the default keys), with timeouts that become
plain "unreachable" messages. No password or passphrase is ever stored: a passphrase lives only while its key is
decrypted. A host behind a jump host is reached as `ssh -J` does: a logged-in connection to the jump host (its key
checked the same way), then the host's own connection inside a "direct-tcpip" channel of it; both close together."""

from __future__ import annotations

import getpass
import logging
import socket
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
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
_log = logging.getLogger(__name__)

AskPassphrase = Callable[[Path], "str | None"]  # None: the one asked gave none
Warn = Callable[[str], None]
_warned: set[str] = set()


def _warn_once(message: str) -> None:
    """Without anyone to tell: a warning on stderr (logging's default), once per message, since a run connects to
    a host again and again."""
    if message not in _warned:
        _warned.add(message)
        _log.warning(message)


def loose_key_warning(path: Path) -> str | None:
    """OpenSSH refuses a private key that others may read ("UNPROTECTED PRIVATE KEY FILE"); paramiko would use it
    silently: the warning to show, or None for a key only its owner can read."""
    mode = path.stat().st_mode & 0o777
    if not mode & 0o077:
        return None
    return (f"WARNING: the private key {path} is readable by others (permissions {mode:04o}); OpenSSH refuses "
            f"such a key. Protect it: chmod 600 {path}")


@dataclass(frozen=True)
class Credentials:
    """Where our side's keys come from."""

    key_path: Path | None = None  # --key or the host's IdentityFile: tried first
    ask_passphrase: AskPassphrase | None = None  # for an encrypted key; None: nobody to ask (no terminal)
    agent: bool = True  # keys held by ssh-agent (SSH_AUTH_SOCK)
    ssh_dir: Path = DEFAULT_SSH_DIR  # where the default keys are, tried when no key_path is given
    warn: Warn = _warn_once  # told of a key file others may read (loose_key_warning)


def load_key(path: Path, ask: AskPassphrase | None, warn: Warn = _warn_once) -> paramiko.PKey:
    """A private key from a file, decrypted with a passphrase from `ask` when it is encrypted; `warn` is told
    when others may read the file."""
    path = path.expanduser()
    key = _read_key(path, ask)
    warning = loose_key_warning(path)
    if warning:
        warn(warning)
    return key


def _read_key(path: Path, ask: AskPassphrase | None) -> paramiko.PKey:
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
    passphrase = ask(path)
    if passphrase is None:
        raise LoginFailed(f"no passphrase was given for the key {path}; probe again to be asked again, or add the "
                          f"key to ssh-agent (`ssh-add {path}`)", status="login failed: key encrypted, no passphrase")
    try:
        return paramiko.PKey.from_path(path, password=passphrase.encode())
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
            yield InMemoryPrivateKey(self._user, load_key(c.key_path, c.ask_passphrase, c.warn))
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
                        key = load_key(path, c.ask_passphrase, c.warn)
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
def connect(trust: HostTrust, credentials: Credentials, timeout: float = TIMEOUT_S, *,
            login: bool = True) -> Iterator[paramiko.SSHClient]:
    """A logged-in client to the host `trust` describes (with login False: only the host key checked; a jump host
    on the way is always logged into). Raises a RemoteError saying what failed: Unreachable, HostKeyUnknown,
    HostKeyChanged, LoginFailed (of the jump host too: its messages name it)."""
    with ExitStack() as stack:
        channel = None
        if trust.jump is not None:
            jump = stack.enter_context(connect(trust.jump, _jump_credentials(trust.jump, credentials), timeout))
            channel = _forward(trust, jump, timeout)
        yield stack.enter_context(_connect(trust, credentials if login else None, timeout, channel))


def _jump_credentials(jump: HostTrust, credentials: Credentials) -> Credentials:
    # As `ssh -J` does: the jump host's own IdentityFile (or the agent's and default keys), not the host's key.
    key = jump.endpoint.key_path
    return replace(credentials, key_path=Path(key) if key else None)


def _forward(trust: HostTrust, jump: paramiko.SSHClient, timeout: float) -> paramiko.Channel:
    """A channel from the jump host to the host's SSH port: the socket the host's connection runs in."""
    endpoint = trust.endpoint
    try:
        return jump.get_transport().open_channel("direct-tcpip", (endpoint.host, endpoint.port), ("127.0.0.1", 0),
                                                 timeout=timeout)
    except paramiko.ChannelException as error:
        prohibited = error.code == paramiko.common.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        why = "does not forward connections" if prohibited else f"could not connect to it ({error.text})"
        hint = ("its sshd needs `AllowTcpForwarding yes` for your user" if prohibited else
                "check that the host is up and that the jump host reaches its address and port")
    except (paramiko.SSHException, OSError) as error:
        why, hint = f"did not open a channel to it ({error or type(error).__name__})", "try again"
    raise Unreachable(f"{trust.server} is unreachable: {trust.jump.server} {why}; {hint}",
                      status=f"unreachable: jump host {trust.jump.label} ({trust.jump.endpoint.display()}) {why}")


@contextmanager
def _connect(trust: HostTrust, credentials: Credentials | None, timeout: float,
             sock: paramiko.Channel | None) -> Iterator[paramiko.SSHClient]:
    """One SSH connection (over `sock` when given), logged in unless credentials is None."""
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
                           auth_timeout=timeout, channel_timeout=timeout, auth_strategy=strategy, sock=sock)
        except RemoteError:
            raise
        except paramiko.BadHostKeyException as error:
            raise HostKeyChanged(trust, error.key, error.expected_key) from None
        except paramiko.AuthenticationException:
            raise _refused(trust, user, strategy) from None
        except Exception as error:  # sockets, timeouts, SSH protocol errors: the host is not there for us
            # The transport thread keeps the first cause (e.g. the banner timeout); connect() may only report
            # its consequence ("No existing session") when its own wait ran out at the same moment.
            transport = client.get_transport()
            cause = (transport.get_exception() if transport is not None else None) or error
            raise _unreachable(trust, cause, timeout, timed_out=time.monotonic() - start >= timeout) from None
        yield client
    finally:
        client.close()


def _refused(trust: HostTrust, user: str, strategy: AuthStrategy) -> LoginFailed:
    skipped = "".join(f"; {p} is encrypted: add it to ssh-agent (ssh-add {p})"
                      for p in (strategy.skipped if isinstance(strategy, _OurKeys) else ()))
    login = replace(trust.endpoint, user=user).display()  # display() names a recorded user itself
    if trust.is_jump:
        who, there = f"{login}, the jump host of {trust.name},", "the jump host"
        name_it = f"name the right one with IdentityFile under `Host {trust.label}` in ~/.ssh/config"
    else:
        who, there, name_it = login, "the host", "name the right one with --key PATH"
    return LoginFailed(
        f"{who} refused every key tried; put your public key into ~{user}/.ssh/authorized_keys on {there}, or "
        f"{name_it}{skipped}", status=f"{'jump host ' if trust.is_jump else ''}login refused: no key was accepted")


def _unreachable(trust: HostTrust, error: Exception, timeout: float, timed_out: bool) -> Unreachable:
    if isinstance(error, paramiko.ssh_exception.NoValidConnectionsError):
        why, hint = "connection refused", "is sshd running there, and is the port right?"
    elif isinstance(error, socket.gaierror):
        why = f"cannot resolve the host name {trust.endpoint.host!r}"
        hint = (f"check the HostName under `Host {trust.label}` in ~/.ssh/config" if trust.is_jump else
                "check the name; to change a host's address, remove the host and add it again")
    elif timed_out or isinstance(error, (socket.timeout, TimeoutError)) or "banner" in str(error).lower():
        why = f"timed out after {timeout:g} s"
        hint = "check that the host is up and that its address and port are an SSH server's"
    else:
        why, hint = str(error) or type(error).__name__, "check the address and that an SSH server answers there"
    # A jump host's status names it: the host itself may be fine.
    hop = f"jump host {trust.label} ({trust.endpoint.display()}) " if trust.is_jump else ""
    return Unreachable(f"{trust.server} is unreachable: {why}; {hint}", status=f"unreachable: {hop}{why}")


@dataclass(frozen=True)
class Scan:
    """The key a server presented, and what we make of it."""

    key: paramiko.PKey
    source: KeySource | None  # who vouches for it already; None: nobody (unknown, or changed)
    expected: paramiko.PKey | None  # the trusted key it replaces, when it changed
    pin_type: str  # the host_keys key type that pins it (remote/trust.py)
    jump: Scan | None = None  # a host behind a jump host: the jump host's key, reached through on the way


def scan_host_key(trust: HostTrust, timeout: float = TIMEOUT_S, credentials: Credentials = Credentials()) -> Scan:
    """Fetch the server's key (no login there; a jump host on the way, whose key must be trusted, is logged into
    with `credentials`) and compare it with what we trust."""
    try:
        with connect(trust, credentials, timeout, login=False) as client:
            key = client.get_transport().get_remote_server_key()
            return Scan(key, trust.source_of(key), None, trust.pin_type(key))
    except HostKeyUnknown as unknown:
        if unknown.trust is not trust:  # the jump host's key: refused, not something to accept for the host
            raise
        return Scan(unknown.key, None, None, trust.pin_type(unknown.key))
    except HostKeyChanged as changed:
        if changed.trust is not trust:
            raise
        return Scan(changed.key, None, changed.expected, trust.pin_type(changed.key))
