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


def test_a_jump_host_resolves_through_the_same_config(tmp_path: Path) -> None:
    key = tmp_path / "id_bastion"
    key.write_text("")
    config = tmp_path / "config"
    config.write_text(f"Host bastion\n  HostName 10.0.0.1\n  User bob\n  Port 2200\n  IdentityFile {key}\n"
                      "  ProxyJump none\n"  # the usual guard against the `Host *` below
                      "Host inner\n  HostName 10.1.2.3\n  ProxyJump bastion\n"
                      "Host spelled\n  ProxyJump carol@bastion:2222\n"
                      "Host uri\n  HostName 10.1.2.4\n  ProxyJump ssh://carol@10.0.0.9:2022\n"
                      "Host 10.0.0.9\n  ProxyJump none\n"
                      "Host 10.1.*\n  ProxyJump bastion\n")
    bastion = Endpoint("10.0.0.1", 2200, "bob", str(key), alias="bastion")
    inner = resolve("alice@inner", config)
    assert inner == Endpoint("10.1.2.3", 22, "alice", alias="inner", jump=bastion)
    assert inner.route() == "alice@10.1.2.3 via bob@10.0.0.1:2200"
    # what the ProxyJump spells out wins over the jump host's config, as in an address
    assert resolve("spelled", config).jump == Endpoint("10.0.0.1", 2222, "carol", str(key), alias="bastion")
    assert resolve("uri", config).jump == Endpoint("10.0.0.9", 2022, "carol")
    # a pattern's ProxyJump makes a plain address an alias too: connections read the jump host through it
    assert resolve("10.1.9.9", config) == Endpoint("10.1.9.9", alias="10.1.9.9", jump=bastion)
    assert resolve("bastion", config).jump is None


@pytest.mark.parametrize("block, message", [
    ("ProxyJump a,b", r"'inner' is reached through a chain of jump hosts \(ProxyJump 'a,b'.*one jump host only"),
    ("ProxyJump hop\nHost hop\n  ProxyJump bastion", r"chain of jump hosts \(ProxyJump 'bastion' of 'hop'.*"
                                                       r"ProxyJump none` under `Host hop`"),
    ("ProxyJump inner", r"chain of jump hosts \(ProxyJump 'inner' of 'inner'"),  # itself, as `Host *` can say
    ("ProxyCommand ssh -W %h:%p bastion", r"ProxyCommand 'ssh -W inner:22 bastion'.*cannot run a ProxyCommand.*"
                                          r"ProxyJump JUMP_HOST.*--address localhost:2222"),
    ("ProxyJump hop\nHost hop\n  ProxyCommand nc %h %p", r"'hop' is reached through ProxyCommand"),
])
def test_what_cannot_be_honoured_is_refused_not_ignored(tmp_path: Path, block: str, message: str) -> None:
    config = tmp_path / "config"
    config.write_text(f"Host inner\n  {block}\n")
    with pytest.raises(AddressError, match=message):
        resolve("inner", config)


def test_none_means_no_proxy(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host box\n  HostName 10.1.2.3\n  ProxyCommand none\n  ProxyJump none\n")
    assert resolve("box", config) == Endpoint("10.1.2.3", alias="box")


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
