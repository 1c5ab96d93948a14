"""Give a tenant a job on a dataset: the models that fit it (with their predicted cost) to narrow down, epochs,
image size and augmentation. The list is matched off the GUI thread whenever the dataset, size or weights change."""

from __future__ import annotations

from typing import Sequence

from PySide6 import QtCore, QtWidgets

from ..controllers.operations import Operation
from ..controllers.registry import RegistryController
from ..lab.jobs import Fitting
from ..training.arms import WEIGHT_CHOICES
from .operation_dialog import OperationDialog

Qt = QtCore.Qt
# (label, augment list or None for each model's recipe)
AUGMENT_CHOICES = (("random crop (each model's recipe)", None),
                   ("random crop and horizontal flip (photos)", ["crop", "flip"]), ("none", []))


def gflop_text(gflop: float) -> str:
    return f"{gflop / 1000:,.1f} TFLOP" if gflop >= 1000 else f"{gflop:,.1f} GFLOP" if gflop >= 1 else "< 1 GFLOP"


def seconds_text(seconds: float) -> str:
    if seconds < 90:
        return f"~{seconds:.0f} s"
    return f"~{seconds / 60:.0f} min" if seconds < 5400 else f"~{seconds / 3600:.1f} h"


class JobDialog(OperationDialog):
    def __init__(self, registry: RegistryController, tenants: Sequence[str], datasets: Sequence[str],
                 tenant: str = "", parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Add a job", "Add job", parent)
        self.registry = registry
        self.fitting: Fitting | None = None
        self._matching: Operation | None = None
        self.tenant = QtWidgets.QComboBox()
        self.tenant.addItems(list(tenants))
        if tenant in tenants:
            self.tenant.setCurrentText(tenant)
        self.dataset = QtWidgets.QComboBox()
        self.dataset.addItems(list(datasets))
        self.image_size = QtWidgets.QSpinBox()
        self.image_size.setRange(0, 1024)
        self.image_size.setSpecialValueText("the dataset's default")
        self.image_size.setSuffix(" px")
        self.image_size.setToolTip("the square size images are trained at; larger fits more models and costs more")
        self.weights = QtWidgets.QComboBox()
        for choice, label in zip(WEIGHT_CHOICES, ("from scratch", "fine-tuned from ImageNet weights the lab has",
                                                  "both")):
            self.weights.addItem(label, choice)
        self.models = QtWidgets.QTreeWidget()
        self.models.setHeaderLabels(["model", "what it is", "predicted time", "work"])
        self.models.setRootIsDecorated(False)
        self.models.setMinimumHeight(220)
        self.models.setToolTip("untick the models this job should not try; the engine picks among the rest")
        self.epochs = QtWidgets.QSpinBox()
        self.epochs.setRange(0, 1000)
        self.epochs.setSpecialValueText("each model's recipe")
        self.epochs.setToolTip("training epochs per network (classical learners ignore it)")
        self.augment = QtWidgets.QComboBox()
        for label, value in AUGMENT_CHOICES:
            self.augment.addItem(label, value)
        self.form.addRow("Tenant", self.tenant)
        self.form.addRow("Dataset", self.dataset)
        self.form.addRow("Image size", self.image_size)
        self.form.addRow("Networks", self.weights)
        self.form.addRow("Models", self.models)
        self.form.addRow("Epochs", self.epochs)
        self.form.addRow("Augmentation", self.augment)
        self.setMinimumWidth(640)
        self.dataset.currentTextChanged.connect(self.match)
        self.image_size.editingFinished.connect(self.match)
        self.weights.currentIndexChanged.connect(self.match)
        if not tenants or not datasets:
            self.show_problem("A job needs a tenant and a dataset: add them first.")
            self.go.setEnabled(False)
        else:
            self.match()

    # ---- the models that fit --------------------------------------------------------------------------------
    def match(self) -> None:
        if not self.dataset.currentText():
            return
        self.models.clear()
        self.go.setEnabled(False)
        operation = self.registry.fitting_arms(self.dataset.currentText(), self.image_size.value() or None,
                                               self.weights.currentData())
        self._matching = operation
        operation.finished.connect(lambda fitting: self._show_fitting(operation, fitting))
        operation.failed.connect(lambda message: self._show_no_fit(operation, message))

    def _show_fitting(self, operation: Operation, fitting: Fitting) -> None:
        if operation is not self._matching:
            return  # an older match, overtaken by a newer choice
        self.fitting = fitting
        self.show_problem("")
        for choice in fitting.arms:
            item = QtWidgets.QTreeWidgetItem([choice.name, choice.description,
                                              f"{seconds_text(choice.seconds)} on {fitting.device}",
                                              gflop_text(choice.gflop)])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Checked)
            item.setToolTip(2, "as the lab's finished tasks taught the cost model (before any: from the model's "
                               "GFLOP and the device's typical speed)")
            for column in (2, 3):
                item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.models.addTopLevelItem(item)
        for column in range(4):
            self.models.resizeColumnToContents(column)
        self.epochs.setSpecialValueText(f"each model's recipe ({fitting.recipe_epochs})")
        if not self.image_size.value():
            self.image_size.setSpecialValueText(f"the dataset's default ({fitting.image_size} px)")
        self.go.setEnabled(True)

    def _show_no_fit(self, operation: Operation, message: str) -> None:
        if operation is self._matching:
            self.fitting = None
            self.show_problem(message)

    def chosen(self) -> list[str]:
        items = (self.models.topLevelItem(i) for i in range(self.models.topLevelItemCount()))
        return [item.text(0) for item in items if item.checkState(0) == Qt.CheckState.Checked]

    def choose(self, names: Sequence[str]) -> None:
        """Tick exactly these models (the others are left out of the job)."""
        for i in range(self.models.topLevelItemCount()):
            item = self.models.topLevelItem(i)
            item.setCheckState(0, Qt.CheckState.Checked if item.text(0) in names else Qt.CheckState.Unchecked)

    # ---- adding it ------------------------------------------------------------------------------------------
    def begin(self) -> Operation | None:
        models = self.chosen()
        if not models:
            self.show_problem("Tick at least one model for the job to try.")
            return None
        return self.registry.add_job(self.tenant.currentText(), self.dataset.currentText(), models,
                                     epochs=self.epochs.value() or None, image_size=self.image_size.value() or None,
                                     augment=self.augment.currentData())
