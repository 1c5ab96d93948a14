"""The tasks on devices now: which tenant's model trains where, for how long, and its latest epoch line."""

from __future__ import annotations

import time
from typing import Sequence

from PySide6 import QtCore, QtGui, QtWidgets

from .lab_snapshot import RunningRow
from .theme import MUTED, ColourMap, swatch

Qt = QtCore.Qt
COLUMNS = ("task", "tenant", "model", "device", "for", "progress")


def elapsed(started: float | None, now: float) -> str:
    if started is None:
        return "—"
    seconds = max(0, int(now - started))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600}h{seconds // 60 % 60:02d}"


class RunningTasks(QtWidgets.QTreeWidget):
    """A few rows, rebuilt from each snapshot; "nothing running" when the devices are idle."""

    def __init__(self, colours: ColourMap, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.colours = colours
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(list(COLUMNS))
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)  # the card around it is the frame, as for the tenants
        self.header().setStretchLastSection(True)
        self.set_rows(())

    def set_rows(self, rows: Sequence[RunningRow], now: float | None = None) -> None:
        now = time.time() if now is None else now  # the store's clock is wall time
        self.clear()
        if not rows:
            idle = QtWidgets.QTreeWidgetItem(["nothing is running"])
            idle.setForeground(0, QtGui.QBrush(QtGui.QColor(MUTED)))
            self.addTopLevelItem(idle)
            idle.setFirstColumnSpanned(True)  # one line across the table, not squeezed into the first column
            return
        for row in rows:
            item = QtWidgets.QTreeWidgetItem([row.task_id, row.tenant, row.model, row.device,
                                              elapsed(row.started, now), row.progress])
            item.setIcon(1, swatch(self.colours.colour(row.tenant), 11))
            item.setToolTip(5, row.progress)
            self.addTopLevelItem(item)
        for column in range(len(COLUMNS) - 1):
            self.resizeColumnToContents(column)

    def texts(self) -> list[list[str]]:
        """What the rows say (for tests and accessibility checks)."""
        return [[self.topLevelItem(i).text(c) for c in range(len(COLUMNS))] for i in range(self.topLevelItemCount())]
