"""The Hosts tab's Change… (the host's python, the GPUs tasks may use and their order) and Remove… (asks first;
a host no task ran on goes with its pinned keys), each written by the hosts controller on the window's pool."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from test_window_hosts import gpu
from window_fixtures import finish_dialog, open_window  # noqa: F401  (a fixture)

from easeml_gui.lab.hosts import gpu_choice
from easeml_gui.lab.stores import open_reader, open_writer
from easeml_gui.views.host_dialogs import HostEditDialog


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """gpu1: probed, two GPUs; gpu2: never probed."""
    path = tmp_path / "lab.sqlite"
    with open_writer(path) as store:
        store.add_host("gpu1", "10.0.0.1", user="lab")
        store.record_probe("gpu1", {"status": "ready", "ready": True, "devices": ["cuda:0", "cuda:1"], "notes": [],
                                    "report": None, "gpus": [gpu(0, 40000), gpu(1, 40000)]})
        store.add_host("gpu2", "10.0.0.2", user="lab")
    return path


def test_change_a_hosts_python_and_gpus(open_window, qtbot, db):
    window = open_window(db)
    view = window.hosts
    qtbot.waitUntil(lambda: view.row("gpu1") is not None)
    assert not view.edit_button.isEnabled() and not view.remove_button.isEnabled()
    view.select("gpu1")
    qtbot.mouseClick(view.edit_button, Qt.MouseButton.LeftButton)
    dialog = view.dialog
    assert isinstance(dialog, HostEditDialog)
    assert (dialog.python.text(), dialog.gpus.text()) == ("python3", "all")
    assert "0: NVIDIA A100, 1: NVIDIA A100" in dialog.gpus.toolTip()
    dialog.gpus.setText("one")
    qtbot.mouseClick(dialog.go, Qt.MouseButton.LeftButton)
    assert "give all, or GPU numbers" in dialog.problem.text() and dialog.isVisible()
    dialog.python.setText("/opt/torch/bin/python3")
    dialog.gpus.setText("1, 0")
    finish_dialog(qtbot, dialog)
    qtbot.waitUntil(lambda: view.row("gpu1").python == "/opt/torch/bin/python3")
    assert view.row("gpu1").allowed == (1, 0)
    with open_reader(db) as store:
        host = store.host("gpu1")
    assert (host.python, host.gpus) == ("/opt/torch/bin/python3", (1, 0))
    assert "tasks may use GPU 1, 0" in window.notice.text()
    view.select("gpu1")
    qtbot.mouseClick(view.edit_button, Qt.MouseButton.LeftButton)
    again = view.dialog
    assert again.gpus.text() == "1,0"
    again.gpus.setText("all")
    finish_dialog(qtbot, again)
    qtbot.waitUntil(lambda: view.row("gpu1").allowed is None)


def test_a_refused_change_is_said_in_the_dialog(open_window, qtbot, db):
    window = open_window(db)
    view = window.hosts
    qtbot.waitUntil(lambda: view.row("gpu2") is not None)
    view.select("gpu2")
    qtbot.mouseClick(view.edit_button, Qt.MouseButton.LeftButton)
    dialog = view.dialog
    dialog.gpus.setText("0,0")
    qtbot.mouseClick(dialog.go, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.problem.isVisible())
    assert "distinct GPU numbers" in dialog.problem.text()
    with open_reader(db) as store:
        assert store.host("gpu2").gpus is None


def test_remove_a_host_asks_first(open_window, qtbot, db):
    window = open_window(db)
    view = window.hosts
    qtbot.waitUntil(lambda: view.row("gpu2") is not None)
    asked = []
    view.confirm = lambda title, question, yes: asked.append(question) or False  # Cancel: nothing happens
    view.select("gpu2")
    qtbot.mouseClick(view.remove_button, Qt.MouseButton.LeftButton)
    assert asked and "Remove gpu2 from the lab?" in asked[0]
    with open_reader(db) as store:
        assert [h.name for h in store.hosts()] == ["gpu1", "gpu2"]
    view.confirm = lambda title, question, yes: yes == "Remove"
    view.select("gpu2")
    qtbot.mouseClick(view.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.row("gpu2") is None)
    assert window.notice.text() == "Removed gpu2 and its pinned host keys."
    with open_reader(db) as store:
        assert [h.name for h in store.hosts(include_archived=True)] == ["gpu1"]  # no task ran on it: deleted


def test_the_gpu_choice_reads_all_or_numbers_in_order():
    assert gpu_choice("all") is None and gpu_choice(" ") is None
    assert gpu_choice("2, 0") == [2, 0]
    with pytest.raises(Exception, match="e.g. 0,2"):
        gpu_choice("0,gpu1")
