"""A yes-or-cancel question before something the admin cannot take back (remove a host, a dataset), and how its
answer reads."""

from __future__ import annotations

from PySide6 import QtWidgets


def confirm(parent: QtWidgets.QWidget, title: str, question: str, yes: str) -> bool:
    """True when the admin clicked `yes`; Cancel is the default, so Enter never removes anything."""
    box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Question, title, question,
                                QtWidgets.QMessageBox.StandardButton.Cancel, parent)
    go = box.addButton(yes, QtWidgets.QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(QtWidgets.QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is go


def history_text(kept: dict[str, int]) -> str:
    """The history that kept an entry archived instead of deleted: "3 tasks", "2 jobs"."""
    return ", ".join(f"{count} {table}" for table, count in kept.items())
