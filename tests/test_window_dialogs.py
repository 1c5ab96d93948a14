"""The window's dialogs as a keyboard user and a reader of error lines meet them: an error line never squashes the
fields, the first field has the focus, Enter always means the main action, and a host that cannot be reached says
so in full (real widgets offscreen, a real store)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6 import QtWidgets
from PySide6.QtCore import Qt
from window_fixtures import open_window  # noqa: F401  (a fixture)

from easeml_gui.lab import hosts
from easeml_gui.lab.stores import open_reader, open_writer
from easeml_gui.views.dataset_dialog import DatasetDialog
from easeml_gui.views.host_dialogs import AddHostDialog, TrustDialog
from easeml_gui.views.tenant_dialog import TenantDialog

LONG_PROBLEM = ("tenant 'alice' already exists; pick another name, or change alice's weight and quota with Change… "
                "(an archived tenant keeps its name too, so its history stays its own)")


def has_focus(widget: QtWidgets.QWidget) -> bool:
    focus = QtWidgets.QApplication.focusWidget()
    return focus is widget or widget.isAncestorOf(focus)


def open_dialog(window, kind: str) -> QtWidgets.QDialog:
    if kind == "tenant":
        window.add_tenant()
        return window.dialog
    if kind == "dataset":
        return window.register_dataset(Path("/data/Cats & Dogs.tar.gz"))
    window.tabs.setCurrentWidget(window.hosts)
    window.hosts.add_button.click()
    return window.hosts.dialog


@pytest.mark.parametrize("kind,dialog_type", [("tenant", TenantDialog), ("dataset", DatasetDialog),
                                              ("host", AddHostDialog)])
def test_an_error_line_never_squashes_the_name_field(open_window, qtbot, tmp_path, kind, dialog_type):
    window = open_window(tmp_path / "lab.sqlite")
    dialog = open_dialog(window, kind)
    assert isinstance(dialog, dialog_type)
    qtbot.waitExposed(dialog)
    name_height = dialog.name.height()
    dialog.show_problem(LONG_PROBLEM)
    qtbot.wait(50)  # the layout settles
    assert dialog.name.height() == name_height
    assert dialog.problem.height() >= dialog.problem.heightForWidth(dialog.problem.width())  # every line shown
    dialog.reject()


def test_ctrl_t_then_typing_names_the_tenant_and_enter_adds_it(open_window, qtbot, tmp_path):
    db = tmp_path / "lab.sqlite"
    window = open_window(db)
    qtbot.waitUntil(lambda: window.lab.loaded)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    dialog = window.dialog
    assert isinstance(dialog, TenantDialog)
    qtbot.waitUntil(lambda: QtWidgets.QApplication.focusWidget() is dialog.name)
    qtbot.keyClicks(QtWidgets.QApplication.focusWidget(), "ali")  # typed straight after the shortcut: not lost
    while QtWidgets.QApplication.focusWidget() is not dialog.stop:  # Tab on to Cancel...
        qtbot.keyClick(QtWidgets.QApplication.focusWidget(), Qt.Key.Key_Tab)
    qtbot.mouseClick(dialog.name, Qt.MouseButton.LeftButton)  # ...then back into Name
    qtbot.keyClick(dialog.name, Qt.Key.Key_End)
    qtbot.keyClicks(dialog.name, "ce")
    with qtbot.waitSignal(dialog.succeeded, timeout=10_000):
        qtbot.keyClick(dialog.name, Qt.Key.Key_Return)  # the main action, not Cancel
    with open_reader(db) as store:
        assert [tenant.name for tenant in store.tenants()] == ["alice"]


def test_the_first_field_that_takes_typing_has_the_focus(open_window, qtbot, tmp_path):
    db = tmp_path / "lab.sqlite"
    with open_writer(db) as store:
        store.add_tenant("alice")
    window = open_window(db)
    qtbot.waitUntil(lambda: window.lab.tenants.source_model.rowCount() == 1)
    window.change_tenant("alice")
    change = window.dialog
    assert isinstance(change.name, QtWidgets.QLabel)
    qtbot.waitUntil(lambda: has_focus(change.weight))  # the first field it takes typing in
    change.reject()
    dataset = window.register_dataset(tmp_path / "cats")
    qtbot.waitUntil(lambda: has_focus(dataset.name))
    assert not dataset.stop.autoDefault() and dataset.go.isDefault()


def test_trust_on_an_unreachable_host_says_why_in_full_instead_of_reading(open_window, qtbot, tmp_path):
    db = tmp_path / "lab.sqlite"
    with open_writer(db) as store:
        hosts.add(store, "gpu-box1", "127.0.0.1:1")  # nothing listens on port 1
    window = open_window(db)
    view = window.hosts
    qtbot.waitUntil(lambda: view.row("gpu-box1") is not None)
    window.tabs.setCurrentWidget(view)
    view.select("gpu-box1")
    qtbot.mouseClick(view.trust_button, Qt.MouseButton.LeftButton)
    trust = view.dialog
    assert isinstance(trust, TrustDialog) and "Reading the key" in trust.message.text()
    qtbot.waitUntil(lambda: trust.problem.isVisible(), timeout=30_000)
    qtbot.wait(50)
    assert not trust.message.isVisible()  # "Reading the key…" is gone
    assert "127.0.0.1" in trust.problem.text() or "gpu-box1" in trust.problem.text()
    assert trust.problem.height() >= trust.problem.heightForWidth(trust.problem.width())  # not cut off
    assert not trust.go.isEnabled()
    trust.grab().save(str(tmp_path / "trust.png"))
