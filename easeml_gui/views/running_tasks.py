"""The tasks on devices now: which tenant's model trains where, for how long, and how far it got: a progress bar
(fold k of n while cross-validating, epoch e of m, validation accuracy so far) once an epoch ended, its latest line
before that. The time each has run ticks every second, between reads of the store too."""

from __future__ import annotations

import time
from typing import Sequence

from PySide6 import QtCore, QtGui, QtWidgets

from .lab_snapshot import RunningRow
from .task_progress import EpochProgress
from .theme import ColourMap, scheme, swatch

Qt = QtCore.Qt
COLUMNS = ("task", "tenant", "model", "device", "for", "progress")
FOR, PROGRESS = COLUMNS.index("for"), COLUMNS.index("progress")
CLOCK_MS = 1000


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
        self._started: list[float | None] = []  # per row, its task's start (store clock), for the ticking clock
        # A new snapshot comes only when the store changed: a fold or an epoch can train for minutes without a line.
        self._clock = QtCore.QTimer(self)
        self._clock.setInterval(CLOCK_MS)
        self._clock.timeout.connect(self.tick)
        self.set_rows(())

    def set_rows(self, rows: Sequence[RunningRow], now: float | None = None) -> None:
        now = time.time() if now is None else now  # the store's clock is wall time
        self.clear()
        self._started = [row.started for row in rows]
        if not rows:
            self._clock.stop()
            idle = QtWidgets.QTreeWidgetItem(["nothing is running"])
            idle.setForeground(0, QtGui.QBrush(QtGui.QColor(scheme().muted)))
            self.addTopLevelItem(idle)
            idle.setFirstColumnSpanned(True)  # one line across the table, not squeezed into the first column
            return
        for row in rows:
            shown = row.progress if row.epoch is None else row.epoch.text
            item = QtWidgets.QTreeWidgetItem([row.task_id, row.tenant, row.model, row.device,
                                              elapsed(row.started, now), shown])
            item.setIcon(1, swatch(self.colours.colour(row.tenant), 11))
            item.setToolTip(PROGRESS, row.progress)
            self.addTopLevelItem(item)
            if row.epoch is not None:
                self.setItemWidget(item, PROGRESS, progress_bar(row.epoch, row.progress))
        for column in range(len(COLUMNS) - 1):
            self.resizeColumnToContents(column)
        self._clock.start()

    def tick(self, now: float | None = None) -> None:
        """Each row's time on its device, as of `now` (default: the wall clock, which the store's times are in)."""
        now = time.time() if now is None else now
        for index, started in enumerate(self._started):
            self.topLevelItem(index).setText(FOR, elapsed(started, now))

    def bars(self) -> list[QtWidgets.QProgressBar]:
        """The progress bars shown, row by row (rows without an epoch yet have none)."""
        widgets = (self.itemWidget(self.topLevelItem(i), PROGRESS) for i in range(self.topLevelItemCount()))
        return [w for w in widgets if isinstance(w, QtWidgets.QProgressBar)]

    def texts(self) -> list[list[str]]:
        """What the rows say (for tests and accessibility checks)."""
        return [[self.topLevelItem(i).text(c) for c in range(len(COLUMNS))] for i in range(self.topLevelItemCount())]


def progress_bar(epoch: EpochProgress, line: str) -> QtWidgets.QProgressBar:
    bar = QtWidgets.QProgressBar()
    done, total = epoch.steps
    bar.setRange(0, total)
    bar.setValue(done)
    bar.setFormat(epoch.text)
    bar.setTextVisible(True)
    bar.setMaximumHeight(18)  # inside a table row, not a full-size widget
    bar.setToolTip(line)
    return bar
