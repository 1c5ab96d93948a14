"""Remote hosts from the window: add, check and trust a host key, probe, choose GPUs. Every SSH connection and
store write runs on the runner's pool; results come back as Operation signals on the GUI thread."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from PySide6 import QtCore

from ..lab import hosts
from ..lab.errors import as_lab_error
from ..lab.stores import open_reader, open_writer
from .operations import Operation, Runner
from .passphrases import PassphraseBroker


class HostsController(QtCore.QObject):
    """changed() after every write that finished, so the window re-reads the store at once."""

    changed = QtCore.Signal()

    def __init__(self, runner: Runner, db: Path, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.db = Path(db)
        self.passphrases = PassphraseBroker(self)  # an encrypted key's passphrase, asked in the window

    def _write(self, what: str, work) -> Operation:
        def run(_operation: Operation):
            with as_lab_error(), open_writer(self.db) as store:
                return work(store)

        operation = self.runner.submit(what, run)
        operation.finished.connect(lambda _result: self.changed.emit())
        return operation

    def aliases(self) -> Operation:
        """finished([alias, ...]) from ~/.ssh/config (a file read: off the GUI thread too)."""
        return self.runner.submit("reading ~/.ssh/config", lambda _: hosts.aliases())

    def add(self, name: str, address: str, *, key: Path | None = None, python: str | None = None) -> Operation:
        return self._write(f"adding host {name}", lambda store: hosts.add(store, name, address, key=key,
                                                                           python=python))

    def check_jump_key(self, name: str) -> Operation:
        """finished(lab.hosts.KeyCheck | None): the key host `name`'s jump host presents now (no login); None when
        the host has none."""
        def run(_operation: Operation) -> hosts.KeyCheck | None:
            with as_lab_error(), open_reader(self.db) as store:
                return hosts.check_jump_key(store, name)

        return self.runner.submit(f"reading the key of {name}'s jump host", run)

    def check_key(self, name: str, jump: hosts.KeyCheck | None = None) -> Operation:
        """finished(lab.hosts.KeyCheck): the key the host presents now (a connection, no login there); behind a
        jump host, through it (`jump`: its key as the admin accepted it; None: it must be trusted already)."""
        def run(_operation: Operation) -> hosts.KeyCheck:
            with as_lab_error(), open_reader(self.db) as store:
                return hosts.check_key(store, name, jump=None if jump is None else jump.scan,
                                       ask_passphrase=self.passphrases.ask)

        return self.runner.submit(f"reading {name}'s host key", run)

    def accept(self, check: hosts.KeyCheck) -> Operation:
        return self._write(f"trusting {check.name}'s host key", lambda store: hosts.accept(store, check.name,
                                                                                          check.scan))

    def probe(self, name: str) -> Operation:
        """finished(the stored probe); an unreachable host is a result too (its status says why)."""
        return self._write(f"probing {name}", lambda store: hosts.probe(store, name,
                                                                         ask_passphrase=self.passphrases.ask))

    def set_gpus(self, name: str, gpus: Sequence[int] | None) -> Operation:
        """The GPUs tasks may use on host `name` (None: all of them)."""
        return self._write(f"choosing {name}'s GPUs", lambda store: store.set_host(
            name, gpus=None if gpus is None else list(gpus), all_gpus=gpus is None))

    def edit(self, name: str, python: str, gpus: Sequence[int] | None) -> Operation:
        """finished(the host's record): its python and the GPUs tasks may use (None: all of them)."""
        return self._write(f"changing host {name}", lambda store: hosts.edit(store, name, python=python, gpus=gpus))

    def remove(self, name: str) -> Operation:
        """finished({table: rows}): the history that kept the host archived; {} when it was deleted."""
        return self._write(f"removing host {name}", lambda store: hosts.remove(store, name))
