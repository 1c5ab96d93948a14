"""Give a tenant a job on a dataset: the models that fit it (with their predicted cost) to narrow down, epochs,
image size and augmentation. The list is matched off the GUI thread whenever the dataset, size or weights change."""

from __future__ import annotations

from typing import Sequence

from PySide6 import QtCore, QtWidgets

from ..controllers.operations import Operation
from ..controllers.registry import RegistryController
from ..lab.jobs import ArmChoice, Fitting
from ..training.arms import WEIGHT_CHOICES, arm_spec
from .operation_dialog import OperationDialog
from .weights_dialog import WeightsDialog

Qt = QtCore.Qt
# (label, augment list or None for each model's recipe)
AUGMENT_CHOICES = (("random crop (each model's recipe)", None),
                   ("random crop and horizontal flip (photos)", ["crop", "flip"]), ("none", []))
# Ticked at first: the quickest models while their predicted total fits this much device time. All of them took
# about 1.5 h of CPU on a small set, more than a first try of a new dataset wants; the admin ticks more.
FIRST_BUDGET_SECONDS = 600.0
MODELS_TIP = (f"ticked at first: the quickest models while their predicted total stays within "
              f"{FIRST_BUDGET_SECONDS / 60:.0f} minutes of device time (at least one). Untick the ones this job "
              "should not try, tick more for a wider search; the engine picks among the ticked ones")


def gflop_text(gflop: float) -> str:
    return f"{gflop / 1000:,.1f} TFLOP" if gflop >= 1000 else f"{gflop:,.1f} GFLOP" if gflop >= 1 else "< 1 GFLOP"


def named_like(tenant: str, names: Sequence[str]) -> str | None:
    """The dataset named as the tenant, else one whose name holds the tenant's or is held in it (any case)."""
    lowered = tenant.lower()
    return (next((name for name in names if name.lower() == lowered), None)
            or next((name for name in names if name.lower() in lowered or lowered in name.lower()), None))


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
        self._dataset_picked = False  # by the admin: a default found later must not overrule it
        self.dataset.activated.connect(lambda _: setattr(self, "_dataset_picked", True))
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
        self.models.setToolTip(MODELS_TIP)
        header = self.models.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        # The description gives way (elided, in full in its tooltip): the time and work columns always show.
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.models.itemChanged.connect(self._show_total)
        self.total = QtWidgets.QLabel()
        self.total.setToolTip("the predicted device time of the ticked models, each trained once")
        self.tick_all = QtWidgets.QPushButton("Tick all")
        self.tick_all.clicked.connect(lambda: self.choose(self.offered()))
        self.untick_all = QtWidgets.QPushButton("Untick all")
        self.untick_all.clicked.connect(lambda: self.choose([]))
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
        self.weights_button = QtWidgets.QPushButton("Weights…")
        self.weights_button.setToolTip("fetch or import ImageNet weights, then the models fine-tuned from them join")
        self.weights_button.clicked.connect(self.open_weights)
        networks = QtWidgets.QHBoxLayout()
        networks.addWidget(self.weights, 1)
        networks.addWidget(self.weights_button)
        self.form.addRow("Networks", networks)
        self.form.addRow("Models", self._models_box())
        self.form.addRow("Epochs", self.epochs)
        self.form.addRow("Augmentation", self.augment)
        self.setMinimumWidth(780)
        self._default_dataset(self.tenant.currentText())
        self.tenant.currentTextChanged.connect(self._default_dataset)
        self.dataset.currentTextChanged.connect(self.match)
        self.image_size.editingFinished.connect(self.match)
        self.weights.currentIndexChanged.connect(self.match)
        self.epochs.valueChanged.connect(self._show_times)
        if not tenants or not datasets:
            self.show_problem("A job needs a tenant and a dataset: add them first.")
            self.go.setEnabled(False)
        else:
            self.match()

    def _models_box(self) -> QtWidgets.QWidget:
        box = QtWidgets.QWidget()
        column = QtWidgets.QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.models)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.total, 1)
        row.addWidget(self.tick_all)
        row.addWidget(self.untick_all)
        column.addLayout(row)
        return box

    # ---- the dataset: the tenant's own ----------------------------------------------------------------------
    def _default_dataset(self, tenant: str) -> None:
        """The dataset of the tenant's latest job (read off the GUI thread), else one named like the tenant, else
        the first."""
        names = [self.dataset.itemText(i) for i in range(self.dataset.count())]
        if not tenant or not names or self._dataset_picked:
            return
        self.dataset.setCurrentText(named_like(tenant, names) or names[0])
        reading = self.registry.latest_dataset(tenant)
        reading.finished.connect(lambda name: self._latest_dataset(tenant, name))

    def _latest_dataset(self, tenant: str, name: str | None) -> None:
        if name is not None and tenant == self.tenant.currentText() and not self._dataset_picked:
            self.dataset.setCurrentText(name)  # a dataset removed since is not in the list: unchanged

    # ---- the models that fit --------------------------------------------------------------------------------
    def match(self) -> None:
        if not self.dataset.currentText():
            return
        self.models.clear()
        self.fitting = None  # its rows are gone: nothing to price until the new match
        self.total.setText("")
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
        self.models.blockSignals(True)  # one total at the end, not one per row
        for choice in fitting.arms:
            item = QtWidgets.QTreeWidgetItem([choice.name, choice.description, "", gflop_text(choice.gflop)])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setToolTip(1, choice.description)
            item.setToolTip(2, "as the lab's finished tasks taught the cost model (before any: from the model's "
                               "GFLOP and the device's typical speed), for the epochs asked for")
            for column in (2, 3):
                item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.models.addTopLevelItem(item)
        self._tick_first()
        self.models.blockSignals(False)
        self.epochs.setSpecialValueText(f"each model's recipe ({fitting.recipe_epochs})")
        self._show_times()
        if not self.image_size.value():
            self.image_size.setSpecialValueText(f"the dataset's default ({fitting.image_size} px)")
        self.go.setEnabled(True)

    def _rows(self) -> list[tuple[QtWidgets.QTreeWidgetItem, ArmChoice]]:
        arms = self.fitting.arms if self.fitting is not None else []
        return [(self.models.topLevelItem(i), choice) for i, choice in enumerate(arms)]

    def _tick_first(self) -> None:
        """Quickest first (the fitting's order), while the total fits FIRST_BUDGET_SECONDS; at least one."""
        total = 0.0
        for index, (item, choice) in enumerate(self._rows()):
            total += self.predicted(choice)
            fits = index == 0 or total <= FIRST_BUDGET_SECONDS
            item.setCheckState(0, Qt.CheckState.Checked if fits else Qt.CheckState.Unchecked)

    def predicted(self, choice: ArmChoice) -> float:
        """Seconds at the epochs asked for: the fitting predicts networks at its recipe epochs (classical
        learners have no epochs)."""
        if self.fitting is None or not arm_spec(choice.name).network:
            return choice.seconds
        return choice.seconds * (self.epochs.value() or self.fitting.recipe_epochs) / self.fitting.recipe_epochs

    def open_weights(self) -> WeightsDialog:
        """The lab's weights (fetch, import) without leaving the job; the models are matched again after."""
        dialog = WeightsDialog(self.registry, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _: self.match())
        dialog.open()
        return dialog

    def _show_times(self) -> None:
        self.models.blockSignals(True)
        for item, choice in self._rows():
            item.setText(2, f"{seconds_text(self.predicted(choice))} on {self.fitting.device}")
        self.models.blockSignals(False)
        self._show_total()

    def _show_total(self, *_: object) -> None:
        rows = self._rows()
        ticked = [choice for item, choice in rows if item.checkState(0) == Qt.CheckState.Checked]
        text = (f"{len(ticked)} of {len(rows)} models ticked: {seconds_text(sum(map(self.predicted, ticked)))} of "
                f"device time on {self.fitting.device}" if rows else "")
        if rows and self.weights.currentData() != "scratch" and not any(
                arm_spec(choice.name).pretrained for _, choice in rows):
            text += " (the lab has no ImageNet weights yet: networks from scratch only)"
        self.total.setText(text)

    def _show_no_fit(self, operation: Operation, message: str) -> None:
        if operation is self._matching:
            self.fitting = None
            self.show_problem(message)

    def offered(self) -> list[str]:
        return [choice.name for choice in self.fitting.arms] if self.fitting is not None else []

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
