"""A real OpenSSH server on 127.0.0.1 for tests (`from sshd import sshd, client_key`): its own host key, a client
key it authorizes, a free port; two fixtures (or `sshd_factory`) give two hosts."""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest

SSHD = Path("/usr/sbin/sshd")


def keygen(path: Path, passphrase: str = "", kind: str = "ed25519") -> Path:
    """A fresh key pair at `path` and `path`.pub (ssh-keygen, as a user would make one)."""
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-C", path.name, "-f", str(path)],
                   check=True, capture_output=True)
    return path


def keygen_fingerprint(public_key: Path) -> str:
    """`ssh-keygen -lf` of a public key file: "256 SHA256:... comment (ED25519)"."""
    return subprocess.run(["ssh-keygen", "-lf", str(public_key)], check=True, capture_output=True,
                          text=True).stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Sshd:
    root: Path
    client_key: Path
    port: int = field(default_factory=free_port)
    user: str = field(default_factory=getpass.getuser)
    sftp: bool = True  # False: no SFTP subsystem, as hardened hosts run sshd (files must go over exec channels)
    process: subprocess.Popen | None = None

    @property
    def host_key(self) -> Path:
        return self.root / "host_ed25519"

    @property
    def address(self) -> str:
        return f"{self.user}@127.0.0.1:{self.port}"

    def start(self, new_host_key: bool = False) -> "Sshd":
        if new_host_key or not self.host_key.exists():
            for old in (self.host_key, self.host_key.with_suffix(".pub")):
                old.unlink(missing_ok=True)
            keygen(self.host_key)
        (self.root / "authorized_keys").write_text(self.client_key.with_suffix(".pub").read_text())
        config = self.root / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.host_key}",
            f"PidFile {self.root / 'sshd.pid'}", f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
            "PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes", "StrictModes no", "UsePAM no", "AllowTcpForwarding yes", "LogLevel ERROR",
            *(["Subsystem sftp internal-sftp"] if self.sftp else []), "",
        ]))
        if not SSHD.exists():
            raise RuntimeError("tests need OpenSSH's sshd: run tests/setup_system.sh (installs openssh-server)")
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # root's sshd wants its privilege separation dir
        log = open(self.root / "sshd.log", "ab")
        self.process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.root / 'sshd.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not listen on port {self.port} within 10 s")

    def authorize(self, public_key: Path) -> None:
        """Let another client key log in too (sshd reads the file at each login)."""
        with open(self.root / "authorized_keys", "a") as f:
            f.write(public_key.read_text())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def sessions(self) -> list[int]:
        """The processes of the connections the server holds now (sshd forks them per connection)."""
        return _descendants(self.process.pid) if self.process is not None else []

    def drop(self) -> None:
        """The host goes away: the server stops and its open sessions end (stopping sshd alone leaves them)."""
        sessions = self.sessions()
        self.stop()
        for pid in sessions:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def restart(self, new_host_key: bool = False) -> "Sshd":
        self.stop()
        return self.start(new_host_key)


def _descendants(pid: int) -> list[int]:
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return children + [grandchild for child in children for grandchild in _descendants(child)]


@pytest.fixture
def ssh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME of the test's own: ~/.ssh/config, known_hosts and default keys are the test's, and no ssh-agent of
    the user's offers keys."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return home


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A client key without passphrase that every test sshd authorizes."""
    return keygen(tmp_path_factory.mktemp("client") / "id_ed25519")


@pytest.fixture
def sshd_factory(tmp_path: Path, client_key: Path) -> Iterator[Callable[..., Sshd]]:
    """Start a fresh sshd per call (each its own host key and port; `sftp=False`: a hardened host without the SFTP
    subsystem); all are stopped after the test."""
    servers: list[Sshd] = []

    def start(sftp: bool = True) -> Sshd:
        root = tmp_path / f"sshd{len(servers)}"
        root.mkdir()
        servers.append(Sshd(root, client_key, sftp=sftp).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def sshd(sshd_factory: Callable[..., Sshd]) -> Sshd:
    return sshd_factory()


@pytest.fixture
def hardened_sshd(sshd_factory: Callable[..., Sshd]) -> Sshd:
    """An sshd that offers no SFTP subsystem (a hardened host)."""
    return sshd_factory(sftp=False)

