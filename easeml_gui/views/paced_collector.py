"""Full garbage collections at the GUI thread's own pace. Python starts one whenever enough allocations piled up,
in whichever thread allocates (often the poller, mid-read), and it holds every thread for 12-21 ms: landing on a
refresh's repaint, it made the GUI thread's longest stalls (GUI bench). Here the automatic full collections are
off while the window lives, and a timer runs one between two events instead, where it stalls nothing else.
The young generations are still collected as usual: they are cheap, and they free most cycles."""

from __future__ import annotations

import gc

from PySide6 import QtCore

FULL_COLLECTION_MS = 10_000  # cyclic garbage that survived the young collections waits at most this long
NEVER = 2**30  # a full-collection threshold that young collections never reach


class PacedCollector(QtCore.QObject):
    def __init__(self, interval_ms: int = FULL_COLLECTION_MS, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.collect)
        self.collections = 0

    def start(self) -> None:
        young, middle, _ = self._thresholds
        gc.set_threshold(young, middle, NEVER)
        self._timer.start()

    def collect(self) -> None:
        gc.collect()
        self.collections += 1

    def stop(self) -> None:
        """Hand full collections back to Python (the window closed)."""
        self._timer.stop()
        gc.set_threshold(*self._thresholds)
