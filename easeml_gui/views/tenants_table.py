"""The tenants table: name (with its plot colour), weight, paused, tasks done, device time used (of its quota),
the best model's validation and test accuracy, the best model.

Sortable; updated in place (dataChanged) while the tenant list is unchanged, so selection and scroll stay."""

from __future__ import annotations

from typing import Any, Sequence

from PySide6 import QtCore, QtGui, QtWidgets

from .lab_snapshot import TenantRow
from .theme import ColourMap, scheme, swatch

Qt = QtCore.Qt
COLUMNS = ("tenant", "weight", "paused", "done", "device time", "val", "test", "best model")
TOOLTIPS = (
    "the tenant (its colour in the plots)",
    "share of the lab: a tenant with weight 2 counts twice in the global regret",
    "a paused tenant gets no new tasks; running ones finish",
    "tasks done: training runs that finished successfully",
    "device time its finished tasks used, of its quota where it has one",
    "validation accuracy of the model the tenant gets: the simplest within one standard error of the best any of "
    "its models reached (pooled over cross-validation folds where the validation split holds under 100 images)",
    "test accuracy of that model, on images selection never saw: the honest figure to quote",
    "the model the tenant gets (Export… saves it)",
)
NUMERIC = {1, 3, 4, 5, 6}
NAME_MIN_WIDTH = 120  # the name column gives way down to this when the table has no room for every column
HEADER_PADDING, SORT_ARROW_WIDTH = 20, 18  # around a header's label; beside the sorted column's
ACCURACY_COLUMNS = (5, 6)
MODEL_COLUMN = 7


def hours_text(seconds: float) -> str:
    """Device time as people say it: 40 s, 12 min, 3.5 h."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f}".removesuffix(".0") + " h"


class TenantsTableModel(QtCore.QAbstractTableModel):
    def __init__(self, colours: ColourMap, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.colours = colours
        self._rows: tuple[TenantRow, ...] = ()

    def set_rows(self, rows: Sequence[TenantRow]) -> None:
        rows = tuple(rows)
        if [r.name for r in rows] == [r.name for r in self._rows]:
            if rows != self._rows:
                self._rows = rows
                self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(COLUMNS) - 1))
            return
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def rows(self) -> tuple[TenantRow, ...]:
        return self._rows

    def rowCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return TOOLTIPS[section]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight if section in NUMERIC else Qt.AlignmentFlag.AlignLeft) | int(
                Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: QtCore.QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = self._rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column)
        if role == Qt.ItemDataRole.ToolTipRole and column in (0, MODEL_COLUMN):
            return self._text(row, column)  # full text where the column elides it
        if role == Qt.ItemDataRole.UserRole:  # sort key
            return self._key(row, column)
        if role == Qt.ItemDataRole.DecorationRole and column == 0:
            return swatch(self.colours.colour(row.name), 11)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            horizontal = Qt.AlignmentFlag.AlignRight if column in NUMERIC else Qt.AlignmentFlag.AlignLeft
            return int(horizontal | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and (row.paused or (column >= 5 and row.best_accuracy is None)):
            return QtGui.QBrush(QtGui.QColor(scheme().muted))
        if role == Qt.ItemDataRole.FontRole and column == 0:
            font = QtGui.QFont()
            font.setBold(True)
            return font
        return None

    @staticmethod
    def _text(row: TenantRow, column: int) -> str:
        if column == 0:
            return row.name
        if column == 1:
            return f"{row.weight:g}"
        if column == 2:
            return "paused" if row.paused else "—"
        if column == 3:
            return str(row.tasks_done)
        if column == 4:
            used = hours_text(row.used_seconds)
            return used if row.quota_seconds is None else f"{used} / {hours_text(row.quota_seconds)}"
        if column in ACCURACY_COLUMNS:
            accuracy = row.best_accuracy if column == 5 else row.best_test_accuracy
            return "—" if accuracy is None else f"{accuracy:.3f}"
        return row.best_model or "—"

    @staticmethod
    def _key(row: TenantRow, column: int) -> Any:
        return (row.name, row.weight, row.paused, row.tasks_done, row.used_seconds,
                -1.0 if row.best_accuracy is None else row.best_accuracy,
                -1.0 if row.best_test_accuracy is None else row.best_test_accuracy, row.best_model or "")[column]


class TenantsTable(QtWidgets.QTableView):
    """The view; emits tenantSelected(name) ('' when nothing is selected)."""

    tenantSelected = QtCore.Signal(str)

    def __init__(self, colours: ColourMap, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.source_model = TenantsTableModel(colours, self)
        proxy = QtCore.QSortFilterProxyModel(self)
        proxy.setSourceModel(self.source_model)
        proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.setModel(proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(28)
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Interactive)
        header.setMinimumSectionSize(48)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.selectionModel().selectionChanged.connect(self._selection_changed)

    def set_rows(self, rows: Sequence[TenantRow]) -> None:
        selected = self.selected_tenant()
        changed = tuple(rows) != self.source_model.rows()
        self.source_model.set_rows(rows)
        if changed:
            self.fit_columns()
        if selected and selected not in {r.name for r in rows}:
            self.tenantSelected.emit("")

    def fit_columns(self) -> None:
        """Every column as wide as its contents, names and models in full; only a table too narrow for them all
        narrows the name column (elided, in full in its tooltip). The best model, last, takes the room left."""
        widths = [self._content_width(column) for column in range(len(COLUMNS))]  # a few dozen rows: cheap
        for column, width in enumerate(widths[:-1]):  # the last is stretched to the table's edge
            self.setColumnWidth(column, width)
        missing = sum(widths) - self.viewport().width()
        if missing > 0:
            self.setColumnWidth(0, max(NAME_MIN_WIDTH, self.columnWidth(0) - missing))

    def _content_width(self, column: int) -> int:
        """The widest cell or the header's label. Qt's own header hint keeps room for a sort arrow on every
        column, which made the numbers' columns so wide that the names were elided at 1440 px."""
        header = self.horizontalHeader()
        label = header.fontMetrics().horizontalAdvance(COLUMNS[column]) + HEADER_PADDING
        if column == header.sortIndicatorSection():
            label += SORT_ARROW_WIDTH
        return max(self.sizeHintForColumn(column), label)

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit_columns()

    def selected_row(self) -> TenantRow | None:
        name = self.selected_tenant()
        return next((row for row in self.source_model.rows() if row.name == name), None)

    def selected_tenant(self) -> str:
        rows = self.selectionModel().selectedRows()
        return rows[0].data(Qt.ItemDataRole.UserRole) if rows else ""

    def _selection_changed(self, *_: object) -> None:
        self.tenantSelected.emit(self.selected_tenant())
