"""What the window's read-only tables share: a Qt model over a tuple of frozen rows, and the table view's looks
(whole rows selected, one at a time, not editable, sortable through a proxy on a sort role)."""

from __future__ import annotations

from typing import Any, Generic, Sequence, TypeVar

from PySide6 import QtCore, QtWidgets

Qt = QtCore.Qt
SORT = Qt.ItemDataRole.UserRole  # a column's value as it sorts (numbers as numbers)
Row = TypeVar("Row")


class RowsModel(QtCore.QAbstractTableModel, Generic[Row]):
    """Rows under `columns` headers; subclasses give data(). set_rows() resets only when the rows changed."""

    def __init__(self, columns: Sequence[str], parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.columns = tuple(columns)
        self._rows: tuple[Row, ...] = ()

    def set_rows(self, rows: Sequence[Row]) -> None:
        rows = tuple(rows)
        if rows == self._rows:
            return
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def rows(self) -> tuple[Row, ...]:
        return self._rows

    def rowCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section]
        return None


def sorted_table(model: QtCore.QAbstractItemModel, sort_column: int,
                 order: Qt.SortOrder = Qt.SortOrder.DescendingOrder) -> tuple[QtWidgets.QTableView,
                                                                         QtCore.QSortFilterProxyModel]:
    """A read-only table of `model`'s rows, sorted by SORT on `sort_column`; returns (view, proxy)."""
    proxy = QtCore.QSortFilterProxyModel(model)
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT)
    table = QtWidgets.QTableView()
    table.setModel(proxy)
    table.setSortingEnabled(True)
    table.sortByColumn(sort_column, order)
    table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    table.setWordWrap(False)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setStretchLastSection(True)
    return table, proxy
