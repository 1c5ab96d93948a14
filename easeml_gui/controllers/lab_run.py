"""The lab's run from the window: start it as its own background process, stop it (running tasks finish) or
cancel it, and watch whether one runs, whoever started it (the window or a terminal): the run lock names its pid.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from PySide6 import QtCore

from ..lab import runs
from .operations import Operation, Runner

WATCH_MS = 1000


class RunController(QtCore.QObject):
    """stateChanged(RunState) when a run starts or ends (or its log moves on); failed(message) when a start or
    stop was refused. The watch reads the lock file on the pool, never on the GUI thread."""

    stateChanged = QtCore.Signal(object)
    failed = QtCore.Signal(str)

    def __init__(self, runner: Runner, db: Path, data_dir: Path | None = None, watch_ms: int = WATCH_MS,
                 parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.db = Path(db)
        self.data_dir = data_dir
        self.state = runs.RunState(None)
        self._closed = False
        self._child: subprocess.Popen | None = None  # a run this window started: reaped when it ends
        self._watching: Operation | None = None
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(watch_ms)
        self._timer.timeout.connect(self.check)
        self._timer.start()
        self.check()

    @property
    def running(self) -> bool:
        return self.state.running

    def start(self, choice: runs.RunChoice = runs.RunChoice()) -> Operation:
        """`easeml-gui run` with `choice`'s flags (devices, policy, task limit)."""
        def spawn(_operation: Operation) -> subprocess.Popen:
            return runs.start(self.db, self.data_dir, choice)

        operation = self.runner.submit("starting the lab", spawn)
        operation.finished.connect(self._started)
        operation.failed.connect(self.failed)
        return operation

    def stop(self, cancel: bool = False) -> Operation:
        """As Ctrl-C in the run's terminal (running tasks finish), or with `cancel` as SIGTERM (they are cancelled)."""
        operation = self.runner.submit("stopping the lab", lambda _: runs.stop(self.db, cancel))
        operation.failed.connect(self.failed)
        operation.ended.connect(self.check)
        return operation

    def check(self) -> None:
        """Read the run's state on the pool (skipped while the previous read is still going)."""
        if self._closed or (self._watching is not None and self._watching.running):
            return
        child = self._child

        def read(_operation: Operation) -> runs.RunState:
            if child is not None:
                child.poll()  # reaps a run that ended, so its pid is not a zombie the lock check trips over
            return runs.state(self.db)

        self._watching = self.runner.submit("watching the lab's run", read)
        self._watching.finished.connect(self._seen)

    def shutdown(self) -> None:
        self._closed = True  # a stop sent while closing still ends on the pool; nothing new is watched
        self._timer.stop()

    def _started(self, child: subprocess.Popen) -> None:
        self._child = child
        self.check()

    def _seen(self, state: runs.RunState) -> None:
        if self._child is not None and self._child.returncode is not None:
            self._child = None
        if state != self.state:
            self.state = state
            self.stateChanged.emit(state)
