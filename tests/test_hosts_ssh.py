"""Hosts against a real OpenSSH sshd on 127.0.0.1 (tests/sshd.py): trust, probe, refusals, keys, aliases, quoting.

Probes use /usr/bin/python3 (no torch: fast) unless a test needs torch; the one that does uses this venv's Python.
"""

from __future__ import annotations

import getpass
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
from easeml_gui.remote.errors import Unreachable
from easeml_gui.remote.session import HostLink
from easeml_gui.remote.shell import run
from easeml_gui.remote.trust import HostKeyUnknown, HostTrust, TrustedKey
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


def test_a_host_without_that_python_says_which_and_how_to_name_another(cli, sshd, client_key):
    add_trusted(cli, "box", sshd, client_key, python="/opt/no such/python3")
    out = cli("host", "probe", "box", "--json")
    assert out.returncode == 1
    assert json.loads(out.stdout)["status"] == "no python: /opt/no such/python3 not found"
    out = cli("host", "probe", "box")
    assert "no python at '/opt/no such/python3' on the host" in out.stdout + out.stderr
    assert "easeml-gui host set NAME --python PATH" in out.stdout + out.stderr


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
    config.write_text("Host inner\n  HostName 10.1.2.3\n  ProxyCommand ssh -W %h:%p bastion\n"
                      "Host jumped\n  HostName 10.1.2.4\n  ProxyJump inner\nHost far\n  ProxyJump box1\n")
    for alias, message in (("inner", "cannot run a ProxyCommand"), ("jumped", "reached through ProxyCommand"),
                           # connections read a jump host from ~/.ssh/config: another file would be forgotten
                           ("far", f"which connections read from ~/.ssh/config each time: put its Host entries "
                                   f"there, not in {config}")):
        out = cli("host", "add", "b2", "--address", alias, "--ssh-config", config)
        assert out.returncode == 1 and message in out.stderr, alias
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


def fingerprint(server) -> str:
    return keygen_fingerprint(server.host_key.with_suffix(".pub")).split()[1]


def behind_a_jump_host(ssh_home: Path, key: Path, bastion_port: int, target_port: int) -> None:
    """~/.ssh/config: `inner` is 127.0.0.1:`target_port`, reached through `bastion`, 127.0.0.1:`bastion_port`."""
    user = getpass.getuser()
    (ssh_home / ".ssh" / "config").write_text(
        f"Host bastion\n  HostName 127.0.0.1\n  Port {bastion_port}\n  User {user}\n  IdentityFile {key}\n"
        f"Host inner\n  HostName 127.0.0.1\n  Port {target_port}\n  User {user}\n  IdentityFile {key}\n"
        "  ProxyJump bastion\n")


def test_a_host_behind_a_jump_host_is_trusted_and_probed_through_it(cli, sshd_factory, client_key, ssh_home,
                                                                     tmp_path):
    bastion, target = sshd_factory(), sshd_factory()
    behind_a_jump_host(ssh_home, client_key, bastion.port, target.port)
    out = cli("host", "add", "gpu", "--address", "inner", "--python", NO_TORCH_PYTHON)
    assert out.returncode == 0 and f"{target.address} via {bastion.address} (~/.ssh/config alias inner)" in out.stdout
    out = cli("host", "trust", "gpu")  # no terminal: refused at the jump host's key, before logging in to it
    assert out.returncode == 1 and "host trust gpu --yes" in out.stderr
    assert f"jump host bastion ({bastion.address}) of gpu presents this key" in out.stdout
    assert fingerprint(bastion) in out.stdout and fingerprint(target) not in out.stdout
    out = cli("host", "trust", "gpu", "--yes")
    bits, _, *_, kind = keygen_fingerprint(target.host_key.with_suffix(".pub")).split()
    assert out.returncode == 0 and f"{bits} {fingerprint(target)} gpu {kind}" in out.stdout
    assert f"{fingerprint(bastion)} bastion" in out.stdout
    with LabStore(tmp_path / "lab.sqlite") as store:
        assert {p.key_type: p.fingerprint for p in store.host_keys("gpu")} == {
            "ssh-ed25519": fingerprint(target), f"@jump/[127.0.0.1]:{bastion.port}/ssh-ed25519": fingerprint(bastion)}
        assert store.host("gpu").host_key_fingerprint == fingerprint(target)  # what the lists show is the host's
    assert cli("host", "trust", "gpu").stdout.count("already trusted") == 2
    assert "no torch" in cli("host", "probe", "gpu").stdout
    assert f"gpu: {target.address} via {bastion.address} (alias inner)" in cli("host", "list").stdout

    # It really goes through the jump host: without it, the host (still up, and reachable directly) is not.
    bastion.drop()
    socket.create_connection(("127.0.0.1", target.port), timeout=5).close()
    out = cli("host", "probe", "gpu", "--json")
    assert json.loads(out.stdout)["status"] == f"unreachable: jump host bastion ({bastion.address}) connection refused"


def test_a_jump_hosts_key_is_refused_until_trusted_and_a_changed_one_loudly(cli, sshd_factory, client_key,
                                                                            ssh_home, tmp_path):
    bastion, target = sshd_factory(), sshd_factory()
    behind_a_jump_host(ssh_home, client_key, bastion.port, target.port)
    known = ssh_home / ".ssh" / "known_hosts"  # the host itself is trusted: only its jump host is not
    known.write_text(f"[127.0.0.1]:{target.port} {target.host_key.with_suffix('.pub').read_text()}")
    before = known.read_bytes()
    cli("host", "add", "gpu", "--address", "inner", "--python", NO_TORCH_PYTHON)
    out = cli("host", "probe", "gpu")
    assert out.returncode == 1 and f"the host key of jump host bastion ({bastion.address}) of gpu is not trusted " \
        "yet: run `easeml-gui host trust gpu`" in out.stderr
    assert "jump host key not trusted yet: run easeml-gui host trust gpu" in cli("host", "list").stdout
    with LabStore(tmp_path / "lab.sqlite") as store, pytest.raises(HostKeyUnknown, match="jump host bastion"):
        hosts.check_key(store, "gpu")  # the window's one-key check: the jump host must be trusted first
    out = cli("host", "trust", "gpu", "--yes")
    assert out.returncode == 0 and "known_hosts already trusts this key" in out.stdout
    assert "no torch" in cli("host", "probe", "gpu").stdout

    bastion.restart(new_host_key=True)
    out = cli("host", "probe", "gpu")
    assert out.returncode == 1 and "HOST KEY CHANGED for jump host bastion" in out.stderr
    assert json.loads(cli("host", "probe", "gpu", "--json").stdout)["status"] == "jump host key changed: refused"
    out = cli("host", "trust", "gpu", "--yes")
    assert out.returncode == 1 and "NOT trusted" in out.stderr and "--yes --replace" in out.stderr
    out = cli("host", "trust", "gpu", "--yes", "--replace")
    assert out.returncode == 0 and "HOST KEY CHANGED for jump host bastion" in out.stderr
    with LabStore(tmp_path / "lab.sqlite") as store:
        pins = {p.key_type: (p.fingerprint, p.source) for p in store.host_keys("gpu")}
    assert pins == {"ssh-ed25519": (fingerprint(target), KeySource.KNOWN_HOSTS),
                    f"@jump/[127.0.0.1]:{bastion.port}/ssh-ed25519": (fingerprint(bastion), KeySource.ACCEPTED)}
    assert "no torch" in cli("host", "probe", "gpu").stdout
    assert known.read_bytes() == before


def test_an_unreachable_jump_host_says_so_within_the_timeout(cli, sshd, client_key, ssh_home):
    with socket.socket() as silent:  # accepts connections but never speaks SSH
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        behind_a_jump_host(ssh_home, client_key, port, sshd.port)
        cli("host", "add", "gpu", "--address", "inner", "--python", NO_TORCH_PYTHON)
        start = time.monotonic()
        out = cli("host", "probe", "gpu", "--timeout", "1", "--json")
        assert time.monotonic() - start < 5
    assert json.loads(out.stdout)["status"] == \
        f"unreachable: jump host bastion ({sshd.user}@127.0.0.1:{port}) timed out after 1 s"

    behind_a_jump_host(ssh_home, client_key, sshd.port, free_port())  # the jump host answers, the host does not
    cli("host", "add", "gone", "--address", "inner")
    out = cli("host", "trust", "gone", "--yes")
    assert out.returncode == 1 and f"jump host bastion ({sshd.address}) of gone could not connect to it" in out.stderr


def test_a_link_through_a_jump_host_closes_both_and_reconnects(cli, sshd_factory, client_key, ssh_home, tmp_path):
    bastion, target = sshd_factory(), sshd_factory()
    behind_a_jump_host(ssh_home, client_key, bastion.port, target.port)
    cli("host", "add", "gpu", "--address", "inner")
    assert cli("host", "trust", "gpu", "--yes").returncode == 0
    with LabStore(tmp_path / "lab.sqlite") as store:
        link = HostLink(hosts.trust_of(store, "gpu"), Credentials(key_path=client_key, agent=False), timeout=5)
    try:
        assert link.run(["true"]).returncode == 0 and bastion.sessions() and target.sessions()
        bastion.drop()  # the jump host goes away: the host's connection inside it ends too
        with pytest.raises(Unreachable):
            link.run(["true"])
        bastion.start()
        assert link.run(["true"]).returncode == 0 and link.connects == 2
    finally:
        link.close()
    deadline = time.monotonic() + 10
    while (bastion.sessions() or target.sessions()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not bastion.sessions() and not target.sessions()
