"""What the Lab tab shows when there is no lab: how to make one, or why the store cannot be read."""

from __future__ import annotations

import html
import re

from PySide6 import QtCore, QtGui, QtWidgets

from .theme import MUTED, resource_path

Qt = QtCore.Qt


def _rich(text: str) -> str:
    """Escape, and show `command` spans as code."""
    return re.sub(r"`([^`]+)`", r"<code style='background:#eef1f5; padding:2px 4px'>\1</code>", html.escape(text))


class EmptyLabPanel(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.icon = QtWidgets.QLabel()
        self.icon.setPixmap(QtGui.QIcon(resource_path("easeml-gui.svg")).pixmap(96, 96))
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
        self.detail = QtWidgets.QLabel()
        self.detail.setWordWrap(True)
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail.setStyleSheet(f"color: {MUTED}")
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        column = QtWidgets.QVBoxLayout()
        column.setSpacing(14)
        column.addStretch(2)
        for widget in (self.icon, self.title, self.message, self.detail):
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

    def show_message(self, message: str, empty: bool, store: str) -> None:
        """empty: there is no lab yet (a hint); else the store could not be read (its message says what to do)."""
        self.title.setText("No lab yet" if empty else "The store cannot be read")
        prefix = "No lab yet:"
        if empty and message.startswith(prefix):
            message = message[len(prefix):].strip()
            message = message[:1].upper() + message[1:]
        self.message.setText(_rich(message))
        more = "The Simulate tab compares scheduling policies without a lab." if empty else \
            "The window keeps trying every few seconds."
        self.detail.setText(f"Store: {store}\n{more}" if store else more)

    def text(self) -> str:
        return "\n".join(w.text() for w in (self.title, self.message, self.detail))
