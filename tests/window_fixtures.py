"""Fixtures for the window tests (`from window_fixtures import ...`): the real main window on a real store, and
drops made of real Qt drag-and-drop events."""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

from easeml_gui import app as gui  # noqa: E402

Qt = QtCore.Qt


@pytest.fixture
def open_window(qtbot):
    """make(db) -> the main window on that store, polling every 100 ms; shut down (threads joined) afterwards."""
    windows = []

    def make(db: Path):
        gui.application()
        window = gui.build_window(db, refresh_ms=100)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close_question = lambda: "stop"  # a run a test left behind is stopped with the window
        window.close()
        window.shutdown()


def drop(window: QtWidgets.QWidget, *paths: Path) -> bool:
    """Drag `paths` over the window and drop them, as a file manager does; True when the window took the drag."""
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(path)) for path in paths])
    at = QtCore.QPoint(window.width() // 2, window.height() // 2)
    with warnings.catch_warnings():  # PySide6 flags the QPoint constructor, the only one Qt 6 has
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QtGui.QDragEnterEvent(at, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                      Qt.KeyboardModifier.NoModifier)
    QtWidgets.QApplication.sendEvent(window, enter)
    if not enter.isAccepted():
        return False
    event = QtGui.QDropEvent(QtCore.QPointF(at), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                             Qt.KeyboardModifier.NoModifier)
    QtWidgets.QApplication.sendEvent(window, event)
    return True


def finish_dialog(qtbot, dialog, timeout: int = 60000) -> None:
    """Click the dialog's main button and wait until its operation succeeded (it then closes)."""
    with qtbot.waitSignal(dialog.succeeded, timeout=timeout):
        qtbot.mouseClick(dialog.go, Qt.MouseButton.LeftButton)
