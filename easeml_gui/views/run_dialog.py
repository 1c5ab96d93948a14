"""Start lab: where the run trains (this machine, ready hosts with their GPUs, or all), the policy that decides, and
an optional task limit. It starts exactly `easeml-gui run --devices ... --policy ... [--max-tasks N]` (the command
line heads the run log) and remembers the choice for the next start. A host that is not ready cannot be chosen and
says why (its last probe) before anything starts."""

from __future__ import annotations

import shlex
from typing import Sequence

from PySide6 import QtCore, QtWidgets

from ..controllers.lab_run import RunController
from ..controllers.operations import Operation
from ..lab.runs import ALL_DEVICES, LOCAL, RunChoice, policies
from .host_rows import HostRow
from .operation_dialog import OperationDialog
from .theme import hint

SETTINGS = ("easeml-gui", "easeml-gui")  # organisation, application: where QSettings keeps the last choice
DEVICES_KEY, POLICY_KEY, MAX_TASKS_KEY = "start-lab/devices", "start-lab/policy", "start-lab/max-tasks"


def host_label(row: HostRow) -> str:
    """"box1: 2 GPUs (NVIDIA A100)", "box2: CPU only", "box3: not ready" (why: on the line below it)."""
    if not row.ready:
        return f"{row.name}: not ready"
    allowed = [g for g in row.gpus if row.allowed is None or g.index in row.allowed]
    if not allowed:
        return f"{row.name}: CPU only"
    names = ", ".join(sorted({g.name for g in allowed}))
    return f"{row.name}: {len(allowed)} GPU{'s' if len(allowed) > 1 else ''} ({names})"


def last_choice(settings: QtCore.QSettings) -> RunChoice:
    """The choice the last start made (the defaults before any)."""
    devices = str(settings.value(DEVICES_KEY, LOCAL) or LOCAL).split(",")
    policy = str(settings.value(POLICY_KEY, "default") or "default")
    max_tasks = int(settings.value(MAX_TASKS_KEY, 0) or 0)
    return RunChoice(tuple(devices), policy, max_tasks or None)


def remember(settings: QtCore.QSettings, choice: RunChoice) -> None:
    settings.setValue(DEVICES_KEY, ",".join(choice.devices))
    settings.setValue(POLICY_KEY, choice.policy)
    settings.setValue(MAX_TASKS_KEY, choice.max_tasks or 0)


class RunDialog(OperationDialog):
    """`hosts`: the window's latest HostRows. `settings`: where the last choice is kept (the app's by default)."""

    def __init__(self, run: RunController, hosts: Sequence[HostRow], settings: QtCore.QSettings | None = None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Start lab", "Start lab", parent)
        self.run = run
        self.settings = settings if settings is not None else QtCore.QSettings(*SETTINGS)
        self.all = QtWidgets.QCheckBox("All: this machine and every ready host")
        self.all.setToolTip("the hosts that are ready when the run starts; the run log names those it leaves out")
        self.local = QtWidgets.QCheckBox("This machine (its GPUs, else the CPU)")
        self.ready = {row.name for row in hosts if row.ready}  # only these may be chosen
        self.hosts: dict[str, QtWidgets.QCheckBox] = {row.name: self._host_box(row) for row in hosts}
        self.reasons = {row.name: self._reason(row) for row in hosts if not row.ready}  # why not, in words
        self.policy = QtWidgets.QComboBox()
        for name, description in policies().items():
            self.policy.addItem(name)
            self.policy.setItemData(self.policy.count() - 1, description, QtCore.Qt.ItemDataRole.ToolTipRole)
        self.max_tasks = QtWidgets.QSpinBox()
        self.max_tasks.setRange(0, 1_000_000)
        self.max_tasks.setSpecialValueText("no limit: until every job is done")
        self.max_tasks.setToolTip("the run stops after this many tasks ended")
        self.command = hint("")
        self.command.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.form.addRow("Devices", self._devices_box())
        self.form.addRow("Policy", self.policy)
        self.form.addRow("Max tasks", self.max_tasks)
        self.body.insertWidget(1, self.command)
        self._show_choice(last_choice(self.settings))
        for box in (self.all, self.local, *self.hosts.values()):
            box.toggled.connect(self._update)
        self.policy.currentTextChanged.connect(self._update)
        self.max_tasks.valueChanged.connect(self._update)
        self._update()

    def _host_box(self, row: HostRow) -> QtWidgets.QCheckBox:
        box = QtWidgets.QCheckBox(host_label(row))
        box.setEnabled(row.ready)
        box.setToolTip(f"last probe: {row.status}" if row.ready else
                       f"{row.name} is not ready: {row.status}. Fix it and Probe it again in the Hosts tab.")
        return box

    @staticmethod
    def _reason(row: HostRow) -> QtWidgets.QLabel:
        label = hint(row.status)
        label.setContentsMargins(24, 0, 0, 4)  # under its check box's text
        return label

    def _devices_box(self) -> QtWidgets.QWidget:
        box = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.local)
        for name, check in self.hosts.items():
            layout.addWidget(check)
            if name in self.reasons:
                layout.addWidget(self.reasons[name])
        if not self.hosts:
            layout.addWidget(hint("no hosts yet: add one in the Hosts tab to train on a GPU server"))
        layout.addWidget(self.all)
        return box

    def _show_choice(self, choice: RunChoice) -> None:
        """The remembered choice, less the hosts that are gone or not ready now (this machine when none is left)."""
        chosen = set(choice.devices)
        self.all.setChecked(ALL_DEVICES in chosen)
        ready = [name for name in self.hosts if name in self.ready and name in chosen]
        for name in ready:
            self.hosts[name].setChecked(True)
        self.local.setChecked(LOCAL in chosen or not (ready or self.all.isChecked()))
        self.policy.setCurrentText(choice.policy if choice.policy in policies() else "default")
        self.max_tasks.setValue(choice.max_tasks or 0)

    def choice(self) -> RunChoice:
        if self.all.isChecked():
            devices: tuple[str, ...] = (ALL_DEVICES,)
        else:
            hosts = tuple(name for name, box in self.hosts.items() if name in self.ready and box.isChecked())
            devices = ((LOCAL,) if self.local.isChecked() else ()) + hosts
        return RunChoice(devices, self.policy.currentText(), self.max_tasks.value() or None)

    def _update(self) -> None:
        every = self.all.isChecked()
        self.local.setEnabled(not every)
        for name, box in self.hosts.items():
            box.setEnabled(not every and name in self.ready)
        choice = self.choice()
        self.go.setEnabled(bool(choice.devices))
        self.command.setText(f"runs: easeml-gui run {shlex.join(choice.flags())}" if choice.devices else
                             "Choose where to train: this machine, a ready host, or all.")

    def begin(self) -> Operation | None:
        choice = self.choice()
        remember(self.settings, choice)
        return self.run.start(choice)
