"""What the Lab tab shows when there is no lab: a welcome that offers the first steps (the demo lab, a tenant, a
dataset dropped on it), or why the store cannot be read."""

from __future__ import annotations

import html
import re

from PySide6 import QtCore, QtGui, QtWidgets

from .theme import resource_path, scheme

Qt = QtCore.Qt
WELCOME = ("Create the demo lab to watch one at work, or start your own: add a tenant, drop a dataset on the "
           "window, then give the tenant a job. From a terminal: `easeml-gui demo` or `easeml-gui tenant add NAME`.")


def _rich(text: str) -> str:
    """Escape, and show `command` spans as code."""
    code = rf"<code style='background:{scheme().code}; padding:2px 4px'>\1</code>"
    return re.sub(r"`([^`]+)`", code, html.escape(text))


class DropZone(QtWidgets.QFrame):
    """A dashed box that says where a dataset goes; a click opens the file dialog (the window takes the drop)."""

    clicked = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dropZone")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("a folder with one sub-folder per class, or a .zip / .tar / .tar.gz of one")
        label = QtWidgets.QLabel("<b>Drop a dataset here</b><br>"
                                 f"<span style='color:{scheme().muted}'>a folder of class folders, or a .zip / .tar / "
                                 ".tar.gz — or click to choose one</span>")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(18, 16, 18, 16)
        layout.addWidget(label)

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mouseReleaseEvent(event)


class EmptyLabPanel(QtWidgets.QWidget):
    demoRequested = QtCore.Signal()
    tenantRequested = QtCore.Signal()
    datasetRequested = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.icon = QtWidgets.QLabel()
        self.icon.setPixmap(QtGui.QIcon(resource_path("easeml-gui.svg")).pixmap(80, 80))
        self.icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = QtWidgets.QLabel()
        self.title.setObjectName("emptyTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message = QtWidgets.QLabel()
        self.message.setObjectName("emptyMessage")
        self.message.setTextFormat(Qt.TextFormat.RichText)
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.demo = QtWidgets.QPushButton("Create the demo lab")
        self.demo.setObjectName("primary")
        self.demo.setToolTip("four tenants with image datasets made from scikit-learn's digits, and jobs that "
                             "train on a CPU in minutes")
        self.demo.clicked.connect(self.demoRequested)
        self.tenant = QtWidgets.QPushButton("Add a tenant…")
        self.tenant.clicked.connect(self.tenantRequested)
        self.drop = DropZone()
        self.drop.clicked.connect(self.datasetRequested)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setVisible(False)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.demo)
        buttons.addWidget(self.tenant)
        buttons.addStretch(1)
        self.actions_box = QtWidgets.QWidget()
        actions = QtWidgets.QVBoxLayout(self.actions_box)
        actions.setContentsMargins(0, 6, 0, 0)
        actions.setSpacing(14)
        actions.addLayout(buttons)
        actions.addWidget(self.drop)
        actions.addWidget(self.progress)
        self.detail = QtWidgets.QLabel()
        self.detail.setWordWrap(True)
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail.setStyleSheet(f"color: {scheme().muted}")
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        column = QtWidgets.QVBoxLayout()
        column.setSpacing(14)
        column.addStretch(2)
        for widget in (self.icon, self.title, self.message, self.actions_box, self.detail):
            column.addWidget(widget)
        column.addStretch(3)
        box = QtWidgets.QWidget()
        box.setLayout(column)
        box.setMaximumWidth(640)
        layout = QtWidgets.QHBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(box, 4)
        layout.addStretch(1)
        self.show_message("", True, "")

    def show_message(self, message: str, empty: bool, store: str, datasets: int = 0) -> None:
        """empty: there is no lab yet (the welcome); else the store could not be read (`message` says what to do)."""
        self.title.setText("No lab yet" if empty else "The store cannot be read")
        self.actions_box.setVisible(empty)
        if empty:
            message = WELCOME
            if datasets:
                message = (f"{datasets} dataset{'s' if datasets > 1 else ''} registered (see the Datasets tab). "
                           "Add a tenant next, then give it a job. From a terminal: `easeml-gui tenant add NAME`.")
        self.message.setText(_rich(message))
        more = "The Simulate tab compares scheduling policies without a lab." if empty else \
            "The window keeps trying every few seconds."
        self.detail.setText(f"Store: {store}\n{more}" if store else more)

    def show_progress(self, done: int, total: int, stage: str) -> None:
        """Long work started from here (the demo lab): a progress bar under the buttons; total < 0 hides it."""
        self.progress.setVisible(total >= 0)
        self.demo.setEnabled(total < 0)
        self.progress.setRange(0, max(total, 0))
        self.progress.setValue(max(done, 0))
        self.progress.setFormat(f"creating the demo lab: {stage or 'starting'} ({done} of {total})")

    def text(self) -> str:
        return "\n".join(w.text() for w in (self.title, self.message, self.detail))
