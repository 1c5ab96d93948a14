"""Pick a folder to write into, where a folder that does not exist yet is a fine answer: it is made by whatever
writes into it (an export), after the admin said yes. Qt's own folder picker refuses such a name ("Directory not
found"), which left no way to export into a new folder but making it elsewhere first."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtWidgets


class NewFolderDialog(QtWidgets.QFileDialog):
    def __init__(self, parent: QtWidgets.QWidget | None, title: str, action: str, start: Path | None = None) -> None:
        super().__init__(parent, title, str(start or Path.home()))
        # Qt's own dialog, not the desktop's: only its accept() can be taught to take a new folder.
        self.setOption(QtWidgets.QFileDialog.Option.DontUseNativeDialog, True)
        self.setOption(QtWidgets.QFileDialog.Option.ShowDirsOnly, True)
        self.setFileMode(QtWidgets.QFileDialog.FileMode.Directory)
        self.setLabelText(QtWidgets.QFileDialog.DialogLabel.Accept, action)

    def chosen(self) -> Path | None:
        files = self.selectedFiles()
        return Path(files[0]) if files else None

    def accept(self) -> None:
        folder = self.chosen()
        if folder is None or folder.exists():
            super().accept()  # Qt's checks: an existing folder is entered or taken as it always was
        elif self.may_create(folder):
            self.done(QtWidgets.QDialog.DialogCode.Accepted)

    def may_create(self, folder: Path) -> bool:
        """Ask before a new folder is made (a typo in the name should not scatter folders)."""
        answer = QtWidgets.QMessageBox.question(
            self, self.windowTitle(), f"{folder} does not exist yet. Create it?",
            QtWidgets.QMessageBox.StandardButton.Yes | QtWidgets.QMessageBox.StandardButton.Cancel,
            QtWidgets.QMessageBox.StandardButton.Yes)
        return answer == QtWidgets.QMessageBox.StandardButton.Yes


def ask_folder(parent: QtWidgets.QWidget, title: str, action: str) -> Path | None:
    dialog = NewFolderDialog(parent, title, action)
    return dialog.chosen() if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted else None
