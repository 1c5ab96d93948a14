"""An encrypted key's passphrase, asked in the window for SSH work that runs on a pool thread.

The pool thread waits while the GUI thread asks the admin (`handler`, set by the view); the answer goes to paramiko
in memory and is never kept. Closing the window answers every pending question with "none given", so no pool
thread is left waiting for a dialog that will not come.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from PySide6 import QtCore

Handler = Callable[[Path], "str | None"]  # on the GUI thread: the passphrase, or None when the admin declined


class PassphraseRequest:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._answered = threading.Event()
        self._passphrase: str | None = None

    def answer(self, passphrase: str | None) -> None:
        self._passphrase = passphrase
        self._answered.set()

    def wait(self) -> str | None:
        self._answered.wait()
        return self._passphrase


class PassphraseBroker(QtCore.QObject):
    """ask(path) from any thread; the question is put by `handler` on the GUI thread (None: nobody to ask)."""

    _asked = QtCore.Signal(object)  # a PassphraseRequest, delivered on the broker's (the GUI) thread

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.handler: Handler | None = None
        self._pending: set[PassphraseRequest] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._asked.connect(self._put, QtCore.Qt.ConnectionType.QueuedConnection)

    def ask(self, path: Path) -> str | None:
        """Called on a pool thread (never on the GUI thread: it waits for the GUI thread to answer)."""
        request = PassphraseRequest(path)
        with self._lock:
            if self._closed:
                return None
            self._pending.add(request)
        self._asked.emit(request)
        try:
            return request.wait()
        finally:
            with self._lock:
                self._pending.discard(request)

    def _put(self, request: PassphraseRequest) -> None:
        try:
            request.answer(None if self.handler is None or self._closed else self.handler(request.path))
        except BaseException:
            request.answer(None)  # a failing dialog must not leave the pool thread waiting
            raise

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for request in self._pending:
                request.answer(None)
