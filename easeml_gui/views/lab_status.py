"""The status bar's lab summary: task counts by state (queued, running, done, failed), the global regret
estimate, and where the numbers come from with the time of the last refresh."""

from __future__ import annotations

import time
from typing import Mapping

from PySide6 import QtCore, QtWidgets

from .lab_snapshot import TASK_STATES
from .theme import STATE_COLOURS, scheme


class LabStatus(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.setSpacing(18)
        self.count_labels: dict[str, QtWidgets.QLabel] = {}
        for state in TASK_STATES:
            label = QtWidgets.QLabel()
            label.setTextFormat(QtCore.Qt.TextFormat.RichText)
            label.setToolTip(f"tasks {state}")
            self.count_labels[state] = label
            layout.addWidget(label)
        self.regret = QtWidgets.QLabel()
        self.regret.setToolTip("global regret estimate: the tenant-weighted mean of (upper bound − best accuracy)")
        layout.addWidget(self.regret)
        self.set_counts({s: 0 for s in TASK_STATES}, None)

    def set_counts(self, counts: Mapping[str, int], regret: float | None) -> None:
        for state, label in self.count_labels.items():
            label.setText(f"<span style='color:{STATE_COLOURS[state]}'>●</span> {counts.get(state, 0):,} {state}")
        self.regret.setText("" if regret is None else f"global regret ≈ {regret:.3f}")

    def counts_text(self) -> str:
        return "  ".join(label.text().split("</span> ")[-1] for label in self.count_labels.values())


class SourceLabel(QtWidgets.QLabel):
    """Right side of the status bar: the store (or demo) and when it was last read; marked out of date, with the
    reason in its tooltip, while reading fails."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = ""
        self.read_at: float | None = None
        self.stale = ""  # why the last read failed; "" while reads work

    def set_source(self, source: str, refreshed: bool = True) -> None:
        self.source = source
        self.stale = ""
        self.read_at = time.time() if refreshed else None
        self._show()

    def set_read(self, at: float) -> None:
        """A read of the store worked at `at` (wall clock): what is shown is the store's state then."""
        self.read_at, self.stale = at, ""
        self._show()

    def set_stale(self, message: str) -> None:
        """The last read failed: the lab on screen is the store's as of the last read that worked."""
        self.stale = message
        self._show()

    def _show(self) -> None:
        stamp = "" if self.read_at is None else time.strftime("%H:%M:%S", time.localtime(self.read_at))
        if self.stale:
            self.setStyleSheet(f"color: {STATE_COLOURS['failed']}; font-weight: bold")
            self.setText(f"⚠ out of date: {self.source} not read since {stamp or 'start'}")
            self.setToolTip(f"reading the store fails: {self.stale}")
            return
        self.setStyleSheet(f"color: {scheme().muted}")
        self.setText(f"{self.source} · read {stamp}" if stamp else self.source)
        self.setToolTip("")
