"""Reads the lab on a timer in its own thread and hands each changed snapshot to the GUI thread as a signal.

Store reads take milliseconds, but a busy or slow disk must never freeze the window, so they happen here.
"""

from __future__ import annotations

import time

from PySide6 import QtCore

from .lab_source import LabSource, LabUnavailable

Qt = QtCore.Qt


class LabPoller(QtCore.QObject):
    """Lives in a worker thread. snapshotReady(LabSnapshot) when something changed (or a refresh was asked for);
    read(wall time) after every read that worked; unavailable(message, empty) when there is nothing to show;
    stale(message) when a read failed after a lab was shown: the window keeps it, marked as out of date, never
    as the current lab."""

    snapshotReady = QtCore.Signal(object)
    read = QtCore.Signal(float)
    unavailable = QtCore.Signal(str, bool)
    stale = QtCore.Signal(str)

    def __init__(self, source: LabSource, interval_ms: int = 1000) -> None:
        super().__init__()
        self.source = source
        self.interval_ms = interval_ms
        self._timer: QtCore.QTimer | None = None
        self._last: object = None
        self._shown = False  # a snapshot is on screen

    @QtCore.Slot()
    def start(self) -> None:
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(self.interval_ms)
        self._timer.timeout.connect(self.poll)
        self._timer.start()
        self.poll()

    @QtCore.Slot()
    def poll(self) -> None:
        self._poll(force=False)

    @QtCore.Slot()
    def poll_now(self) -> None:
        """F5: read the store again whatever its change counter says, and show what was read."""
        self._poll(force=True)

    def _poll(self, force: bool) -> None:
        try:
            snapshot = self.source.read(force)
        except LabUnavailable as exc:
            self._failed(("unavailable", exc.message, exc.empty), exc.message, exc.empty)
            return
        except Exception as exc:  # a bug must not kill the thread silently: show it and keep polling
            message = f"reading the lab failed: {type(exc).__name__}: {exc}"
            self._failed(("error", repr(exc)), message, False)
            return
        if force or snapshot.fingerprint != self._last:
            self._last = snapshot.fingerprint
            self._shown = True
            self.snapshotReady.emit(snapshot)
        self.read.emit(time.time())

    def _failed(self, key: tuple, message: str, empty: bool) -> None:
        if key == self._last:
            return
        self._last = key
        if self._shown and not empty:
            self.stale.emit(message)  # keep the lab on screen, marked: the next good read replaces it
        else:
            self._shown = False
            self.unavailable.emit(message, empty)

    @QtCore.Slot()
    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self.source.close()


class LabPollerThread(QtCore.QObject):
    """Owns the poller and its thread: start(), refresh_now(), stop() (blocks until the thread ended)."""

    def __init__(self, source: LabSource, interval_ms: int = 1000, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QtCore.QThread()
        self.thread.setObjectName("lab-poller")
        self.poller = LabPoller(source, interval_ms)
        self.poller.moveToThread(self.thread)
        self.thread.started.connect(self.poller.start)
        self.thread.finished.connect(self.poller.deleteLater)
        self._stopped = False

    def start(self) -> None:
        self.thread.start()

    def refresh_now(self) -> None:
        QtCore.QMetaObject.invokeMethod(self.poller, "poll_now", Qt.ConnectionType.QueuedConnection)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.thread.isRunning():
            QtCore.QMetaObject.invokeMethod(self.poller, "stop", Qt.ConnectionType.BlockingQueuedConnection)
            self.thread.quit()
            self.thread.wait()
