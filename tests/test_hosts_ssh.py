"""Hosts against a real OpenSSH sshd on 127.0.0.1 (tests/sshd.py): trust, probe, refusals, keys, aliases, quoting.

Probes use /usr/bin/python3 (no torch: fast) unless a test needs torch; the one that does uses this venv's Python.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_runner import run_cli  # noqa: F401 (a fixture)
from sshd import client_key, free_port, keygen, keygen_fingerprint, ssh_home, sshd, sshd_factory  # noqa: F401

from easeml_gui.lab import hosts
from easeml_gui.remote.address import Endpoint
from easeml_gui.remote.connection import Credentials, connect, scan_host_key
from easeml_gui.remote.shell import run
from easeml_gui.remote.trust import HostTrust, TrustedKey
from easeml_gui.store import KeySource, LabStore

NO_TORCH_PYTHON = "/usr/bin/python3"


@pytest.fixture
def cli(run_cli, tmp_path, ssh_home):
    db = tmp_path / "lab.sqlite"
    return lambda *args: run_cli("--db", db, *args)


@pytest.fixture(autouse=True)
def _python_without_torch_exists() -> None:
    out = subprocess.run([NO_TORCH_PYTHON, "-c", "import torch"], capture_output=True)
    assert out.returncode != 0, f"{NO_TORCH_PYTHON} must lack torch for these tests"


def add_trusted(cli, name: str, server, key: Path, python: str = NO_TORCH_PYTHON) -> None:
    assert cli("host", "add", name, "--address", server.address, "--key", key, "--python", python).returncode == 0
    assert cli("host", "trust", name, "--yes").returncode == 0


def test_trust_shows_the_fingerprint_ssh_keygen_prints_and_pins_it(cli, sshd, client_key, tmp_path):
    assert cli("host", "add", "box", "--address", sshd.address, "--key", client_key).returncode == 0
    refused = cli("host", "trust", "box")  # pytest's stdin is no terminal: nothing is trusted without --yes
    assert refused.returncode == 1 and "host trust box --yes" in refused.stderr
    out = cli("host", "trust", "box", "--yes")
    bits, fingerprint, *_, kind = keygen_fingerprint(sshd.host_key.with_suffix(".pub")).split()
    assert out.returncode == 0 and f"{bits} {fingerprint} box {kind}" in out.stdout
    with LabStore(tmp_path / "lab.sqlite") as store:
        [pin] = store.host_keys("box")
        assert (pin.key_type, pin.fingerprint, pin.source) == ("ssh-ed25519", fingerprint, KeySource.ACCEPTED)
        assert pin.key_base64 == sshd.host_key.with_suffix(".pub").read_text().split()[1]
    assert "already trusted" in cli("host", "trust", "box").stdout


def test_probe_with_torch_reports_cpu_only_and_without_torch_says_how_to_install(cli, sshd, client_key):
    add_trusted(cli, "box", sshd, client_key, python=sys.executable)
    out = cli("host", "probe", "box", "--json")
    result = json.loads(out.stdout)
    assert out.returncode == 0 and result["status"] == "ready (CPU only)" and result["devices"] == ["cpu"]
    assert result["report"]["torch"] and result["report"]["torchvision"]
    assert result["report"]["cuda"]["available"] is False and result["gpus"] == []
    assert result["report"]["executable"] == sys.executable and result["report"]["disk"]["free_mib"] > 0

    assert cli("host", "set", "box", "--python", NO_TORCH_PYTHON).returncode == 0
    out = cli("host", "probe", "box")
    assert out.returncode == 1
    assert f"box: no torch: install it with {NO_TORCH_PYTHON} -m pip install torch torchvision" in out.stdout
    assert "no torch: install it" in cli("host", "list").stdout  # the last probe is stored


def test_an_unknown_host_key_is_refused_until_trusted(cli, sshd, client_key):
    cli("host", "add", "box", "--address", sshd.address, "--key", client_key, "--python", NO_TORCH_PYTHON)
    out = cli("host", "probe", "box")
    assert out.returncode == 1 and "not trusted yet: run `easeml-gui host trust box`" in out.stderr
    assert "host key not trusted yet" in cli("host", "list").stdout


def test_a_changed_host_key_is_refused_loudly(cli, sshd, client_key, tmp_path):
    add_trusted(cli, "box", sshd, client_key)
    sshd.restart(new_host_key=True)
    out = cli("host", "probe", "box")
    assert out.returncode == 1
    for words in ("HOST KEY CHANGED for box", "reinstalled", "man-in-the-middle", "host trust box"):
        assert words in out.stderr
    assert json.loads(cli("host", "probe", "box", "--json").stdout)["status"] == "host key changed: refused"
    for args in (("host", "trust", "box"), ("host", "trust", "box", "--yes")):  # no terminal; --yes alone is not it
        out = cli(*args)
        assert out.returncode == 1 and "NOT trusted" in out.stderr and "--yes --replace" in out.stderr
    with LabStore(tmp_path / "lab.sqlite") as store:
        old = store.host_keys("box")[0].fingerprint
    assert old not in keygen_fingerprint(sshd.host_key.with_suffix(".pub"))
    out = cli("host", "trust", "box", "--yes", "--replace")
    assert out.returncode == 0 and "HOST KEY CHANGED" in out.stderr
    assert "no torch" in cli("host", "probe", "box").stdout  # connects again


def test_a_key_in_known_hosts_counts_as_trusted_and_the_file_is_never_written(cli, sshd, client_key, ssh_home):
    known = ssh_home / ".ssh" / "known_hosts"
    key_type, blob = sshd.host_key.with_suffix(".pub").read_text().split()[:2]
    known.write_text(f"[127.0.0.1]:{sshd.port} {key_type} {blob}\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(known)], check=True, capture_output=True)  # hashed, as ssh writes
    before = known.read_bytes()
    cli("host", "add", "box", "--address", sshd.address, "--key", client_key, "--python", NO_TORCH_PYTHON)
    assert "no torch" in cli("host", "probe", "box").stdout  # trusted without `host trust`
    out = cli("host", "trust", "box")
    assert out.returncode == 0 and "known_hosts already trusts this key" in out.stdout
    assert known.read_bytes() == before


def test_unreachable_hosts_say_so_within_the_timeout(cli, client_key, tmp_path):
    closed = free_port()
    cli("host", "add", "gone", "--address", f"127.0.0.1:{closed}", "--key", client_key)
    out = cli("host", "probe", "gone")
    assert out.returncode == 1 and "unreachable: connection refused" in out.stderr
    assert "unreachable: connection refused" in cli("host", "list").stdout

    with socket.socket() as silent:  # accepts connections (the kernel's backlog) but never speaks SSH
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        cli("host", "add", "mute", "--address", f"127.0.0.1:{silent.getsockname()[1]}", "--key", client_key)
        start = time.monotonic()
        out = cli("host", "probe", "mute", "--timeout", "1", "--json")
        assert time.monotonic() - start < 5
    assert json.loads(out.stdout)["status"] == "unreachable: timed out after 1 s"


def test_an_encrypted_key_needs_a_passphrase_source(cli, sshd, tmp_path):
    locked = keygen(tmp_path / "id_locked", passphrase="open sesame")
    sshd.authorize(locked.with_suffix(".pub"))
    add_trusted(cli, "box", sshd, locked)
    out = cli("host", "probe", "box")  # no terminal here: nobody to ask
    assert out.returncode == 1 and "is encrypted and there is no terminal" in out.stderr and "ssh-add" in out.stderr
    with LabStore(tmp_path / "lab.sqlite") as store:
        asked: list[Path] = []
        result = hosts.probe(store, "box", ask_passphrase=lambda path: asked.append(path) or "open sesame")
        assert asked == [locked] and result["status"].startswith("no torch")  # logged in
        assert hosts.probe(store, "box", ask_passphrase=lambda path: "wrong")["status"] == \
            "login failed: wrong passphrase"
    assert b"open sesame" not in (tmp_path / "lab.sqlite").read_bytes()


def test_a_key_the_host_does_not_accept_is_a_clear_login_failure(cli, sshd, tmp_path):
    stranger = keygen(tmp_path / "id_stranger")
    add_trusted(cli, "box", sshd, stranger)
    out = cli("host", "probe", "box")
    assert out.returncode == 1 and "refused every key tried" in out.stderr and "authorized_keys" in out.stderr


def test_an_ssh_config_alias_resolves(cli, sshd, client_key, ssh_home, tmp_path):
    config = tmp_path / "ssh_config"
    config.write_text(f"Host box1\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {sshd.user}\n"
                      f"  IdentityFile {client_key}\n")
    out = cli("host", "add", "b1", "--address", "box1", "--ssh-config", config, "--python", NO_TORCH_PYTHON)
    assert out.returncode == 0 and f"{sshd.address} (~/.ssh/config alias box1)" in out.stdout
    assert cli("host", "trust", "b1", "--yes").returncode == 0
    assert "no torch" in cli("host", "probe", "b1").stdout  # logged in with the alias's IdentityFile
    config.write_text("Host inner\n  HostName 10.1.2.3\n  ProxyJump bastion\n")
    out = cli("host", "add", "b2", "--address", "inner", "--ssh-config", config)
    assert out.returncode == 1 and "ProxyJump" in out.stderr
    assert "b2" not in cli("host", "list").stdout


def test_two_servers_are_two_hosts_with_their_own_pins(cli, sshd_factory, client_key):
    first, second = sshd_factory(), sshd_factory()
    add_trusted(cli, "one", first, client_key)
    add_trusted(cli, "two", second, client_key)
    listing = cli("host", "list").stdout
    for server in (first, second):
        assert keygen_fingerprint(server.host_key.with_suffix(".pub")).split()[1] in listing
    assert cli("host", "set", "two", "--gpus", "1,0", "--share-busy-gpus").returncode == 0
    assert "GPUs 1,0, shares busy GPUs" in cli("host", "list").stdout
    assert "removed host one" in cli("host", "remove", "one").stdout
    assert "one:" not in cli("host", "list").stdout


def test_metacharacters_in_paths_reach_the_host_as_data(cli, sshd, client_key, tmp_path):
    odd = tmp_path / "it's a $(touch pwned); dir"
    odd.mkdir()
    (odd / "python3").symlink_to(NO_TORCH_PYTHON)
    add_trusted(cli, "box", sshd, client_key, python=str(odd / "python3"))
    result = json.loads(cli("host", "probe", "box", "--json").stdout)
    assert result["report"]["executable"] == str(odd / "python3")  # that very path ran, quoted word for word
    assert result["status"].startswith("no torch")
    trap = f"/nonexistent/x;touch {tmp_path}/pwned2"
    assert cli("host", "set", "box", "--python", trap).returncode == 0
    assert json.loads(cli("host", "probe", "box", "--json").stdout)["status"] == f"no python: {trap} not found"
    assert not list(tmp_path.glob("**/pwned*")) and not Path("pwned").exists()


def test_commands_run_with_every_argument_quoted(sshd, client_key, ssh_home):
    endpoint = Endpoint("127.0.0.1", sshd.port, sshd.user)
    key = scan_host_key(HostTrust("box", endpoint, ())).key
    trust = HostTrust("box", endpoint, (TrustedKey(key, KeySource.ACCEPTED),))
    words = ["a b", "it's", "$(id)", "`id`", "x;y", "*", "\"q\"", "~user", "$HOME"]
    with connect(trust, Credentials(key_path=client_key, agent=False)) as client:
        done = run(client, ["printf", "%s\\n", *words], timeout=10)
    assert done.returncode == 0 and done.stdout.decode().splitlines() == words
