"""Removing a dataset, from the Datasets tab (asks first) and as `easeml-gui dataset remove NAME`: refused while an
active job trains on it; archived, its images kept, when jobs used it; else deleted with the lab's copy of its
images."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import run_cli  # noqa: F401 (a fixture)
from PySide6.QtCore import Qt
from window_fixtures import open_window  # noqa: F401  (a fixture)

from easeml_gui.lab import datasets, jobs, tenants
from easeml_gui.lab.stores import open_reader, open_writer
from easeml_gui.store import JobState
from easeml_gui.training.digits import export_digits


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """fresh: no job; busy: alice's active job 1; old: bob's job 2, done."""
    path = tmp_path / "lab.sqlite"
    source = export_digits(tmp_path / "src", (0, 1), per_class=10)
    with open_writer(path) as store:
        for name in ("fresh", "busy", "old"):
            datasets.register(store, name, source, tmp_path)
        tenants.add(store, "alice")
        tenants.add(store, "bob")
        jobs.add(store, "alice", "busy", models=["svc"])
        store.set_job_state(jobs.add(store, "bob", "old", models=["svc"]).job.id, JobState.DONE)
    return path


def listed(db: Path, include_archived: bool = False) -> list[str]:
    with open_reader(db) as store:
        return [d.name for d in store.datasets(include_archived=include_archived)]


def test_remove_from_the_datasets_tab(open_window, qtbot, db, tmp_path):
    window = open_window(db)
    view = window.datasets
    window.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.names() == ["busy", "fresh", "old"])
    asked = []
    view.confirm = lambda title, question, yes: asked.append(question) or False  # Cancel: nothing happens
    view.select("fresh")
    qtbot.mouseClick(view.remove_button, Qt.MouseButton.LeftButton)
    assert asked and asked[0].startswith("Remove fresh from the lab?") and listed(db) == ["busy", "fresh", "old"]

    view.confirm = lambda title, question, yes: yes == "Remove"
    qtbot.mouseClick(view.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.names() == ["busy", "old"])
    assert window.notice.text() == "Removed dataset fresh and its images."
    assert listed(db, include_archived=True) == ["busy", "old"] and not (tmp_path / "datasets" / "fresh").exists()

    view.select("busy")
    qtbot.mouseClick(view.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(window.last_error))
    assert "used by active job 1 (alice)" in window.last_error and "job cancel" in window.last_error
    assert listed(db) == ["busy", "old"]

    view.select("old")
    qtbot.mouseClick(view.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.names() == ["busy"])
    assert window.notice.text() == "Archived dataset old: its history (1 jobs) keeps naming it."
    assert listed(db, include_archived=True) == ["busy", "old"] and (tmp_path / "datasets" / "old").is_dir()


def test_dataset_remove_from_the_command_line(run_cli, db, tmp_path):
    out = run_cli("--db", db, "--data-dir", tmp_path, "dataset", "remove", "busy")
    assert out.returncode == 1 and "used by active job 1 (alice)" in out.stderr
    out = run_cli("--db", db, "--data-dir", tmp_path, "dataset", "remove", "old")
    assert out.returncode == 0 and out.stdout.startswith("archived dataset old") and "(1 jobs)" in out.stdout
    out = run_cli("--db", db, "--data-dir", tmp_path, "dataset", "remove", "fresh")
    assert (out.returncode, out.stdout) == (0, "removed dataset fresh and the lab's copy of its images\n")
    assert not (tmp_path / "datasets" / "fresh").exists() and (tmp_path / "datasets" / "old").is_dir()
    assert listed(db) == ["busy"]
    out = run_cli("--db", db, "--data-dir", tmp_path, "dataset", "remove", "old")
    assert out.returncode == 1 and "archived" in out.stderr  # gone from the lab already: says so
