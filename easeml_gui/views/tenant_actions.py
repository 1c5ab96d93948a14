"""The buttons above the tenants table: add, change, pause or resume, archive, a job, export; the ones that need
a tenant follow the selection (and the table's right-click menu offers the same actions)."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from .lab_snapshot import TenantRow


class TenantActions(QtWidgets.QWidget):
    addRequested = QtCore.Signal()
    changeRequested = QtCore.Signal(str)
    pauseRequested = QtCore.Signal(str, bool)  # name, paused
    archiveRequested = QtCore.Signal(str)
    jobRequested = QtCore.Signal(str)
    exportRequested = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.row: TenantRow | None = None
        self.add = self._button("Add…", "add a tenant (Ctrl+T)", self.addRequested.emit)
        self.change = self._button("Change…", "change the tenant's weight or quota", self._change)
        self.pause = self._button("Pause", "a paused tenant gets no new tasks; its running ones finish", self._pause)
        self.job = self._button("Job…", "give the tenant a model-selection job on a dataset (Ctrl+J)", self._job)
        self.export = self._button("Export…", "save the tenant's best model with its model card (Ctrl+E)",
                                   self._export)
        self.archive = self._button("Archive…", "hide the tenant from the lab; its history stays", self._archive)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        for button in (self.add, self.change, self.pause, self.job, self.export, self.archive):
            layout.addWidget(button)
        self.set_row(None)

    def _button(self, text: str, tip: str, slot) -> QtWidgets.QPushButton:
        button = QtWidgets.QPushButton(text)
        button.setObjectName("small")
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    def set_row(self, row: TenantRow | None) -> None:
        self.row = row
        for button in (self.change, self.pause, self.job, self.export, self.archive):
            button.setEnabled(row is not None)
        self.pause.setText("Resume" if row is not None and row.paused else "Pause")
        self.export.setEnabled(row is not None and row.best_model is not None)

    def menu(self) -> QtWidgets.QMenu:
        """The same actions as a context menu (for the selected tenant)."""
        menu = QtWidgets.QMenu(self)
        for button in (self.change, self.pause, self.job, self.export, self.archive):
            action = QtGui.QAction(button.text(), menu)
            action.setEnabled(button.isEnabled())
            action.triggered.connect(button.click)
            menu.addAction(action)
        return menu

    def _change(self) -> None:
        if self.row is not None:
            self.changeRequested.emit(self.row.name)

    def _pause(self) -> None:
        if self.row is not None:
            self.pauseRequested.emit(self.row.name, not self.row.paused)

    def _job(self) -> None:
        self.jobRequested.emit(self.row.name if self.row is not None else "")

    def _export(self) -> None:
        if self.row is not None:
            self.exportRequested.emit(self.row.name)

    def _archive(self) -> None:
        if self.row is not None:
            self.archiveRequested.emit(self.row.name)
