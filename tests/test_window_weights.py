"""Weights… on the Datasets tab: the ImageNet weights the lab has per architecture, a file built here by torch
imported for one (checked in a torch subprocess, never in the window's process), a refused file and a fetch
without network said in the dialog, and a Stop that interrupts the helper keeping nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PySide6.QtCore import Qt
from torchvision.models import get_model
from window_fixtures import open_window  # noqa: F401  (a fixture)

from easeml_gui.lab import weights
from easeml_gui.lab.errors import Cancelled
from easeml_gui.training.weights_registry import hub_checkpoints_dir, pretrained_available
from easeml_gui.views.weights_dialog import WeightsDialog

HELPER_TIMEOUT_MS = 120_000  # the helper imports torch and loads the file: seconds on 2 busy cores


@pytest.fixture(autouse=True)
def torch_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # the helper subprocess inherits it
    return tmp_path / "torch-home"


@pytest.fixture
def squeezenet_file(tmp_path) -> Path:
    """A lab's own squeezenet1_1 ImageNet checkpoint: a fresh state dict with the 1000-class head."""
    torch.manual_seed(0)
    path = tmp_path / "squeezenet_lab.pth"
    torch.save(get_model("squeezenet1_1", weights=None).state_dict(), path)
    return path


def row(dialog: WeightsDialog, arch: str) -> list[str]:
    item = dialog.table.findItems(arch, Qt.MatchFlag.MatchExactly, 0)[0]
    return [item.text(column) for column in range(dialog.table.columnCount())]


def open_weights(window, qtbot) -> WeightsDialog:
    window.tabs.setCurrentWidget(window.datasets)
    qtbot.mouseClick(window.datasets.weights_button, Qt.MouseButton.LeftButton)
    dialog = window.datasets.dialog
    assert isinstance(dialog, WeightsDialog)
    qtbot.waitUntil(lambda: dialog.table.topLevelItemCount() == len(weights.ARCHITECTURES))
    return dialog


def test_list_and_import_weights_in_the_window(open_window, qtbot, tmp_path, squeezenet_file):
    window = open_window(tmp_path / "lab.sqlite")
    dialog = open_weights(window, qtbot)
    assert row(dialog, "squeezenet1_1")[1] == "none: Fetch, or Import file…"
    assert not dialog.fetch_button.isEnabled() and not dialog.import_button.isEnabled()
    dialog.select(["squeezenet1_1"])
    assert dialog.fetch_button.isEnabled() and dialog.import_button.isEnabled()
    dialog.import_file(squeezenet_file, "squeezenet1_1")
    assert dialog.progress.isVisible() and not dialog.import_button.isEnabled()  # busy, off the GUI thread
    qtbot.waitUntil(lambda: dialog.said.text().startswith("Imported"), timeout=HELPER_TIMEOUT_MS)
    [entry] = pretrained_available().values()
    sha = entry.sha256[:12]
    assert dialog.said.text() == f"Imported squeezenet_lab.pth as squeezenet1_1's weights (sha256 {sha})."
    qtbot.waitUntil(lambda: row(dialog, "squeezenet1_1")[2] == entry.sha256[:12])
    assert row(dialog, "squeezenet1_1")[1] == entry.file.name and entry.file.parent == hub_checkpoints_dir() / "easeml"
    assert row(dialog, "squeezenet1_1")[4] == f"imported from {squeezenet_file}"
    assert not dialog.problem.isVisible()


def test_a_refused_file_and_a_fetch_without_network_are_said_in_the_dialog(open_window, qtbot, tmp_path,
                                                                            squeezenet_file, monkeypatch):
    window = open_window(tmp_path / "lab.sqlite")
    dialog = open_weights(window, qtbot)
    dialog.import_file(squeezenet_file, "resnet18")  # another architecture's state dict
    qtbot.waitUntil(lambda: dialog.problem.isVisible(), timeout=HELPER_TIMEOUT_MS)
    assert "does not load into resnet18" in dialog.problem.text() and pretrained_available() == {}
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there: the download fails fast
    qtbot.waitUntil(lambda: dialog.fetch_button.isEnabled() or not dialog.selected())
    dialog.fetch(["squeezenet1_1", "resnet18"])
    qtbot.waitUntil(lambda: not dialog.progress.isVisible(), timeout=HELPER_TIMEOUT_MS)
    text = dialog.problem.text()
    assert "no network?" in text and "weights import squeezenet1_1-" in text
    assert text.endswith("not fetched either: resnet18")  # the dead network is not waited on twice
    assert pretrained_available() == {}


def test_stop_interrupts_the_helper_and_keeps_nothing():
    with pytest.raises(Cancelled, match="nothing of the interrupted download was kept"):
        weights.fetch(["alexnet"], cancel=lambda: True)
    assert pretrained_available() == {} and not list(hub_checkpoints_dir().glob("*.partial"))


def test_the_job_dialog_gets_weights_without_a_terminal(open_window, qtbot, tmp_path, squeezenet_file):
    """Weights… in the job dialog: the weights imported there make the fine-tuned models join the list."""
    from easeml_gui.lab import datasets, tenants
    from easeml_gui.lab.stores import open_writer
    from easeml_gui.training.digits import export_digits
    from easeml_gui.views.job_dialog import JobDialog

    db = tmp_path / "lab.sqlite"
    with open_writer(db) as store:
        tenants.add(store, "alice")
        datasets.register(store, "digits", export_digits(tmp_path / "digits", per_class=10), tmp_path)
    window = open_window(db)
    qtbot.waitUntil(lambda: window.lab.tenants.source_model.rowCount() == 1)
    window.add_job("alice")
    dialog = window.dialog
    assert isinstance(dialog, JobDialog)
    dialog.weights.setCurrentIndex(dialog.weights.findData("both"))
    qtbot.waitUntil(lambda: dialog.models.topLevelItemCount() > 0, timeout=30000)
    assert "squeezenet1_1@imagenet" not in dialog.offered()
    weights_dialog = dialog.open_weights()
    qtbot.waitUntil(lambda: weights_dialog.table.topLevelItemCount() == len(weights.ARCHITECTURES))
    weights_dialog.select(["squeezenet1_1"])
    weights_dialog.import_file(squeezenet_file, "squeezenet1_1")
    qtbot.waitUntil(lambda: weights_dialog.said.text().startswith("Imported"), timeout=HELPER_TIMEOUT_MS)
    weights_dialog.close()
    qtbot.waitUntil(lambda: "squeezenet1_1@imagenet" in dialog.offered(), timeout=30000)
