"""Hosts in the store (a real SQLite file): the v3 settings, pinned keys, removal that keeps history."""

from __future__ import annotations

from pathlib import Path

import pytest

from easeml_gui.engine.types import Arm, Task, TaskState
from easeml_gui.store import KeySource, LabStore, StoreError, schema_version


@pytest.fixture
def store(tmp_path: Path):
    with LabStore(tmp_path / "lab.sqlite") as s:
        yield s


def test_a_new_host_has_defaults_and_no_pins(store: LabStore) -> None:
    host = store.add_host("gpu1", "10.0.0.5", user="alice", port=2222, python="/opt/py/bin/python",
                          ssh_alias="box1")
    assert (host.python, host.gpus, host.share_busy_gpus, host.ssh_alias) == ("/opt/py/bin/python", None, False, "box1")
    assert store.host("gpu1") == host and store.host_keys("gpu1") == []
    assert store.add_host("gpu2", "gpu2.lab").python == "python3"
    assert schema_version() >= 3


def test_set_host_changes_gpus_and_sharing(store: LabStore) -> None:
    store.add_host("gpu1", "gpu1.lab")
    assert store.set_host("gpu1", gpus=[2, 0]).gpus == (2, 0)  # the order is the order to fill them
    assert store.set_host("gpu1", share_busy_gpus=True).share_busy_gpus is True
    host = store.set_host("gpu1", all_gpus=True, python="/usr/bin/python3")
    assert (host.gpus, host.share_busy_gpus, host.python) == (None, True, "/usr/bin/python3")
    for bad in ([0, 0], [-1], []):
        with pytest.raises(StoreError, match="invalid GPU list"):
            store.set_host("gpu1", gpus=bad)
    with pytest.raises(StoreError, match="invalid python"):
        store.set_host("gpu1", python="-c import os")
    with pytest.raises(StoreError, match="unknown host 'gpu9'"):
        store.set_host("gpu9", share_busy_gpus=True)
    assert store.host("gpu1").gpus is None  # refused changes changed nothing


def test_pins_add_per_key_type_and_replace_drops_the_old_ones(store: LabStore) -> None:
    store.add_host("gpu1", "gpu1.lab")
    store.pin_host_key("gpu1", "ssh-ed25519", "AAAAC3Nz", "SHA256:ed")
    host = store.pin_host_key("gpu1", "ecdsa-sha2-nistp256", "AAAAE2Vj", "SHA256:ec", source=KeySource.KNOWN_HOSTS)
    assert host.host_key_fingerprint == "SHA256:ec"
    assert [(k.key_type, k.source) for k in store.host_keys("gpu1")] == [
        ("ssh-ed25519", KeySource.ACCEPTED), ("ecdsa-sha2-nistp256", KeySource.KNOWN_HOSTS)]
    store.pin_host_key("gpu1", "ssh-ed25519", "AAAAnew", "SHA256:new", replace=True)
    assert [(k.key_type, k.key_base64) for k in store.host_keys("gpu1")] == [("ssh-ed25519", "AAAAnew")]
    with pytest.raises(StoreError, match="SHA256"):
        store.pin_host_key("gpu1", "ssh-ed25519", "AAAA", "md5:aa")
    assert [k.fingerprint for k in store.host_keys("gpu1")] == ["SHA256:new"]


def test_remove_deletes_an_unused_host_and_archives_one_with_tasks(store: LabStore) -> None:
    store.add_host("spare", "spare.lab")
    store.pin_host_key("spare", "ssh-ed25519", "AAAA", "SHA256:x")
    assert store.remove_host("spare") == {}
    assert store.hosts(include_archived=True) == []
    store.add_host("spare", "spare.lab")  # the name is free again, and no old pin came back
    assert store.host_keys("spare") == []

    store.add_host("gpu1", "gpu1.lab")
    store.add_tenant("alice")
    task = Task(task_id="t1", tenant="alice", arm=Arm("resnet18", 0), device="cuda:0", config={"host": "gpu1"})
    store.task_state(task, TaskState.RUNNING)
    assert store.task("t1").host == "gpu1"
    assert store.remove_host("gpu1") == {"tasks": 1}
    assert [h.name for h in store.hosts()] == ["spare"]
    assert store.task("t1").host == "gpu1"  # the task still names the host it ran on
    with pytest.raises(StoreError, match="archived"):
        store.set_host("gpu1", share_busy_gpus=True)
