"""The Jobs tab: every job with its tenant and dataset, what became of its models (done, left, failed), the
device time it used and its best accuracy, as `easeml-gui job list` prints them; Cancel… stops the selected one
(its running tasks cancelled, queued ones dropped, its history kept)."""

from __future__ import annotations

import time
from typing import Any, Sequence

from PySide6 import QtCore, QtGui, QtWidgets

from ..controllers.registry import RegistryController
from ..lab.read_model import JobSummary
from .row_table import SORT, RowsModel, sorted_table
from .running_tasks import elapsed
from .theme import STATE_COLOURS, heading, hint, scheme

Qt = QtCore.Qt
COLUMNS = ("job", "tenant", "dataset", "state", "done", "left", "failed", "running", "device time", "best")
ENDED = ("done", "cancelled")


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


class JobsModel(RowsModel[JobSummary]):
    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(COLUMNS, parent)

    def data(self, index: QtCore.QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        job, column = self._rows[index.row()], index.column()
        values = (job.id, job.tenant, job.dataset, job.state.value, job.models_done, job.models_left,
                  job.models_failed, job.running, job.device_seconds, job.best_accuracy)
        if role == SORT:
            value = values[column]
            return -1.0 if value is None else value
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 8:
                return _hours(job.device_seconds)
            if column == 9:
                return "—" if job.best_accuracy is None else f"{job.best_accuracy:.3f}"
            return str(values[column])
        if role == Qt.ItemDataRole.ForegroundRole and column == 3:
            colour = {"active": STATE_COLOURS["running"], "done": STATE_COLOURS["done"]}.get(job.state.value,
                                                                                          scheme().muted)
            return QtGui.QBrush(QtGui.QColor(colour))
        if role == Qt.ItemDataRole.ToolTipRole and column == 3 and job.ended is not None:
            return f"ended {elapsed(job.ended, time.time())} ago"
        if role == Qt.ItemDataRole.TextAlignmentRole and column not in (1, 2, 3):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class JobsView(QtWidgets.QWidget):
    """set_rows(JobSummary...) from each snapshot. told(text) and problem(title, message) for the window."""

    told = QtCore.Signal(str)
    problem = QtCore.Signal(str, str)

    def __init__(self, registry: RegistryController, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self.confirm = lambda question: QtWidgets.QMessageBox.question(
            self, "Cancel job", question) == QtWidgets.QMessageBox.StandardButton.Yes  # tests answer it
        self.model = JobsModel(self)
        self.table, self.proxy = sorted_table(self.model, 0)  # the newest job first
        self.table.selectionModel().selectionChanged.connect(self._enable)
        self.cancel_button = QtWidgets.QPushButton("Cancel job…")
        self.cancel_button.setToolTip("its running tasks are cancelled, its queued ones dropped; its history stays")
        self.cancel_button.clicked.connect(lambda: self.cancel(self.selected_job()))
        top = QtWidgets.QHBoxLayout()
        top.addWidget(heading("Jobs"))
        top.addWidget(hint("each tenant's model selection on a dataset: done, left and failed models"), 1)
        top.addWidget(self.cancel_button)
        card = QtWidgets.QFrame()
        card.setObjectName("card")
        inner = QtWidgets.QVBoxLayout(card)
        inner.setContentsMargins(12, 10, 12, 10)
        inner.addLayout(top)
        inner.addWidget(self.table, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addWidget(card)
        self._enable()

    def set_rows(self, rows: Sequence[JobSummary]) -> None:
        selected = self.selected_job()
        self.model.set_rows(rows)
        if selected is not None:
            self.select(selected)
        self.table.resizeColumnsToContents()
        self._enable()

    def selected_job(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return int(self.proxy.index(rows[0].row(), 0).data(SORT)) if rows else None

    def select(self, job_id: int) -> None:
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, 0).data(SORT) == job_id:
                self.table.selectRow(row)
                return

    def _enable(self, *_: object) -> None:
        job = next((j for j in self.model.rows() if j.id == self.selected_job()), None)
        self.cancel_button.setEnabled(job is not None and job.state.value not in ENDED)

    def cancel(self, job_id: int | None) -> None:
        job = next((j for j in self.model.rows() if j.id == job_id), None)
        if job is None or not self.confirm(
                f"Cancel job {job.id} of {job.tenant} on {job.dataset}? Its {job.running} running task(s) are "
                f"cancelled and its {job.models_left} model(s) left are not tried; its history stays."):
            return
        operation = self.registry.cancel_job(job.id)
        operation.finished.connect(lambda _: self.told.emit(f"Cancelled job {job.id} of {job.tenant}."))
        operation.failed.connect(lambda message: self.problem.emit("Cancel job", message))
