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
    """Right side of the status bar: the store (or demo) and when it was last read."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setStyleSheet(f"color: {scheme().muted}")

    def set_source(self, source: str, refreshed: bool = True) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.setText(f"{source} · read {stamp}" if refreshed else source)
