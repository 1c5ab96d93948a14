"""The window's menu bar (File, Lab, View, Help) carries the toolbar's own actions with their shortcuts, Ctrl+Q
quits; the run's "Stopping…" line goes once the lab stopped; Export takes a folder that does not exist yet."""

from __future__ import annotations

from PySide6 import QtGui, QtWidgets
from PySide6.QtCore import Qt
from window_fixtures import open_window  # noqa: F401  (a fixture)

from easeml_gui.lab.runs import RunState
from easeml_gui.views.folder_dialog import NewFolderDialog
from easeml_gui.views.main_window import STOPPING


def menus(window) -> dict[str, QtWidgets.QMenu]:
    return {action.text().replace("&", ""): action.menu() for action in window.menuBar().actions()}


def shortcut(action: QtGui.QAction) -> str:
    return action.shortcut().toString()


def test_the_menus_carry_the_toolbars_actions_with_their_shortcuts(open_window, tmp_path):
    window = open_window(tmp_path / "lab.sqlite")
    bar = menus(window)
    assert list(bar) == ["File", "Lab", "View", "Help"]
    file_actions = [a for a in bar["File"].actions() if not a.isSeparator()]
    assert file_actions == [window.add_dataset_action, window.add_archive_action, window.export_action,
                            window.quit_action]  # the very objects: one shortcut, one enabled state
    assert shortcut(window.quit_action) == "Ctrl+Q"
    lab_actions = [a for a in bar["Lab"].actions() if not a.isSeparator()]
    assert lab_actions == [window.add_tenant_action, window.add_job_action, window.start_action,
                           window.stop_action, window.cancel_action]
    assert [shortcut(a) for a in lab_actions] == ["Ctrl+T", "Ctrl+J", "Ctrl+R", "Ctrl+.", "Ctrl+Shift+."]
    view = bar["View"]
    view.aboutToShow.emit()
    assert view.actions()[0] is window.refresh_action and shortcut(window.refresh_action) == "F5"
    tabs = [a for a in view.actions()[1:] if not a.isSeparator()]
    assert [a.text() for a in tabs] == [window.tabs.tabText(i) for i in range(window.tabs.count())]
    tabs[1].trigger()
    assert window.tabs.currentIndex() == 1
    assert [a.text() for a in bar["Help"].actions()][0].startswith("Read me")


def test_ctrl_q_closes_the_window(open_window, qtbot, tmp_path):
    window = open_window(tmp_path / "lab.sqlite")
    window.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is window)
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible())


def test_the_stopping_line_goes_once_the_lab_stopped(open_window, tmp_path):
    window = open_window(tmp_path / "lab.sqlite")
    window.tell(STOPPING)
    window.show_run(RunState(None))  # the watch saw the run gone
    assert window.notice.text() == "The lab stopped."
    window._stopping(cancel=False)  # the stop request answered after the run ended: not "stopping" again
    assert window.notice.text() == "The lab stopped."
    window.tell("Added tenant alice.")
    window.show_run(RunState(None))
    assert window.notice.text() == "Added tenant alice."  # other news stays


def test_export_takes_a_folder_that_does_not_exist_yet(qtbot, tmp_path):
    dialog = NewFolderDialog(None, "Export alice's best model into", "Export here", tmp_path)
    qtbot.addWidget(dialog)
    asked = []
    dialog.may_create = lambda folder: asked.append(folder) or True  # the admin says yes
    dialog.selectFile(str(tmp_path / "alice-model"))
    dialog.accept()
    assert dialog.result() == QtWidgets.QDialog.DialogCode.Accepted
    assert asked == [tmp_path / "alice-model"] and dialog.chosen() == tmp_path / "alice-model"
    assert not (tmp_path / "alice-model").exists()  # made by the export itself, not by picking it
    refused = NewFolderDialog(None, "Export", "Export here", tmp_path)
    qtbot.addWidget(refused)
    refused.may_create = lambda folder: False
    refused.selectFile(str(tmp_path / "typo"))
    refused.accept()
    assert refused.result() != QtWidgets.QDialog.DialogCode.Accepted
