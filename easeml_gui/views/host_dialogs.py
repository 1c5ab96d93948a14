"""Add a remote host (an address or one of the user's ~/.ssh/config aliases), and trust its host key after
seeing its SHA256 fingerprint. Both talk to the hosts controller; nothing here connects or writes itself."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtWidgets

from ..controllers.hosts import HostsController
from ..controllers.operations import Operation
from ..lab.hosts import KeyCheck
from ..store import KeySource
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
    it only when the admin says so."""

    def __init__(self, hosts: HostsController, name: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(f"Trust {name}'s host key", "Trust this key", parent)
        self.hosts = hosts
        self.check: KeyCheck | None = None
        self.message = QtWidgets.QLabel(f"Reading the key {name} presents…")
        self.message.setWordWrap(True)
        self.fingerprint = QtWidgets.QLineEdit()
        self.fingerprint.setReadOnly(True)  # selectable, to compare or paste
        self.fingerprint.setVisible(False)
        self.body.insertWidget(0, self.message)
        self.body.insertWidget(1, self.fingerprint)
        self.go.setEnabled(False)
        self.setMinimumWidth(620)
        reading = hosts.check_key(name)
        reading.finished.connect(self._show)
        reading.failed.connect(self.show_problem)

    def _show(self, check: KeyCheck) -> None:
        self.check = check
        self.fingerprint.setText(check.line)
        self.fingerprint.setVisible(True)
        if check.source is KeySource.ACCEPTED:
            self.message.setText(f"{check.name} ({check.address}) is already trusted with this key:")
            return
        if check.changed is not None:
            self.message.setText(check.changed)
            self.go.setText("Trust the NEW key")
        elif check.source is KeySource.KNOWN_HOSTS:
            self.message.setText("Your ~/.ssh/known_hosts already trusts this key; pin it for easeml-gui too:")
        else:
            self.message.setText(f"{check.name} ({check.address}) presents this key. Compare it with what the "
                                 "host's admin reads on the host itself (ssh-keygen -lf "
                                 "/etc/ssh/ssh_host_ed25519_key.pub) before you trust it:")
        self.go.setEnabled(True)

    def begin(self) -> Operation | None:
        return None if self.check is None else self.hosts.accept(self.check)
