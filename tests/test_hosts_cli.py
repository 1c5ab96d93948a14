"""`easeml-gui host ...` refusals: each says what is wrong and what to do, exits non-zero and changes nothing."""

from __future__ import annotations

import pytest
from cli_runner import run_cli  # noqa: F401 (a fixture)
from sshd import ssh_home  # noqa: F401 (a fixture)

from easeml_gui.store import LabStore


@pytest.fixture
def cli(run_cli, tmp_path, ssh_home):
    return lambda *args: run_cli("--db", tmp_path / "lab.sqlite", *args)


def test_bad_host_commands_change_nothing(cli, tmp_path):
    assert cli("host", "add", "gpu1", "--address", "alice@gpu1.lab:2222").returncode == 0
    db = tmp_path / "lab.sqlite"
    with LabStore(db) as store:
        before = store.hosts()
    for args, code, message in [
        (("host", "add", "a;b", "--address", "gpu2"), 1, "invalid host name 'a;b'"),
        (("host", "add", "gpu2", "--address", "gpu2:0"), 1, "invalid port '0'"),
        (("host", "add", "gpu2", "--address=-oProxyCommand=x"), 1, "invalid host"),
        (("host", "add", "gpu2", "--address", "gpu2", "--key", tmp_path / "nokey"), 1, "no key file at"),
        (("host", "add", "gpu2", "--address", "gpu2", "--python=-c"), 1, "invalid python"),
        (("host", "add", "GPU1", "--address", "gpu2"), 1, "differ only by case"),
        (("host", "trust", "gpu9"), 1, "unknown host 'gpu9'; known hosts: gpu1"),
        (("host", "probe", "gpu9"), 1, "unknown host 'gpu9'"),
        (("host", "remove", "gpu9"), 1, "unknown host 'gpu9'"),
        (("host", "set", "gpu1"), 2, "say what to change"),
        (("host", "set", "gpu1", "--gpus", "0,0"), 2, "distinct GPU numbers"),
        (("host", "set", "gpu1", "--gpus", "1", "--all-gpus"), 2, "not allowed with argument"),
        (("host", "add", "gpu2"), 2, "--address"),
    ]:
        out = cli(*args)
        assert out.returncode == code and message in out.stderr and "Traceback" not in out.stderr, (args, out)
    with LabStore(db) as store:
        assert store.hosts() == before and store.host_keys("gpu1") == []


def test_list_and_set_show_the_settings(cli):
    cli("host", "add", "gpu1", "--address", "alice@[fe80::1]:2222", "--python", "~/venv/bin/python")
    out = cli("host", "set", "gpu1", "--gpus", "2,0", "--share-busy-gpus")
    assert out.returncode == 0 and "GPUs 2,0 in that order, shares GPUs other users' processes hold" in out.stdout
    listing = cli("host", "list").stdout
    assert "gpu1: alice@[fe80::1]:2222, python ~/venv/bin/python, GPUs 2,0, shares busy GPUs" in listing
    assert "NOT TRUSTED (host trust gpu1)" in listing and "never probed" in listing
    assert "all GPUs, skips GPUs other users hold" in cli("host", "set", "gpu1", "--all-gpus",
                                                          "--no-share-busy-gpus").stdout
    assert "removed host gpu1" in cli("host", "remove", "gpu1").stdout
    assert "no hosts yet" in cli("host", "list").stdout
