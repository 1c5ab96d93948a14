"""Reads the lab on a timer in its own thread and hands each changed snapshot to the GUI thread as a signal.

Store reads take milliseconds, but a busy or slow disk must never freeze the window, so they happen here.
"""

from __future__ import annotations

from PySide6 import QtCore

from .lab_source import LabSource, LabUnavailable

Qt = QtCore.Qt


class LabPoller(QtCore.QObject):
    """Lives in a worker thread. snapshotReady(LabSnapshot) when something changed; unavailable(message, empty)."""

    snapshotReady = QtCore.Signal(object)
    unavailable = QtCore.Signal(str, bool)

    def __init__(self, source: LabSource, interval_ms: int = 1000) -> None:
        super().__init__()
        self.source = source
        self.interval_ms = interval_ms
        self._timer: QtCore.QTimer | None = None
        self._last: object = None

    @QtCore.Slot()
    def start(self) -> None:
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(self.interval_ms)
        self._timer.timeout.connect(self.poll)
        self._timer.start()
        self.poll()

    @QtCore.Slot()
    def poll(self) -> None:
        try:
            snapshot = self.source.read()
        except LabUnavailable as exc:
            key = ("unavailable", exc.message, exc.empty)
            if key != self._last:
                self._last = key
                self.unavailable.emit(exc.message, exc.empty)
            return
        except Exception as exc:  # a bug must not kill the thread silently: show it and keep polling
            key = ("error", repr(exc))
            if key != self._last:
                self._last = key
                self.unavailable.emit(f"reading the lab failed: {type(exc).__name__}: {exc}", False)
            return
        if snapshot.fingerprint != self._last:
            self._last = snapshot.fingerprint
            self.snapshotReady.emit(snapshot)

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
        QtCore.QMetaObject.invokeMethod(self.poller, "poll", Qt.ConnectionType.QueuedConnection)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.thread.isRunning():
            QtCore.QMetaObject.invokeMethod(self.poller, "stop", Qt.ConnectionType.BlockingQueuedConnection)
            self.thread.quit()
            self.thread.wait()
