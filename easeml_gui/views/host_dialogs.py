"""Add a remote host (an address or one of the user's ~/.ssh/config aliases), and trust its host key after
seeing its SHA256 fingerprint. Both talk to the hosts controller; nothing here connects or writes itself."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtWidgets

from ..controllers.hosts import HostsController
from ..controllers.operations import Operation
from ..lab.errors import LabError
from ..lab.hosts import KeyCheck, KeySource, gpu_choice
from .host_rows import HostRow
from .operation_dialog import OperationDialog


class AddHostDialog(OperationDialog):
    def __init__(self, hosts: HostsController, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Add a host", "Add host", parent)
        self.hosts = hosts
        self.name = QtWidgets.QLineEdit()
        self.name.setPlaceholderText("e.g. gpu1 (letters, digits, . _ -)")
        self.address = QtWidgets.QComboBox()
        self.address.setEditable(True)
        self.address.lineEdit().setPlaceholderText("[user@]host[:port] or a ~/.ssh/config alias")
        self.address.setToolTip("an alias brings its HostName, User, Port and IdentityFile from ~/.ssh/config")
        self.key = QtWidgets.QLineEdit()
        self.key.setPlaceholderText("optional: a private key file (else the alias's, the agent's, ~/.ssh's)")
        self.python = QtWidgets.QLineEdit()
        self.python.setPlaceholderText("python3")
        self.python.setToolTip("the interpreter (with torch) that runs the worker on the host")
        self.form.addRow("Name", self.name)
        self.form.addRow("Address", self.address)
        self.form.addRow("Key", self.key)
        self.form.addRow("Python", self.python)
        hosts.aliases().finished.connect(self._offer)

    def _offer(self, aliases: list[str]) -> None:
        typed = self.address.currentText()
        self.address.addItems(aliases)
        self.address.setEditText(typed)  # offered, not chosen for the admin

    def begin(self) -> Operation | None:
        name, address = self.name.text().strip(), self.address.currentText().strip()
        if not name or not address:
            self.show_problem("Give the host a name and an address (or pick a ~/.ssh/config alias).")
            return None
        key = Path(self.key.text().strip()) if self.key.text().strip() else None
        return self.hosts.add(name, address, key=key, python=self.python.text().strip() or None)


class TrustDialog(OperationDialog):
    """Reads the key the host presents (no login), shows its fingerprint as `ssh-keygen -lf` prints it, and pins
    it only when the admin says so. Behind a jump host (ProxyJump) the jump host's key comes first, as `ssh -J`
    asks: nothing logs in to the jump host before the admin accepted its key, and both keys are pinned together."""

    def __init__(self, hosts: HostsController, name: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(f"Trust {name}'s host key", "Trust this key", parent)
        self.hosts, self.host = hosts, name
        self.check: KeyCheck | None = None
        self.jump: KeyCheck | None = None  # the jump host's key, while it is the one shown
        self.message = QtWidgets.QLabel(f"Reading the key {name} presents…")
        self.message.setWordWrap(True)
        self.fingerprint = QtWidgets.QLineEdit()
        self.fingerprint.setReadOnly(True)  # selectable, to compare or paste
        self.fingerprint.setVisible(False)
        self.body.insertWidget(0, self.message)
        self.body.insertWidget(1, self.fingerprint)
        self.go.setEnabled(False)
        self.setMinimumWidth(620)
        reading = hosts.check_jump_key(name)
        reading.finished.connect(self._jump_read)
        reading.failed.connect(self._read_failed)

    def _jump_read(self, jump: KeyCheck | None) -> None:
        if jump is None or (jump.source is KeySource.ACCEPTED and jump.changed is None):
            self._read_host(jump)  # no jump host, or one pinned already: straight to the host's own key
        else:
            self.jump = jump
            self._show(jump)
            self.go.setText("Trust the jump host's key" if jump.changed is None else "Trust the jump host's NEW key")

    def _read_host(self, jump: KeyCheck | None) -> None:
        self.jump = None
        self.go.setEnabled(False)
        self.message.setText(f"Reading the key {self.host} presents…")
        self.message.setVisible(True)
        self.fingerprint.setVisible(False)
        reading = self.hosts.check_key(self.host, jump)
        reading.finished.connect(self._show_host)
        reading.failed.connect(self._read_failed)

    def _read_failed(self, message: str) -> None:
        """The failure takes the place of "Reading the key…", in full (the dialog grows to show it)."""
        self.message.setVisible(False)
        self.show_problem(message)

    def _show_host(self, check: KeyCheck) -> None:
        self.check = check
        self._show(check)

    def _show(self, check: KeyCheck) -> None:
        self.fingerprint.setText(check.line)
        self.fingerprint.setVisible(True)
        self.go.setText("Trust this key")
        if check.source is KeySource.ACCEPTED and check.changed is None:
            self.message.setText(f"{check.server} is already trusted with this key:")
            return
        if check.changed is not None:
            self.message.setText(check.changed)
            self.go.setText("Trust the NEW key")
        elif check.source is KeySource.KNOWN_HOSTS:
            self.message.setText(f"Your ~/.ssh/known_hosts already trusts the key of {check.server}; pin it for "
                                 "easeml-gui too:")
        else:
            self.message.setText(f"{check.server} presents this key. Compare it with what the host's admin reads "
                                 "on the host itself (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) before you "
                                 "trust it:")
        self.go.setEnabled(True)

    def begin(self) -> Operation | None:
        if self.jump is not None:  # accepted: now read the host's own key through the jump host
            self._read_host(self.jump)
            return None
        return None if self.check is None else self.hosts.accept(self.check)


class HostEditDialog(OperationDialog):
    """A host's python and the GPUs tasks may use there (all, or some in the order to fill them)."""

    def __init__(self, hosts: HostsController, row: HostRow, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(f"Change host {row.name}", "Save", parent)
        self.hosts, self.host = hosts, row.name
        self.python = QtWidgets.QLineEdit(row.python)
        self.python.setToolTip("the interpreter (with torch) that runs the worker on the host; Probe checks it")
        self.gpus = QtWidgets.QLineEdit("all" if row.allowed is None else ",".join(map(str, row.allowed)))
        self.gpus.setPlaceholderText("all, or GPU numbers in the order to fill them, e.g. 0,2")
        probed = ", ".join(f"{gpu.index}: {gpu.name}" for gpu in row.gpus)
        self.gpus.setToolTip(f"the last probe saw GPU {probed}" if probed else "no GPUs seen by the last probe")
        self.form.addRow("Python", self.python)
        self.form.addRow("GPUs", self.gpus)

    def begin(self) -> Operation | None:
        python = self.python.text().strip()
        if not python:
            self.show_problem("Give the path of the host's python, e.g. /usr/bin/python3.")
            return None
        try:
            gpus = gpu_choice(self.gpus.text())
        except LabError as error:
            self.show_problem(str(error))
            return None
        return self.hosts.edit(self.host, python, gpus)
