"""Host addresses, keys and store messages a clumsy user meets (issue 22, "Numbers, names and text"): ports only in
ASCII digits, no empty hosts, a private key others may read warned about as OpenSSH does, a refused login naming
the user once, and a store in a folder the user cannot write explained."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
from cli_runner import run_cli  # noqa: F401 (a fixture)
from sshd import client_key, keygen, ssh_home, sshd, sshd_factory  # noqa: F401
from window_fixtures import open_window  # noqa: F401  (a fixture)

from easeml_gui.lab import hosts
from easeml_gui.remote.address import parse_address
from easeml_gui.remote.errors import AddressError
from easeml_gui.store import LabStore

NO_TORCH_PYTHON = "/usr/bin/python3"


@pytest.fixture
def cli(run_cli, tmp_path, ssh_home):
    return lambda *args: run_cli("--db", tmp_path / "lab.sqlite", *args)


@pytest.mark.parametrize("text, message", [
    ("gpu1:²²", "invalid port '²²'"),
    ("gpu1:٢٢", "invalid port '٢٢'"),
    ("gpu1:+22", "invalid port"),
    ("[:]", "invalid host ':'"),
    ("[:]:22", "invalid host ':'"),
    ("[]:22", "invalid host ''"),
    ("[::::]", "invalid host"),
    ("alice@", "invalid host ''"),
    ("[::]", "no host's address"),
    ("0.0.0.0:22", "no host's address"),
])
def test_odd_ports_and_empty_hosts_are_refused(text, message):
    with pytest.raises(AddressError, match=message):
        parse_address(text)


def test_real_ipv6_addresses_still_parse():
    assert parse_address("[fe80::1%eth0]:2222") == (None, "fe80::1%eth0", 2222)
    assert parse_address("[::1]") == (None, "::1", None)
    assert parse_address("2001:db8::7") == (None, "2001:db8::7", None)


def test_host_add_with_an_odd_port_is_a_message(cli):
    out = cli("host", "add", "box", "--address", "gpu1:²²")
    assert out.returncode == 1 and "invalid port" in out.stderr and "Traceback" not in out.stderr
    assert "no hosts yet" in cli("host", "list").stdout


def readable_by_others(key: Path, tmp_path: Path) -> Path:
    loose = tmp_path / "id_loose"
    shutil.copy(key, loose)
    loose.chmod(0o644)
    return loose


def test_a_key_others_can_read_is_warned_about_as_ssh_does(cli, sshd, client_key, tmp_path):
    loose = readable_by_others(client_key, tmp_path)
    assert cli("host", "add", "box", "--address", sshd.address, "--key", loose, "--python",
               NO_TORCH_PYTHON).returncode == 0
    assert cli("host", "trust", "box", "--yes").returncode == 0
    out = cli("host", "probe", "box")
    assert f"chmod 600 {loose}" in out.stderr and "0644" in out.stderr  # on the CLI: stderr
    with LabStore(tmp_path / "lab.sqlite") as store:  # in the window: the probe's notes, as it shows them
        notes = hosts.probe(store, "box")["notes"]
    assert any(f"chmod 600 {loose}" in note for note in notes)


def test_the_window_says_it_after_a_probe(open_window, qtbot, cli, sshd, client_key, tmp_path):
    loose = readable_by_others(client_key, tmp_path)
    assert cli("host", "add", "box", "--address", sshd.address, "--key", loose, "--python",
               NO_TORCH_PYTHON).returncode == 0
    assert cli("host", "trust", "box", "--yes").returncode == 0
    window = open_window(tmp_path / "lab.sqlite")
    window.tabs.setCurrentWidget(window.hosts)
    qtbot.waitUntil(lambda: window.hosts.row("box") is not None)
    told: list[str] = []
    window.hosts.told.connect(told.append)
    window.hosts.probe("box")
    qtbot.waitUntil(lambda: bool(told), timeout=120_000)  # the window's first seconds are busy on a loaded machine
    assert told[0].startswith("box: no torch") and f"chmod 600 {loose}" in told[0], told


def test_a_private_key_is_used_without_a_warning(cli, sshd, client_key, tmp_path):
    assert oct(client_key.stat().st_mode & 0o777) == "0o600"
    assert cli("host", "add", "box", "--address", sshd.address, "--key", client_key, "--python",
               NO_TORCH_PYTHON).returncode == 0
    assert cli("host", "trust", "box", "--yes").returncode == 0
    assert "chmod" not in cli("host", "probe", "box").stderr


def test_a_refused_login_names_the_user_once(cli, sshd, tmp_path):
    stranger = keygen(tmp_path / "id_stranger")
    assert cli("host", "add", "box", "--address", sshd.address, "--key", stranger).returncode == 0
    assert cli("host", "trust", "box", "--yes").returncode == 0
    out = cli("host", "probe", "box")
    assert out.returncode == 1 and f"{sshd.address} refused every key" in out.stderr
    assert f"{sshd.user}@{sshd.user}@" not in out.stderr


def as_nobody(*args: str) -> subprocess.CompletedProcess:
    """`easeml-gui ARGS` as the user nobody, for whom a folder's permissions hold (root passes every check)."""
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
                           "easeml_gui", *args], capture_output=True, text=True, cwd="/",
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder under /tmp that every user may enter (pytest's own are its owner's only)."""
    folder = Path(tempfile.mkdtemp(prefix="easeml-shared-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a command as another user")
def test_a_store_in_a_folder_the_reader_cannot_write_says_so(run_cli, shared_folder):
    folder = shared_folder / "lab"
    folder.mkdir()
    db = folder / "lab.sqlite"
    assert run_cli("--db", db, "tenant", "add", "ana").returncode == 0
    db.chmod(0o644)
    folder.chmod(0o555)  # nobody reads it; only its owner could create the -shm file beside it
    out = as_nobody("--db", str(db), "tenant", "list")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"{folder} is not writable" in out.stderr and "lab.sqlite-shm" in out.stderr
    assert "check the file's permissions" not in out.stderr
