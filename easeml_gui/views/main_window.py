"""The main window: Lab and Simulate tabs, the task counts in the status bar, F5 to refresh."""

from __future__ import annotations

from typing import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from .lab_snapshot import LabSnapshot
from .lab_status import LabStatus, SourceLabel
from .lab_view import LabView
from .simulate_panel import SimulatePanel
from .theme import resource_path


class MainWindow(QtWidgets.QMainWindow):
    refreshRequested = QtCore.Signal()

    def __init__(self, title: str, store: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setWindowIcon(QtGui.QIcon(resource_path("easeml-gui.svg")))
        self.store = store
        self._shutdown: list[Callable[[], None]] = []
        self._closed = False

        self.lab = LabView()
        self.simulate = SimulatePanel()
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.lab, "Lab")
        self.tabs.addTab(self.simulate, "Simulate")
        self.setCentralWidget(self.tabs)

        self.lab_status = LabStatus()
        self.source = SourceLabel()
        self.source.set_source(store, refreshed=False)
        bar = self.statusBar()
        bar.setSizeGripEnabled(False)
        bar.addWidget(self.lab_status)
        bar.addPermanentWidget(self.source)

        refresh = QtGui.QAction("Refresh", self)
        refresh.setShortcut(QtGui.QKeySequence.StandardKey.Refresh)
        refresh.triggered.connect(self.refreshRequested)
        self.addAction(refresh)
        self.resize(1440, 900)

    # ---- the lab's data (GUI thread, from the poller's signals) ---------------------------------------------
    def show_snapshot(self, snapshot: LabSnapshot) -> None:
        self.lab.show_snapshot(snapshot)
        self.lab_status.set_counts(snapshot.counts, snapshot.regret_estimate)
        self.source.set_source(snapshot.source)

    def show_unavailable(self, message: str, empty: bool) -> None:
        self.lab.show_unavailable(message, empty, self.store)
        self.lab_status.set_counts({}, None)
        self.source.set_source(self.store)

    # ---- lifetime -------------------------------------------------------------------------------------------
    def on_shutdown(self, callback: Callable[[], None]) -> None:
        """Run `callback` when the window closes (stop threads, close the store)."""
        self._shutdown.append(callback)

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.simulate.shutdown()
        for callback in reversed(self._shutdown):
            callback()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)
