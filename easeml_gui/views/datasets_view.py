"""The Datasets tab: the registered datasets on the left (Add…, Remove…: asks first, refused while an active job
trains on one); for the one selected, its classes with their image counts and a few of its images per class
(decoded off the GUI thread by the registry controller)."""

from __future__ import annotations

import html
from typing import Sequence

from PySide6 import QtCore, QtGui, QtWidgets

from ..controllers.operations import Operation
from ..controllers.registry import RegistryController
from .lab_snapshot import DatasetRow
from .questions import confirm, history_text
from .weights_dialog import WeightsDialog
from .theme import heading, hint, scheme

Qt = QtCore.Qt
THUMB = 56  # px a side; small images (digits are 8 px) are scaled up without smoothing, so they stay crisp
PER_CLASS = 6


def thumbnail(image: QtGui.QImage) -> QtGui.QPixmap:
    smooth = image.width() >= THUMB or image.height() >= THUMB
    mode = Qt.TransformationMode.SmoothTransformation if smooth else Qt.TransformationMode.FastTransformation
    return QtGui.QPixmap.fromImage(image.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, mode))


class ClassRow(QtWidgets.QWidget):
    """One class: its name and count, then its sample images."""

    def __init__(self, name: str, count: int, images: Sequence[QtGui.QImage]) -> None:
        super().__init__()
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        layout.setSpacing(6)
        label = QtWidgets.QLabel(f"<b>{html.escape(name)}</b>"
                                 f"<br><span style='color:{scheme().muted}'>{count:,} images</span>")
        label.setFixedWidth(140)
        layout.addWidget(label)
        self.thumbnails = []
        for image in images:
            picture = QtWidgets.QLabel()
            picture.setFixedSize(THUMB + 4, THUMB + 4)
            picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
            picture.setObjectName("thumbnail")
            if not image.isNull():
                picture.setPixmap(thumbnail(image))
            self.thumbnails.append(picture)
            layout.addWidget(picture)
        layout.addStretch(1)


class DatasetsView(QtWidgets.QWidget):
    """addRequested() for the window's Add dataset; told(text) and problem(title, message) for it to show."""

    addRequested = QtCore.Signal()
    told = QtCore.Signal(str)
    problem = QtCore.Signal(str, str)

    def __init__(self, registry: RegistryController, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self._rows: tuple[DatasetRow, ...] = ()
        self._preview: Operation | None = None
        self.dialog: QtWidgets.QDialog | None = None  # the dialog open now (tests drive it)
        self.list = QtWidgets.QListWidget()
        self.list.setMinimumWidth(240)
        self.list.currentTextChanged.connect(self._selected)
        add = QtWidgets.QPushButton("Add dataset…")
        add.setToolTip("a folder of class sub-folders, or a .zip / .tar / .tar.gz of one (Ctrl+O); or drop it "
                       "anywhere on the window")
        add.clicked.connect(self.addRequested)
        self.remove_button = QtWidgets.QPushButton("Remove…")
        self.remove_button.setToolTip("take the dataset out of the lab (archived when jobs used it: they keep naming "
                                      "it); refused while an active job trains on it")
        self.remove_button.clicked.connect(lambda: self.remove(self.selected()))
        self.weights_button = QtWidgets.QPushButton("Weights…")
        self.weights_button.setToolTip("the ImageNet weights fine-tuned arms start from: list, fetch, import")
        self.weights_button.clicked.connect(self.open_weights)
        buttons = QtWidgets.QHBoxLayout()
        for button in (add, self.remove_button, self.weights_button):
            buttons.addWidget(button)
        left = QtWidgets.QFrame()
        left.setObjectName("card")
        left_layout = QtWidgets.QVBoxLayout(left)
        left_layout.setContentsMargins(12, 10, 12, 10)
        left_layout.addWidget(heading("Datasets"))
        left_layout.addWidget(self.list, 1)
        left_layout.addWidget(hint("Drop a folder or a .zip / .tar / .tar.gz anywhere on the window to add one."))
        left_layout.addLayout(buttons)

        self.title = heading("")
        self.summary = hint("")
        self.classes = QtWidgets.QWidget()
        self.classes.setObjectName("classes")
        self.classes_layout = QtWidgets.QVBoxLayout(self.classes)
        self.classes_layout.setContentsMargins(0, 0, 0, 0)
        self.classes_layout.setSpacing(4)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setObjectName("classScroll")
        scroll.setWidget(self.classes)
        right = QtWidgets.QFrame()
        right.setObjectName("card")
        right_layout = QtWidgets.QVBoxLayout(right)
        right_layout.setContentsMargins(16, 12, 16, 12)
        right_layout.addWidget(self.title)
        right_layout.addWidget(self.summary)
        right_layout.addWidget(scroll, 1)

        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(12)
        layout.addWidget(left)
        layout.addWidget(right, 1)
        self._show(None)

    def set_rows(self, rows: Sequence[DatasetRow]) -> None:
        rows = tuple(rows)
        if rows == self._rows:
            return
        current = self.list.currentItem().text() if self.list.currentItem() else ""
        self._rows = rows
        self.list.blockSignals(True)
        self.list.clear()
        for row in rows:
            item = QtWidgets.QListWidgetItem(row.name)
            item.setToolTip(row.summary)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.select(current or (rows[0].name if rows else ""))

    def select(self, name: str) -> None:
        matches = self.list.findItems(name, Qt.MatchFlag.MatchExactly) if name else []
        if matches:
            self.list.setCurrentItem(matches[0])
            self._selected(name)  # also when it was current already: its record may be new
        else:
            self._show(None)

    def selected(self) -> str:
        item = self.list.currentItem()
        return item.text() if item is not None else ""

    def names(self) -> list[str]:
        return [row.name for row in self._rows]

    def shown(self) -> str:
        return self.title.text()

    def class_rows(self) -> list[ClassRow]:
        return self.classes.findChildren(ClassRow)

    # ---- what the admin does --------------------------------------------------------------------------------
    def confirm(self, title: str, question: str, yes: str) -> bool:
        return confirm(self, title, question, yes)  # a method tests may replace

    def open_weights(self) -> None:
        dialog = WeightsDialog(self.registry, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = dialog
        dialog.destroyed.connect(lambda: setattr(self, "dialog", None) if self.dialog is dialog else None)
        dialog.open()

    def remove(self, name: str) -> None:
        if not name or not self.confirm("Remove dataset", f"Remove {name} from the lab? It can get no new jobs; if "
                                        "jobs used it, it is archived and its history stays, else its images are "
                                        "deleted from the data folder.", "Remove"):
            return
        operation = self.registry.remove_dataset(name)
        operation.finished.connect(lambda kept: self.told.emit(
            f"Archived dataset {name}: its history ({history_text(kept)}) keeps naming it." if kept else
            f"Removed dataset {name} and its images."))
        operation.failed.connect(lambda message: self.problem.emit("Remove dataset", message))

    # ---- the selected dataset -------------------------------------------------------------------------------
    def _selected(self, name: str) -> None:
        row = next((r for r in self._rows if r.name == name), None)
        self._show(row)
        if row is None:
            return
        operation = self.registry.dataset_preview(row.name, PER_CLASS)
        self._preview = operation
        operation.finished.connect(lambda images: self._show_images(operation, row, images))

    def _show(self, row: DatasetRow | None) -> None:
        self._clear()
        self.remove_button.setEnabled(row is not None)
        if row is None:
            self.title.setText("No dataset yet" if not self._rows else "")
            self.summary.setText("Drop a folder of class sub-folders (or an archive of one) on the window, or click "
                                 "Add dataset…" if not self._rows else "")
            return
        self.title.setText(row.name)
        self.summary.setText(f"{row.summary} · {row.path}")
        for name, count in zip(row.classes, row.counts):
            self.classes_layout.addWidget(ClassRow(name, count, ()))
        self.classes_layout.addStretch(1)

    def _show_images(self, operation: Operation, row: DatasetRow, images: dict) -> None:
        if operation is not self._preview:
            return  # another dataset was selected since
        self._clear()
        for name, count in zip(row.classes, row.counts):
            self.classes_layout.addWidget(ClassRow(name, count, images.get(name, ())))
        self.classes_layout.addStretch(1)

    def _clear(self) -> None:
        while self.classes_layout.count():
            item = self.classes_layout.takeAt(0)
            widget = item.widget()
            if widget is not None:
                widget.setParent(None)  # out of findChildren at once; deleted at the next turn of the loop
                widget.deleteLater()
