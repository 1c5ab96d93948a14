"""Add a tenant, or change one's weight and quota."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from ..controllers.operations import Operation
from ..controllers.registry import RegistryController
from .lab_snapshot import TenantRow
from .operation_dialog import OperationDialog


class TenantDialog(OperationDialog):
    def __init__(self, registry: RegistryController, tenant: TenantRow | None = None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Add a tenant" if tenant is None else f"Change {tenant.name}",
                         "Add tenant" if tenant is None else "Save", parent)
        self.registry = registry
        self.tenant = tenant
        self.name = QtWidgets.QLineEdit() if tenant is None else QtWidgets.QLabel(tenant.name)
        if tenant is None:
            self.name.setPlaceholderText("e.g. vision-group (letters, digits, . _ -)")
        else:  # plain text, not a field that looks editable and ignores typing
            self.name.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
            self.name.setToolTip("a tenant keeps its name: its history (tasks, models, exports) is filed under it")
        self.weight = QtWidgets.QDoubleSpinBox()
        self.weight.setRange(0.1, 1000.0)
        self.weight.setSingleStep(0.5)
        self.weight.setValue(tenant.weight if tenant else 1.0)
        self.weight.setToolTip("the tenant's share of the lab: weight 2 counts twice in the global regret the "
                               "scheduler lowers")
        self.limited = QtWidgets.QCheckBox("at most")
        self.hours = QtWidgets.QDoubleSpinBox()
        self.hours.setRange(0.1, 100000.0)
        self.hours.setSuffix(" device hours")
        quota = tenant.quota_seconds if tenant else None
        self.limited.setChecked(quota is not None)
        self.hours.setValue(quota / 3600 if quota else 10.0)
        self.hours.setEnabled(quota is not None)
        self.limited.toggled.connect(self.hours.setEnabled)
        quota_row = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(quota_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.limited)
        row.addWidget(self.hours, 1)
        quota_row.setToolTip("device time the tenant's tasks may use in all; without a limit it is served until its "
                             "jobs are done")
        self.form.addRow("Name", self.name)
        self.form.addRow("Weight", self.weight)
        self.form.addRow("Quota", quota_row)

    def begin(self) -> Operation | None:
        name = self.name.text().strip()
        if not name:
            self.show_problem("Give the tenant a name.")
            return None
        hours = self.hours.value() if self.limited.isChecked() else None
        if self.tenant is None:
            return self.registry.add_tenant(name, self.weight.value(), hours)
        return self.registry.change_tenant(name, self.weight.value(), hours)
