"""Register a dataset dropped on the window or picked in a file dialog: a name, a progress bar while its images
are checked and copied (off the GUI thread), Cancel, and every problem listed; unusable images can be left out."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6 import QtWidgets

from ..controllers.operations import Operation
from ..controllers.registry import RegistryController
from ..lab.errors import BadImages
from .operation_dialog import OperationDialog

ARCHIVE_ENDINGS = (".tar.gz", ".tgz", ".zip", ".tar")
STAGES = {"extracting": "Unpacking the archive…", "checking": "Checking images", "copying": "Copying images"}


def suggested_name(source: Path) -> str:
    """A dataset name from a folder or archive name: "Cats & Dogs.tar.gz" -> "Cats-Dogs"."""
    stem = source.name
    for ending in ARCHIVE_ENDINGS:
        if stem.lower().endswith(ending):
            stem = stem[: -len(ending)]
            break
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "dataset"


class DatasetDialog(OperationDialog):
    def __init__(self, registry: RegistryController, source: Path, taken: set[str] = frozenset(),
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Add a dataset", "Register", parent)
        self.registry = registry
        self.source = Path(source)
        self.path = QtWidgets.QLabel(str(self.source))
        self.path.setWordWrap(True)
        name = suggested_name(self.source)
        number = 2
        while name.lower() in {t.lower() for t in taken}:
            name = f"{suggested_name(self.source)}-{number}"
            number += 1
        self.name = QtWidgets.QLineEdit(name)
        self.name.selectAll()
        self.skip_bad = QtWidgets.QCheckBox("leave out files that are not usable images")
        self.skip_bad.setToolTip("as `dataset add --skip-bad`: unreadable or corrupt images are listed and left out "
                                 "instead of refusing the whole dataset")
        self.form.addRow("From", self.path)
        self.form.addRow("Name", self.name)
        self.form.addRow("", self.skip_bad)
        self.bad_files = QtWidgets.QListWidget()
        self.bad_files.setVisible(False)
        self.bad_files.setMaximumHeight(160)
        self.body.insertWidget(2, self.bad_files)
        hint = QtWidgets.QLabel("A folder with one sub-folder per class (optionally train/, val/, test/), or a "
                                ".zip, .tar or .tar.gz of one. The images are checked and copied into the lab; "
                                "the original stays as it is.")
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        self.body.insertWidget(0, hint)
        self.setMinimumWidth(560)

    def begin(self) -> Operation | None:
        name = self.name.text().strip()
        if not name:
            self.show_problem("Give the dataset a name.")
            return None
        self.bad_files.clear()
        self.bad_files.setVisible(False)
        return self.registry.register_dataset(name, self.source, skip_bad=self.skip_bad.isChecked())

    def show_progress(self, done: int, total: int, stage: str) -> None:
        super().show_progress(done, total, STAGES.get(stage, stage))

    def on_failed(self, message: str) -> None:
        error = self.operation.error if self.operation is not None else None
        if isinstance(error, BadImages):
            self.bad_files.addItems([f"{path}: {reason}" for path, reason in error.bad])
            self.bad_files.setVisible(True)
            self.skip_bad.setChecked(True)  # the way forward, ready to click: Register again leaves them out
            message = (f"{len(error.bad)} files are not usable images (listed below); nothing was registered. "
                       "Fix or remove them, or click Register again to leave them out.")
        super().on_failed(message)
