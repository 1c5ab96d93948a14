"""Host addresses: `[user@]host[:port]`, IPv6 in brackets, aliases resolved through a real ssh config file; quoting;
what the host commands import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from easeml_gui.remote.address import Endpoint, parse_address, resolve
from easeml_gui.remote.errors import AddressError
from easeml_gui.remote.shell import command_line


@pytest.mark.parametrize("text, parsed", [
    ("gpu1", (None, "gpu1", None)),
    ("alice@gpu1.lab.example:2222", ("alice", "gpu1.lab.example", 2222)),
    ("10.0.0.5:22", (None, "10.0.0.5", 22)),
    ("[::1]:2222", (None, "::1", 2222)),
    ("bob@[fe80::1%eth0]", ("bob", "fe80::1%eth0", None)),
    ("fe80::1", (None, "fe80::1", None)),  # bare IPv6: no port
])
def test_addresses_parse(text: str, parsed: tuple) -> None:
    assert parse_address(text) == parsed


@pytest.mark.parametrize("text, message", [
    ("gpu1:99999", "invalid port '99999'"),
    ("gpu1:ssh", "invalid port 'ssh'"),
    ("-oProxyCommand=evil", "invalid host"),
    ("a b", "invalid host"),
    ("$(id)@gpu1", "invalid user"),
    ("[::1", "IPv6 address in brackets"),
    ("gpu1;rm -rf ~", "invalid host"),
])
def test_bad_addresses_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(AddressError, match=message.replace("(", r"\(").replace("$", r"\$")):
        parse_address(text)


def test_an_alias_resolves_through_the_ssh_config(tmp_path: Path) -> None:
    key = tmp_path / "id_box"
    key.write_text("")
    config = tmp_path / "config"
    config.write_text(f"Host box1\n  HostName 127.0.0.1\n  User alice\n  Port 2200\n  IdentityFile {key}\n"
                      "Host *\n  ServerAliveInterval 30\n")
    assert resolve("box1", config) == Endpoint("127.0.0.1", 2200, "alice", str(key), alias="box1")
    # what the address says wins over the config; a name no Host block changes is no alias
    assert resolve("bob@box1:2222", config) == Endpoint("127.0.0.1", 2222, "bob", str(key), alias="box1")
    assert resolve("gpu9.lab", config) == Endpoint("gpu9.lab")
    assert resolve("gpu9.lab", tmp_path / "missing") == Endpoint("gpu9.lab")


def test_a_jump_host_is_refused_not_ignored(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host inner\n  HostName 10.1.2.3\n  ProxyJump bastion\n")
    with pytest.raises(AddressError, match="ProxyJump.*cannot connect through a jump host.*localhost:2222"):
        resolve("inner", config)


def test_remote_commands_quote_every_word() -> None:
    assert command_line(["/opt/my python/bin/python", "-", "a;b", "$(id)", "it's"]) == \
        "'/opt/my python/bin/python' - 'a;b' '$(id)' 'it'\"'\"'s'"
    assert command_line(["~/venv/bin/python", "-"]) == '"$HOME"/venv/bin/python -'


def test_the_host_commands_load_no_torch_or_qt() -> None:
    """An admin's laptop drives hosts without torch: the host commands and the SSH side never import it."""
    code = ("import sys, easeml_gui.commands.hosts\n"
            "print(sorted(m for m in ('torch', 'PySide6', 'pyqtgraph') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
