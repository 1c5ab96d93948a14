"""The Hosts tab against a real OpenSSH sshd on 127.0.0.1 (tests/sshd.py): add a host by its ~/.ssh/config
alias, see its SHA256 fingerprint and trust it, probe it ("ready (CPU only)"); and choose the GPUs tasks may use.
Every connection runs on the window's pool; the test only clicks and waits."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from PySide6.QtCore import Qt
from sshd import client_key, keygen, keygen_fingerprint, ssh_home, sshd, sshd_factory  # noqa: F401  (fixtures)
from test_hosts_ssh import NO_TORCH_PYTHON, behind_a_jump_host, fingerprint
from window_fixtures import finish_dialog, open_window  # noqa: F401  (a fixture)

from easeml_gui.controllers.passphrases import PassphraseBroker
from easeml_gui.lab import hosts
from easeml_gui.lab.stores import open_reader, open_writer
from easeml_gui.views.host_dialogs import AddHostDialog, TrustDialog

PROBE_TIMEOUT_MS = 120_000  # the probe imports torch on the "remote" host: seconds on a busy 2-core machine


def test_add_trust_and_probe_a_host_over_ssh(open_window, qtbot, sshd, client_key, ssh_home, tmp_path):
    (ssh_home / ".ssh" / "config").write_text(
        f"Host box1\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {sshd.user}\n  IdentityFile {client_key}\n"
        "Host *\n  ServerAliveInterval 30\n")
    window = open_window(tmp_path / "lab.sqlite")
    view = window.hosts
    window.tabs.setCurrentWidget(view)
    assert not view.trust_button.isEnabled() and not view.probe_button.isEnabled()

    qtbot.mouseClick(view.add_button, Qt.MouseButton.LeftButton)
    dialog = view.dialog
    assert isinstance(dialog, AddHostDialog)
    qtbot.waitUntil(lambda: dialog.address.count() == 1)
    assert dialog.address.itemText(0) == "box1"  # the config's alias, not its `Host *` pattern
    dialog.name.setText("box")
    dialog.address.setCurrentIndex(0)
    dialog.python.setText(sys.executable)  # this venv's Python has torch: the probe can say "ready"
    finish_dialog(qtbot, dialog)
    qtbot.waitUntil(lambda: view.row("box") is not None)
    row = view.row("box")
    assert (row.address, row.alias, row.fingerprint, row.status) == (
        f"{sshd.user}@127.0.0.1:{sshd.port}", "box1", None, "never probed")

    view.select("box")
    assert view.trust_button.isEnabled()
    qtbot.mouseClick(view.trust_button, Qt.MouseButton.LeftButton)
    trust = view.dialog
    assert isinstance(trust, TrustDialog) and not trust.go.isEnabled()  # nothing to trust before the key is read
    qtbot.waitUntil(lambda: trust.go.isEnabled(), timeout=30_000)
    bits, fingerprint, *_ = keygen_fingerprint(sshd.host_key.with_suffix(".pub")).split()
    assert trust.fingerprint.text() == f"{bits} {fingerprint} box (ED25519)"  # as ssh-keygen -lf prints it
    assert "Compare it" in trust.message.text()
    finish_dialog(qtbot, trust)
    qtbot.waitUntil(lambda: view.row("box").fingerprint == fingerprint)

    view.select("box")
    qtbot.mouseClick(view.probe_button, Qt.MouseButton.LeftButton)
    assert "probing" in view.tree.topLevelItem(0).text(3) and not view.probe_button.isEnabled()
    qtbot.waitUntil(lambda: view.row("box").status == "ready (CPU only)", timeout=PROBE_TIMEOUT_MS)
    qtbot.waitUntil(lambda: view.tree.topLevelItem(0).text(3) == "ready (CPU only)")
    assert view.row("box").ready and view.row("box").gpus == ()
    assert not window.last_error


def gpu(index: int, free: int, processes=()) -> dict:
    return {"index": index, "name": "NVIDIA A100", "total_mib": 40960, "free_mib": free, "visible": True,
            "processes": list(processes), "status": f"GPU {index} ready", "ready": True}


def test_the_gpus_tasks_may_use_are_ticked(open_window, qtbot, tmp_path):
    db = tmp_path / "lab.sqlite"
    with open_writer(db) as store:  # a probed host with two GPUs, one shared with another user
        store.add_host("gpu1", "10.0.0.1", user="lab")
        store.record_probe("gpu1", {"status": "ready", "ready": True, "devices": ["cuda:0", "cuda:1"], "notes": [],
                                    "report": None, "gpus": [gpu(0, 40000),
                                                             gpu(1, 20480, [{"user": "eve", "used_mib": 20480}])]})
    window = open_window(db)
    view = window.hosts
    qtbot.waitUntil(lambda: view.tree.topLevelItemCount() == 1 and view.tree.topLevelItem(0).childCount() == 2)
    host = view.tree.topLevelItem(0)
    first, second = host.child(0), host.child(1)
    assert [first.text(c) for c in range(3)] == ["GPU 0: NVIDIA A100", "39.1 of 40.0 GiB free", "—"]
    assert second.text(2) == "eve (20.0 GiB)"
    assert first.checkState(0) == second.checkState(0) == Qt.CheckState.Checked  # all GPUs by default
    second.setCheckState(0, Qt.CheckState.Unchecked)
    qtbot.waitUntil(lambda: view.row("gpu1").allowed == (0,))
    with open_reader(db) as store:
        assert store.host("gpu1").gpus == (0,)
    assert view.tree.topLevelItem(0).child(1).checkState(0) == Qt.CheckState.Unchecked
    view.tree.topLevelItem(0).child(1).setCheckState(0, Qt.CheckState.Checked)
    qtbot.waitUntil(lambda: view.row("gpu1").allowed is None)  # every GPU again


def test_a_host_behind_a_jump_host_is_trusted_jump_host_first(open_window, qtbot, sshd_factory, client_key,
                                                               ssh_home, tmp_path):
    bastion, target = sshd_factory(), sshd_factory()
    behind_a_jump_host(ssh_home, client_key, bastion.port, target.port)
    db = tmp_path / "lab.sqlite"
    window = open_window(db)
    with open_writer(db) as store:
        hosts.add(store, "gpu", "inner", python=sys.executable)
    view = window.hosts
    qtbot.waitUntil(lambda: view.row("gpu") is not None)
    window.tabs.setCurrentWidget(view)
    view.select("gpu")
    qtbot.mouseClick(view.trust_button, Qt.MouseButton.LeftButton)
    trust = view.dialog
    qtbot.waitUntil(lambda: trust.go.isEnabled(), timeout=30_000)
    # first the jump host's key: nothing has logged in to it yet
    assert trust.fingerprint.text().split()[1] == fingerprint(bastion) and "jump host bastion" in trust.message.text()
    assert trust.go.text() == "Trust the jump host's key"
    qtbot.mouseClick(trust.go, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: trust.go.isEnabled() and trust.fingerprint.text().split()[1] == fingerprint(target),
                    timeout=30_000)
    assert "gpu" in trust.message.text() and "Compare it" in trust.message.text()
    finish_dialog(qtbot, trust)
    with open_reader(db) as store:
        pins = {pin.fingerprint for pin in store.host_keys("gpu")}
    assert pins == {fingerprint(bastion), fingerprint(target)}  # both pinned, together
    assert not window.last_error


def test_an_encrypted_keys_passphrase_is_asked_in_the_window_and_never_stored(open_window, qtbot, sshd, ssh_home,
                                                                             tmp_path):
    locked = keygen(tmp_path / "id_locked", passphrase="open sesame")
    sshd.authorize(locked.with_suffix(".pub"))
    db = tmp_path / "lab.sqlite"
    with open_writer(db) as store:
        hosts.add(store, "box", sshd.address, key=locked, python=NO_TORCH_PYTHON)
        hosts.accept(store, "box", hosts.check_key(store, "box").scan)
    window = open_window(db)
    view = window.hosts
    qtbot.waitUntil(lambda: view.row("box") is not None)
    asked: list[Path] = []
    view.ask_passphrase = lambda path: asked.append(path) or "open sesame"  # what the admin types in the dialog
    view.probe("box")
    qtbot.waitUntil(lambda: view.row("box").status.startswith("no torch"), timeout=PROBE_TIMEOUT_MS)  # logged in
    assert asked == [locked]
    view.ask_passphrase = lambda path: None  # the admin cancels the dialog: a clear status, nothing else
    view.probe("box")
    qtbot.waitUntil(lambda: view.row("box").status == "login failed: key encrypted, no passphrase",
                    timeout=PROBE_TIMEOUT_MS)
    assert b"open sesame" not in db.read_bytes()


def test_closing_the_window_answers_a_pending_passphrase_question_so_no_thread_waits(qtbot):
    broker = PassphraseBroker()
    broker.handler = lambda path: "never shown"  # its question is queued to the GUI thread, which is not spinning
    answers: list[str | None] = []
    login = threading.Thread(target=lambda: answers.append(broker.ask(Path("/keys/id_locked"))))
    login.start()
    deadline = time.monotonic() + 5  # a plain wait: spinning Qt's loop would deliver the question
    while not broker._pending and time.monotonic() < deadline:
        time.sleep(0.01)
    broker.close()
    login.join(5)
    assert not login.is_alive() and answers == [None]
    assert broker.ask(Path("/keys/id_locked")) is None  # closed: nobody is asked any more
