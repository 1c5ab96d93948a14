"""The History tab: every finished task (done, failed, cancelled), sortable and filtered by what the admin types,
and for the one selected its validation accuracy epoch by epoch, its last progress line, its error and the end of
its worker's log. The rows are the decision log's (`easeml-gui log`); a task's record is read off the GUI thread."""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from ..controllers.registry import RegistryController
from ..lab.history import FinishedTask, TaskDetail
from .row_table import SORT, RowsModel, sorted_table
from .series_plot import SeriesPlot
from .theme import STATE_COLOURS, heading, hint, scheme

Qt = QtCore.Qt
COLUMNS = ("task", "decided", "tenant", "model", "device", "state", "val", "test", "seconds", "why it stopped")


def _accuracy(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


class HistoryModel(RowsModel[FinishedTask]):
    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(COLUMNS, parent)

    def data(self, index: QtCore.QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = self._rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column)
        if role == SORT:
            return self._key(row, column)
        if role == Qt.ItemDataRole.ToolTipRole and column == 9 and row.reason:
            return row.reason
        if role == Qt.ItemDataRole.ForegroundRole and column == 5:
            return QtGui.QBrush(QtGui.QColor(STATE_COLOURS.get(row.state, scheme().muted)))
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (6, 7, 8):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _text(row: FinishedTask, column: int) -> str:
        device = row.device if row.host == "local" else f"{row.host}:{row.device}"
        seconds = "—" if row.seconds is None else f"{row.seconds:,.1f}"
        return (row.task_id, time.strftime("%m-%d %H:%M", time.localtime(row.decided)), row.tenant, row.model,
                device, row.state, _accuracy(row.accuracy), _accuracy(row.test_accuracy), seconds,
                row.reason.splitlines()[0] if row.reason else "")[column]

    @staticmethod
    def _key(row: FinishedTask, column: int) -> Any:
        number = (None, row.decided, None, None, None, None, row.accuracy, row.test_accuracy, row.seconds,
                  None)[column]
        if column in (1, 6, 7, 8):
            return -1.0 if number is None else float(number)
        return HistoryModel._text(row, column).lower()


class HistoryView(QtWidgets.QWidget):
    """set_rows(FinishedTask...) from each snapshot; selecting a task reads its record on the pool."""

    def __init__(self, registry: RegistryController, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self.detail: TaskDetail | None = None  # the record on show (tests read it)
        self.model = HistoryModel(self)
        self.table, self.proxy = sorted_table(self.model, 1)  # the latest first
        self.proxy.setFilterKeyColumn(-1)  # the filter matches any column: tenant, model, state, host, reason
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter = QtWidgets.QLineEdit()
        self.filter.setPlaceholderText("filter: a tenant, model, state, host or error…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._filter)
        self.count = hint("")
        self.table.selectionModel().selectionChanged.connect(self._selected)

        self.title = heading("Task")
        self.curve = SeriesPlot("epoch", "validation accuracy")
        self.curve.setMinimumHeight(180)
        self.log = QtWidgets.QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setLineWrapMode(QtWidgets.QPlainTextEdit.LineWrapMode.NoWrap)
        self.log.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont))
        self.log.setPlaceholderText("select a task to see its epochs and the end of its log")

        top = QtWidgets.QHBoxLayout()
        top.addWidget(heading("History"))
        top.addWidget(self.count, 1)
        top.addWidget(self.filter, 1)
        left = QtWidgets.QVBoxLayout()
        left.addLayout(top)
        left.addWidget(self.table, 1)
        right = QtWidgets.QVBoxLayout()
        right.addWidget(self.title)
        right.addWidget(self.curve, 1)
        right.addWidget(self.log, 1)
        split = QtWidgets.QSplitter()
        for layout, stretch in ((left, 3), (right, 2)):
            pane = QtWidgets.QFrame()
            pane.setObjectName("card")
            pane.setLayout(layout)
            split.addWidget(pane)
            split.setStretchFactor(split.count() - 1, stretch)
        split.setSizes([900, 540])  # the table's ten columns first; the curve and log beside it
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(12, 12, 12, 12)
        outer.addWidget(split)
        self._show_count()

    # ---- what it shows --------------------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[FinishedTask]) -> None:
        selected = self.selected_task()
        self.model.set_rows(rows)
        if selected:
            self.select(selected)
        self.table.resizeColumnsToContents()
        self._show_count()

    def selected_task(self) -> str:
        rows = self.table.selectionModel().selectedRows()
        return self.proxy.index(rows[0].row(), 0).data() if rows else ""

    def select(self, task_id: str) -> None:
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, 0).data() == task_id:
                self.table.selectRow(row)
                return

    def _filter(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip())
        self._show_count()

    def _show_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count.setText(f"{total:,} finished tasks" if shown == total else f"{shown:,} of {total:,} tasks")

    def _selected(self, *_: object) -> None:
        task_id = self.selected_task()
        if not task_id or (self.detail is not None and self.detail.task_id == task_id):
            return
        self.title.setText(f"Task {task_id}")
        reading = self.registry.task_detail(task_id)
        reading.finished.connect(self.show_detail)
        reading.failed.connect(lambda message: self.log.setPlainText(message))

    def show_detail(self, detail: TaskDetail) -> None:
        if detail.task_id != self.selected_task():
            return  # the admin moved on while it was read
        self.detail = detail
        epochs = np.array([e for e, _ in detail.curve], dtype=float)
        accuracy = np.array([a for _, a in detail.curve], dtype=float)
        self.curve.set_series({detail.task_id: (epochs, accuracy)} if detail.curve else {})
        parts = [f"last progress: {detail.progress}" if detail.progress else "",
                 f"error: {detail.error}" if detail.error else "", detail.log]
        self.log.setPlainText("\n\n".join(part for part in parts if part))
        self.log.moveCursor(QtGui.QTextCursor.MoveOperation.End)
        self.title.setText(f"Task {detail.task_id}: {len(detail.curve)} epochs")
