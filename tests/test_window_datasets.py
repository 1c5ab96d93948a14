"""Datasets from the window: a folder or a zip dropped on it is registered off the GUI thread, with progress, and
shown with its classes, counts and sample images; a bad drop says why and registers nothing; Cancel leaves
nothing behind."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from window_fixtures import drop, finish_dialog, open_window  # noqa: F401  (open_window is a fixture)

from easeml_gui.lab.stores import open_reader
from easeml_gui.training.digits import export_digits
from easeml_gui.views.dataset_dialog import DatasetDialog, suggested_name


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    return export_digits(tmp_path_factory.mktemp("source") / "digits", (0, 1, 2), per_class=20)


def zipped(folder: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w") as archive:
        for path in sorted(folder.rglob("*.png")):
            archive.write(path, Path(folder.name) / path.relative_to(folder))
    return out


def registered(db: Path) -> list[str]:
    if not db.exists():
        return []
    with open_reader(db) as store:
        return [d.name for d in store.datasets()]


def test_a_dropped_folder_is_registered_and_shown_with_its_images(open_window, qtbot, tmp_path, digits):
    db = tmp_path / "lab.sqlite"
    window = open_window(db)
    qtbot.waitUntil(lambda: window.lab.loaded)
    assert drop(window, digits)
    dialog = window.dialog
    assert isinstance(dialog, DatasetDialog) and dialog.name.text() == "digits"
    seen = []
    dialog.progress.valueChanged.connect(seen.append)
    finish_dialog(qtbot, dialog)
    assert registered(db) == ["digits"]
    assert seen, "the progress bar moved"
    qtbot.waitUntil(lambda: window.datasets.shown() == "digits", timeout=5000)
    assert window.tabs.currentWidget() is window.datasets
    assert "Registered digits: 3 classes, 60 images" in window.notice.text()
    rows = window.datasets.class_rows()
    assert len(rows) == 3
    qtbot.waitUntil(lambda: all(r.thumbnails and r.thumbnails[0].pixmap() is not None
                                and not r.thumbnails[0].pixmap().isNull() for r in window.datasets.class_rows()),
                    timeout=5000)
    assert "20 images" in window.datasets.class_rows()[0].findChildren(QLabel)[0].text()
    # The welcome now counts it and suggests the next step.
    assert "1 dataset registered" in window.lab.empty.text()


def test_a_dropped_zip_is_registered(open_window, qtbot, tmp_path, digits):
    db = tmp_path / "lab.sqlite"
    archive = zipped(digits, tmp_path / "My digits.zip")
    window = open_window(db)
    assert drop(window, archive)
    dialog = window.dialog
    assert dialog.name.text() == "My-digits"
    finish_dialog(qtbot, dialog)
    assert registered(db) == ["My-digits"]
    assert (tmp_path / "datasets" / "My-digits" / "manifest.json").is_file()  # beside the store, as the CLI does


def test_a_bad_drop_says_why_and_registers_nothing(open_window, qtbot, tmp_path):
    db = tmp_path / "lab.sqlite"
    one_class = tmp_path / "bad" / "cats"
    one_class.mkdir(parents=True)
    export_digits(tmp_path / "tmp", (1,), per_class=12)
    for path in (tmp_path / "tmp" / "1").iterdir():
        path.rename(one_class / path.name)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a dataset")
    window = open_window(db)
    for source, reason in ((one_class.parent, "a single class"), (notes, "unsupported format")):
        assert drop(window, source)
        dialog = window.dialog
        qtbot.mouseClick(dialog.go, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.problem.isVisible(), timeout=30000)
        assert reason in dialog.problem.text()
        assert dialog.isVisible() and dialog.go.isEnabled()  # the admin can fix the name or the files and retry
        dialog.reject()
    assert registered(db) == []
    assert not (tmp_path / "datasets").exists() or not any((tmp_path / "datasets").iterdir())


def test_unusable_images_are_listed_and_can_be_left_out(open_window, qtbot, tmp_path, digits):
    db = tmp_path / "lab.sqlite"
    source = export_digits(tmp_path / "mixed", (0, 1), per_class=12)
    (source / "0" / "broken.png").write_bytes(b"not a png")
    (source / "1" / "empty.jpg").write_bytes(b"")
    window = open_window(db)
    drop(window, source)
    dialog = window.dialog
    qtbot.mouseClick(dialog.go, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.bad_files.isVisible(), timeout=30000)
    listed = [dialog.bad_files.item(i).text() for i in range(dialog.bad_files.count())]
    assert [item.split(":")[0] for item in listed] == ["0/broken.png", "1/empty.jpg"]
    assert "2 files are not usable images" in dialog.problem.text() and registered(db) == []
    assert dialog.skip_bad.isChecked()  # the way forward is one click
    finish_dialog(qtbot, dialog)
    assert registered(db) == ["mixed"]


def test_cancel_stops_a_registration_with_nothing_left(open_window, qtbot, tmp_path):
    db = tmp_path / "lab.sqlite"
    source = export_digits(tmp_path / "all", per_class=60)  # 600 images: long enough to stop half-way
    window = open_window(db)
    drop(window, source)
    dialog = window.dialog
    dialog.start()
    with qtbot.waitSignal(dialog.operation.cancelled, timeout=30000):
        dialog.reject()  # Cancel while it runs stops the work; the dialog stays to say so
    assert "Cancelled" in dialog.problem.text() and dialog.isVisible()
    assert registered(db) == []
    assert not (tmp_path / "datasets" / "all").exists()
    assert [p.name for p in (tmp_path / "datasets").iterdir()] == []  # no staging folder either


def test_a_dataset_name_from_what_was_dropped():
    assert suggested_name(Path("/x/Cats & Dogs.tar.gz")) == "Cats-Dogs"
    assert suggested_name(Path("/x/flowers.tgz")) == "flowers"
    assert suggested_name(Path("/x/.zip")) == "dataset"
