"""The Hosts tab: the registered remote hosts with their host key and last probe, one row per GPU under each
(memory, other users' processes, the probe's verdict) with a check box for whether tasks may use it; Add host…,
Trust…, Probe, Change… (python, GPUs) and Remove… (asks first). All SSH work and store writes run in the hosts
controller, off the GUI thread."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

from PySide6 import QtCore, QtGui, QtWidgets

from ..controllers.hosts import HostsController
from .host_dialogs import AddHostDialog, HostEditDialog, TrustDialog
from .host_rows import HostRow
from .questions import confirm, history_text
from .running_tasks import elapsed
from .theme import STATE_COLOURS, heading, hint, scheme

Qt = QtCore.Qt
COLUMNS = ("host / GPU", "address / memory", "host key / other users", "status", "probed")
NAME = Qt.ItemDataRole.UserRole  # the host's name, on its row and on its GPUs' rows
GPU = Qt.ItemDataRole.UserRole + 1  # a GPU row's index


class HostsView(QtWidgets.QWidget):
    """set_rows(HostRow...) from each snapshot. told(text) and problem(title, message) for the window to show."""

    told = QtCore.Signal(str)
    problem = QtCore.Signal(str, str)

    def __init__(self, hosts: HostsController, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.hosts = hosts
        hosts.passphrases.handler = lambda path: self.ask_passphrase(path)  # a method tests may replace
        self.rows: tuple[HostRow, ...] = ()
        self.probing: set[str] = set()
        self.dialog: QtWidgets.QDialog | None = None  # the dialog open now (tests drive it)
        self.add_button = QtWidgets.QPushButton("Add host…")
        self.trust_button = QtWidgets.QPushButton("Trust…")
        self.probe_button = QtWidgets.QPushButton("Probe")
        self.edit_button = QtWidgets.QPushButton("Change…")
        self.remove_button = QtWidgets.QPushButton("Remove…")
        self.edit_button.setToolTip("the host's python and the GPUs tasks may use")
        self.remove_button.setToolTip("take the host out of the lab (archived when tasks ran on it: they keep "
                                      "naming it)")
        self.trust_button.setToolTip("see the host key's SHA256 fingerprint and pin it")
        self.probe_button.setToolTip("log in and check python, torch, CUDA, the GPUs and the disk")
        self.add_button.clicked.connect(self.add_host)
        self.trust_button.clicked.connect(lambda: self.trust(self.selected_host()))
        self.probe_button.clicked.connect(lambda: self.probe(self.selected_host()))
        self.edit_button.clicked.connect(lambda: self.edit(self.selected_host()))
        self.remove_button.clicked.connect(lambda: self.remove(self.selected_host()))
        self.tree = QtWidgets.QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setUniformRowHeights(True)
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(3, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.tree.itemSelectionChanged.connect(self._enable)
        self.tree.itemChanged.connect(self._gpu_toggled)

        top = QtWidgets.QHBoxLayout()
        top.addWidget(heading("Hosts"))
        top.addWidget(hint("remote GPU servers reached over SSH; tick the GPUs tasks may use"), 1)
        for button in (self.add_button, self.trust_button, self.probe_button, self.edit_button, self.remove_button):
            top.addWidget(button)
        card = QtWidgets.QFrame()
        card.setObjectName("card")
        inner = QtWidgets.QVBoxLayout(card)
        inner.setContentsMargins(12, 10, 12, 10)
        inner.addLayout(top)
        inner.addWidget(self.tree, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addWidget(card)
        self.set_rows(())

    def ask_passphrase(self, path: Path) -> str | None:
        """An encrypted key's passphrase for a login that waits on the pool; None when the admin declines."""
        text, given = QtWidgets.QInputDialog.getText(
            self, "Key passphrase", f"The key {path} is encrypted. Its passphrase (used for this login only, never "
            "stored):", QtWidgets.QLineEdit.EchoMode.Password)
        return text if given else None

    # ---- what it shows --------------------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[HostRow], now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.rows = tuple(rows)
        selected = self.selected_host()
        self.tree.blockSignals(True)  # rebuilding is not the admin ticking GPUs
        self.tree.clear()
        if not rows:
            empty = QtWidgets.QTreeWidgetItem(["no hosts yet: Add host… to train on a GPU server over SSH"])
            empty.setForeground(0, QtGui.QBrush(QtGui.QColor(scheme().muted)))
            self.tree.addTopLevelItem(empty)
            empty.setFirstColumnSpanned(True)
        for row in rows:
            status = f"probing… (last: {row.status})" if row.name in self.probing else row.status
            probed = "never" if row.probed is None else f"{elapsed(row.probed, now)} ago"
            item = QtWidgets.QTreeWidgetItem([row.name, row.address + (f"  (alias {row.alias})" if row.alias else ""),
                                              row.fingerprint or "not trusted yet: Trust…", status, probed])
            item.setData(0, NAME, row.name)
            colour = STATE_COLOURS["done"] if row.ready else \
                scheme().muted if row.probed is None else STATE_COLOURS["failed"]
            item.setForeground(3, QtGui.QBrush(QtGui.QColor(colour)))
            item.setToolTip(3, status)
            self.tree.addTopLevelItem(item)
            for gpu in row.gpus:
                child = QtWidgets.QTreeWidgetItem([f"GPU {gpu.index}: {gpu.name}", gpu.memory, gpu.others or "—",
                                                   gpu.status, ""])
                child.setData(0, NAME, row.name)
                child.setData(0, GPU, gpu.index)
                child.setFlags(child.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                allowed = row.allowed is None or gpu.index in row.allowed
                child.setCheckState(0, Qt.CheckState.Checked if allowed else Qt.CheckState.Unchecked)
                child.setToolTip(0, "tasks may use this GPU" if allowed else "left out: tasks do not use it")
                item.addChild(child)
            item.setExpanded(True)
            if row.name == selected:
                item.setSelected(True)
        for column in (0, 1, 2, 4):
            self.tree.resizeColumnToContents(column)
        self.tree.blockSignals(False)
        self._enable()

    def selected_host(self) -> str:
        items = self.tree.selectedItems()
        return (items[0].data(0, NAME) or "") if items else ""

    def select(self, name: str) -> None:
        for index in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(index)
            item.setSelected(item.data(0, NAME) == name)

    def row(self, name: str) -> HostRow | None:
        return next((r for r in self.rows if r.name == name), None)

    def _enable(self) -> None:
        name = self.selected_host()
        self.trust_button.setEnabled(bool(name))
        self.probe_button.setEnabled(bool(name) and name not in self.probing)
        self.edit_button.setEnabled(bool(name))
        self.remove_button.setEnabled(bool(name))

    # ---- what the admin does --------------------------------------------------------------------------------
    def _open(self, dialog: QtWidgets.QDialog) -> None:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = dialog
        dialog.destroyed.connect(lambda: setattr(self, "dialog", None) if self.dialog is dialog else None)
        dialog.open()

    def add_host(self) -> None:
        dialog = AddHostDialog(self.hosts, self)
        dialog.succeeded.connect(lambda host: self.told.emit(f"Added host {host.name}. Trust its host key next."))
        self._open(dialog)

    def trust(self, name: str) -> None:
        if name:
            dialog = TrustDialog(self.hosts, name, self)
            dialog.succeeded.connect(lambda host: self.told.emit(f"Trusted {host.name}'s host key. Probe it next."))
            self._open(dialog)

    def edit(self, name: str) -> None:
        row = self.row(name)
        if row is not None:
            dialog = HostEditDialog(self.hosts, row, self)
            dialog.succeeded.connect(lambda host: self.told.emit(
                f"{host.name}: python {host.python}, tasks may use {gpus_text(host.gpus)}; a running lab picks it up."))
            self._open(dialog)

    def confirm(self, title: str, question: str, yes: str) -> bool:
        return confirm(self, title, question, yes)  # a method tests may replace

    def remove(self, name: str) -> None:
        if not name or not self.confirm("Remove host", f"Remove {name} from the lab? It gets no more tasks; if tasks "
                                        "ran on it, it is archived so their history keeps naming it.", "Remove"):
            return
        operation = self.hosts.remove(name)
        operation.finished.connect(lambda kept: self.told.emit(
            f"Archived {name}: its history ({history_text(kept)}) keeps naming it." if kept else
            f"Removed {name} and its pinned host keys."))
        operation.failed.connect(lambda message: self.problem.emit("Remove host", message))

    def probe(self, name: str) -> None:
        if not name or name in self.probing:
            return
        self.probing.add(name)
        self.set_rows(self.rows)
        operation = self.hosts.probe(name)
        # with its notes: what the CLI prints on stderr (e.g. a key file others may read) is said here too
        operation.finished.connect(lambda result: self.told.emit("; ".join([f"{name}: {result['status']}",
                                                                            *result["notes"]])))
        operation.failed.connect(lambda message: self.problem.emit("Probe", message))
        operation.ended.connect(lambda: self._probed(name))

    def _probed(self, name: str) -> None:
        self.probing.discard(name)
        self.set_rows(self.rows)  # the stored probe arrives with the next snapshot

    def _gpu_toggled(self, item: QtWidgets.QTreeWidgetItem, column: int) -> None:
        parent = item.parent()
        if column != 0 or parent is None:
            return
        children = [parent.child(i) for i in range(parent.childCount())]
        ticked = [c.data(0, GPU) for c in children if c.checkState(0) == Qt.CheckState.Checked]
        name = parent.data(0, NAME)
        allowed = None if len(ticked) == len(children) else ticked
        operation = self.hosts.set_gpus(name, allowed)
        operation.finished.connect(lambda _: self.told.emit(f"{name}: tasks may use {gpus_text(allowed)}"))
        operation.failed.connect(lambda message: self._gpus_refused(message))

    def _gpus_refused(self, message: str) -> None:
        self.problem.emit("GPUs", message)
        self.set_rows(self.rows)  # the boxes as the store still has them


def gpus_text(allowed: Sequence[int] | None) -> str:
    if allowed is None:
        return "every GPU"
    return "GPU " + ", ".join(map(str, allowed)) if allowed else "no GPU"
