"""One lab operation on a pool thread, and the pool that runs them.

An Operation's public signals are always emitted on the GUI thread: the pool thread emits private signals that
reach the Operation (which lives on the GUI thread) through queued connections, and it re-emits them there. So
any slot, a lambda too, runs on the GUI thread, and a widget never sees a half-finished call.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from PySide6 import QtCore

from ..lab.errors import Cancelled, LabError

Qt = QtCore.Qt
Work = Callable[["Operation"], Any]  # gets its Operation: report(done, total, stage), cancel_requested()


class Operation(QtCore.QObject):
    """progress(done, total, stage); then exactly one of finished(result), failed(message), cancelled();
    then ended(). `error` holds the exception behind failed (e.g. lab.errors.BadImages with its list)."""

    progress = QtCore.Signal(int, int, str)
    finished = QtCore.Signal(object)
    failed = QtCore.Signal(str)
    cancelled = QtCore.Signal()
    ended = QtCore.Signal()

    _progress = QtCore.Signal(int, int, str)
    _finished = QtCore.Signal(object)
    _failed = QtCore.Signal(str, object)
    _cancelled = QtCore.Signal()

    def __init__(self, what: str, work: Work, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.what = what  # "registering digits": for an unexpected error's message
        self.work = work
        self.error: BaseException | None = None
        self.running = True
        self._cancel = threading.Event()
        queued = Qt.ConnectionType.QueuedConnection
        self._progress.connect(self.progress, queued)
        self._finished.connect(self._on_finished, queued)
        self._failed.connect(self._on_failed, queued)
        self._cancelled.connect(self._on_cancelled, queued)

    # ---- from the GUI thread --------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Ask the work to stop at its next step (thread-safe); cancelled() follows if it did."""
        self._cancel.set()

    # ---- from the work, on the pool thread ------------------------------------------------------------------
    def report(self, done: int, total: int, stage: str = "") -> None:
        self._progress.emit(done, total, stage)

    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def execute(self) -> None:
        try:
            result = self.work(self)
        except Cancelled:
            self._cancelled.emit()
        except LabError as error:
            self._failed.emit(str(error), error)
        except Exception as error:  # a bug: say what broke instead of losing it on a pool thread
            self._failed.emit(f"{self.what} failed unexpectedly ({type(error).__name__}: {error}); nothing was "
                              "changed. Please report this with the steps that led to it", error)
        else:
            self._finished.emit(result)

    # ---- back on the GUI thread -----------------------------------------------------------------------------
    def _on_finished(self, result: object) -> None:
        self._end(self.finished.emit, result)

    def _on_failed(self, message: str, error: BaseException) -> None:
        self.error = error
        self._end(self.failed.emit, message)

    def _on_cancelled(self) -> None:
        self._end(self.cancelled.emit)

    def _end(self, emit: Callable[..., None], *args: object) -> None:
        self.running = False
        emit(*args)
        self.ended.emit()


class _Runnable(QtCore.QRunnable):
    def __init__(self, operation: Operation) -> None:
        super().__init__()
        self.operation = operation

    def run(self) -> None:
        self.operation.execute()


class Runner(QtCore.QObject):
    """The window's thread pool. submit() starts work; shutdown() cancels what runs, waits for it and removes
    the pool's threads, so a closed window leaves no thread behind."""

    def __init__(self, threads: int = 4, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QtCore.QThreadPool(self)
        self.pool.setObjectName("lab-operations")  # its threads take the name: told apart from Qt's own pool
        self.pool.setMaxThreadCount(threads)
        self._live: set[Operation] = set()  # kept alive until they end (the pool thread still uses them)
        self._closed = False

    def submit(self, what: str, work: Work) -> Operation:
        if self._closed:
            raise RuntimeError("the window is closing; no new work starts")
        operation = Operation(what, work, self)
        self._live.add(operation)
        operation.ended.connect(lambda: self._live.discard(operation))
        runnable = _Runnable(operation)
        runnable.setAutoDelete(False)
        operation.runnable = runnable  # type: ignore[attr-defined]  # Python owns it; kept as long as the operation
        self.pool.start(runnable)
        return operation

    @property
    def busy(self) -> bool:
        return bool(self._live)

    def shutdown(self) -> None:
        self._closed = True
        for operation in list(self._live):
            operation.cancel()
        self.pool.setExpiryTimeout(0)  # idle threads end at once instead of lingering for 30 s
        self.pool.waitForDone(-1)
        self.pool.clear()
