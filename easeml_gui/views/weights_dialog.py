"""Weights…: the ImageNet weights the lab has for each catalogue architecture (file, sha256, size, where from),
torchvision's fetched for the selected ones, or a file copied in by hand imported for one. Fetching and importing
run on the registry controller's pool in a torch subprocess, with progress and Stop; the window never loads torch."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from PySide6 import QtCore, QtGui, QtWidgets

from ..controllers.operations import Operation
from ..controllers.registry import RegistryController
from ..lab.weights import ARCHITECTURES, folder
from .theme import hint, scheme

Qt = QtCore.Qt
COLUMNS = ("architecture", "file", "sha256", "size", "source")
WEIGHT_FILES = "Weight files (*.pth *.pt);;All files (*)"


class WeightsDialog(QtWidgets.QDialog):
    def __init__(self, registry: RegistryController, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("ImageNet weights")
        self.registry = registry
        self.operation: Operation | None = None
        self.entries: dict = {}  # architecture -> WeightsEntry, as last read
        self.table = QtWidgets.QTreeWidget()
        self.table.setColumnCount(len(COLUMNS))
        self.table.setHeaderLabels(list(COLUMNS))
        self.table.setRootIsDecorated(False)
        self.table.setUniformRowHeights(True)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.itemSelectionChanged.connect(self._enable)
        self.fetch_button = QtWidgets.QPushButton("Fetch")
        self.fetch_button.setToolTip("download torchvision's ImageNet weights for the selected architectures "
                                     "(needs network)")
        self.import_button = QtWidgets.QPushButton("Import file…")
        self.import_button.setToolTip("a weights file copied here by hand, for the selected architecture: kept once "
                                      "it loads into it (and its hash matches, under a torchvision name)")
        self.stop_button = QtWidgets.QPushButton("Stop")
        self.close_button = QtWidgets.QPushButton("Close")
        self.fetch_button.clicked.connect(lambda: self.fetch(self.selected()))
        self.import_button.clicked.connect(self.pick_file)
        self.stop_button.clicked.connect(self.stop)
        self.close_button.clicked.connect(self.reject)
        self.progress = QtWidgets.QProgressBar()
        self.problem = QtWidgets.QLabel()
        self.problem.setObjectName("problem")
        self.problem.setWordWrap(True)
        self.problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.said = hint("")

        buttons = QtWidgets.QHBoxLayout()
        for button in (self.fetch_button, self.import_button):
            buttons.addWidget(button)
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.close_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(hint(f"Fine-tuned and probed arms (@imagenet) start from these; kept in {folder()}"))
        layout.addWidget(self.table, 1)
        layout.addWidget(self.problem)
        layout.addWidget(self.said)
        layout.addLayout(buttons)
        self.resize(980, 560)
        self._busy(False)
        self.show_problem("")
        self.reload()

    # ---- what it shows --------------------------------------------------------------------------------------
    def reload(self) -> None:
        operation = self.registry.weights()
        operation.finished.connect(self.show_entries)
        operation.failed.connect(self.show_problem)

    def show_entries(self, entries: dict) -> None:
        self.entries = entries
        selected = set(self.selected())
        self.table.clear()
        muted = QtGui.QBrush(QtGui.QColor(scheme().muted))
        for arch in ARCHITECTURES:
            entry = entries.get(arch)
            if entry is None:
                item = QtWidgets.QTreeWidgetItem([arch, "none: Fetch, or Import file…", "", "", ""])
                item.setForeground(1, muted)
            else:
                item = QtWidgets.QTreeWidgetItem([arch, entry.file.name, (entry.sha256 or "not checked")[:12],
                                                  f"{entry.size / 1e6:.1f} MB", entry.source])
                item.setToolTip(1, str(entry.file))
                item.setToolTip(2, entry.sha256 or "found in the cache; never checked by fetch or import")
            self.table.addTopLevelItem(item)
            item.setSelected(arch in selected)
        for column in range(len(COLUMNS) - 1):
            self.table.resizeColumnToContents(column)
        self._enable()

    def selected(self) -> list[str]:
        return [item.text(0) for item in self.table.selectedItems()]

    def select(self, architectures: Sequence[str]) -> None:
        for index in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(index)
            item.setSelected(item.text(0) in architectures)

    def show_problem(self, message: str) -> None:
        self.problem.setText(message)
        self.problem.setVisible(bool(message))

    # ---- what the admin does --------------------------------------------------------------------------------
    def fetch(self, architectures: Sequence[str]) -> None:
        if architectures:
            self._run(self.registry.fetch_weights(architectures),
                      lambda fetched: f"Fetched {', '.join(entry.architecture for entry in fetched)}.")

    def pick_file(self) -> None:
        [arch] = self.selected()
        name, _ = QtWidgets.QFileDialog.getOpenFileName(self, f"ImageNet weights for {arch}", "", WEIGHT_FILES)
        if name:
            self.import_file(Path(name), arch)

    def import_file(self, file: Path, architecture: str) -> None:
        self._run(self.registry.import_weights(file, architecture),
                  lambda entry: f"Imported {file.name} as {entry.architecture}'s weights (sha256 "
                                f"{entry.sha256[:12]}).")

    def stop(self) -> None:
        if self.operation is not None and self.operation.running:
            self.operation.cancel()

    def reject(self) -> None:
        """Close (or Esc) stops a running fetch or import first; a second Close closes."""
        if self.operation is not None and self.operation.running:
            self.stop()
            return
        super().reject()

    # ---- the flow -------------------------------------------------------------------------------------------
    def _run(self, operation: Operation, done) -> None:
        self.operation = operation
        self.show_problem("")
        self.said.setText("")
        self._busy(True)
        operation.progress.connect(self._progress)
        operation.finished.connect(lambda result: self.said.setText(done(result)))
        operation.failed.connect(self.show_problem)
        operation.cancelled.connect(lambda: self.show_problem("Stopped: nothing of it was kept."))
        operation.ended.connect(self._ended)

    def _progress(self, done: int, total: int, stage: str) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"{stage} ({done + 1} of {total})")

    def _ended(self) -> None:
        self._busy(False)
        self.reload()

    def _busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.stop_button.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
            self.progress.setFormat("working…")
        self._enable()

    def _enable(self) -> None:
        idle = self.operation is None or not self.operation.running
        chosen = self.selected()
        self.fetch_button.setEnabled(idle and bool(chosen))
        self.import_button.setEnabled(idle and len(chosen) == 1)
