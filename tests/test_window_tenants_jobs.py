"""Tenants and jobs from the window: add, change, pause and resume, archive (confirmed) a tenant; give it a job
over the models that fit its dataset, narrowed down; every write goes through a controller to the real store."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from window_fixtures import finish_dialog, open_window  # noqa: F401  (open_window is a fixture)

from easeml_gui.engine.types import Arm, Decision, TenantScore
from easeml_gui.lab import datasets, jobs, tenants
from easeml_gui.lab.stores import open_reader, open_writer
from easeml_gui.training.digits import export_digits
from easeml_gui.training.arms import arm_spec
from easeml_gui.views.decision_panel import DecisionPanel
from easeml_gui.views.job_dialog import FIRST_BUDGET_SECONDS, JobDialog, seconds_text
from easeml_gui.views.lab_snapshot import TenantRow
from easeml_gui.views.tenants_table import TenantsTable
from easeml_gui.views.theme import ColourMap
from easeml_gui.views.tenant_dialog import TenantDialog


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store with the digits 0-2 registered and no tenant yet."""
    path = tmp_path / "lab.sqlite"
    with open_writer(path) as store:
        datasets.register(store, "digits", export_digits(tmp_path / "src", (0, 1, 2), per_class=20), tmp_path)
    return path


def cell(window, row: int, column: int) -> str:
    model = window.lab.tenants.source_model
    return model.data(model.index(row, column))


def test_add_change_pause_and_archive_a_tenant(open_window, qtbot, db):
    window = open_window(db)
    qtbot.waitUntil(lambda: window.lab.loaded)
    assert window.lab.currentWidget() is window.lab.empty
    window.lab.empty.tenant.click()  # the welcome's "Add a tenant…"
    dialog = window.dialog
    assert isinstance(dialog, TenantDialog)
    qtbot.mouseClick(dialog.go, Qt.MouseButton.LeftButton)
    assert "Give the tenant a name" in dialog.problem.text()  # caught before anything is written
    dialog.name.setText("alice")
    dialog.weight.setValue(2.0)
    dialog.limited.setChecked(True)
    dialog.hours.setValue(3.0)
    finish_dialog(qtbot, dialog)
    qtbot.waitUntil(lambda: window.lab.tenants.source_model.rowCount() == 1, timeout=5000)
    assert window.lab.currentWidget() is window.lab.dashboard
    assert [cell(window, 0, c) for c in range(5)] == ["alice", "2", "—", "0", "0 s / 3 h"]

    window.add_tenant()  # a name that is taken: the store's refusal, shown in the dialog
    again = window.dialog
    again.name.setText("alice")
    qtbot.mouseClick(again.go, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: again.problem.isVisible(), timeout=10000)
    assert "alice" in again.problem.text() and again.isVisible()
    again.reject()

    window.lab.tenants.selectRow(0)
    actions = window.lab.tenant_actions
    assert actions.change.isEnabled() and not actions.export.isEnabled()  # no model to export yet
    actions.change.click()
    change = window.dialog
    assert isinstance(change.name, QLabel) and change.hours.value() == 3.0  # shown, not a field
    change.weight.setValue(5.0)
    change.limited.setChecked(False)
    finish_dialog(qtbot, change)
    qtbot.waitUntil(lambda: cell(window, 0, 1) == "5", timeout=5000)
    assert cell(window, 0, 4) == "0 s"

    actions.pause.click()
    qtbot.waitUntil(lambda: cell(window, 0, 2) == "paused", timeout=5000)
    assert actions.pause.text() == "Resume"
    actions.pause.click()
    qtbot.waitUntil(lambda: cell(window, 0, 2) == "—", timeout=5000)

    window.confirm = lambda title, question, yes: False  # "Cancel": nothing happens
    actions.archive.click()
    window.confirm = lambda title, question, yes: yes == "Archive" and "history stays" in question
    actions.archive.click()
    qtbot.waitUntil(lambda: window.lab.currentWidget() is window.lab.empty, timeout=5000)
    with open_reader(db) as store:
        assert store.tenants() == [] and store.tenants(include_archived=True)[0].name == "alice"


def test_a_job_over_the_models_that_fit_narrowed_down(open_window, qtbot, db):
    with open_writer(db) as store:
        tenants.add(store, "alice")
    window = open_window(db)
    qtbot.waitUntil(lambda: window.lab.tenants.source_model.rowCount() == 1)
    window.lab.tenants.selectRow(0)
    window.lab.tenant_actions.job.click()
    dialog = window.dialog
    assert isinstance(dialog, JobDialog) and dialog.tenant.currentText() == "alice"
    qtbot.waitUntil(lambda: dialog.models.topLevelItemCount() > 0, timeout=30000)
    offered = [dialog.models.topLevelItem(i).text(0) for i in range(dialog.models.topLevelItemCount())]
    assert {"svc", "logistic_regression", "resnet18"} <= set(offered)
    assert all(dialog.models.topLevelItem(i).text(2).startswith("~") and
               dialog.models.topLevelItem(i).text(2).endswith(" on cpu") and
               dialog.models.topLevelItem(i).text(3).endswith("FLOP") for i in range(len(offered)))
    dialog.choose([])
    qtbot.mouseClick(dialog.go, Qt.MouseButton.LeftButton)
    assert "Tick at least one model" in dialog.problem.text()
    dialog.choose(["svc", "resnet18"])
    dialog.epochs.setValue(3)
    dialog.augment.setCurrentIndex(1)  # random crop and horizontal flip
    finish_dialog(qtbot, dialog)
    assert "Job 1 added: alice on digits, 2 models" in window.notice.text()
    with open_reader(db) as store:
        [job] = store.jobs()
    assert (job.tenant, job.dataset, job.epochs) == ("alice", "digits", 3)
    assert [arm.name for arm in job.arms] == [name for name in offered if name in ("svc", "resnet18")]
    assert job.config == {"augment": ["crop", "flip"]}


def test_a_bigger_image_size_is_matched_again(open_window, qtbot, db):
    with open_writer(db) as store:
        tenants.add(store, "alice")
    window = open_window(db)
    qtbot.waitUntil(lambda: window.lab.tenants.source_model.rowCount() == 1)
    window.add_job("alice")
    dialog = window.dialog
    qtbot.waitUntil(lambda: dialog.models.topLevelItemCount() > 0, timeout=30000)
    small = dialog.models.topLevelItemCount()
    dialog.image_size.setValue(224)
    dialog.image_size.editingFinished.emit()
    qtbot.waitUntil(lambda: dialog.models.topLevelItemCount() > small, timeout=30000)


def ticked(dialog) -> list[str]:
    return dialog.chosen()


def test_a_new_job_ticks_what_fits_ten_minutes_and_shows_its_total_live(open_window, qtbot, db):
    with open_writer(db) as store:
        tenants.add(store, "alice")
    window = open_window(db)
    qtbot.waitUntil(lambda: window.lab.tenants.source_model.rowCount() == 1)
    window.add_job("alice")
    dialog = window.dialog
    qtbot.waitUntil(lambda: dialog.models.topLevelItemCount() > 0, timeout=30000)
    choices = dialog.fitting.arms  # quickest first
    running = [sum(dialog.predicted(c) for c in choices[:n + 1]) for n in range(len(choices))]
    expected = [c.name for c, total in zip(choices, running) if total <= FIRST_BUDGET_SECONDS] or [choices[0].name]
    assert ticked(dialog) == expected and "ticked at first" in dialog.models.toolTip()
    assert dialog.total.text().startswith(f"{len(expected)} of {len(choices)} models ticked: ~")

    network = next(c for c in choices if arm_spec(c.name).network)
    classical = next(c for c in choices if not arm_spec(c.name).network)
    row = [c.name for c in choices].index(network.name)
    dialog.epochs.setValue(dialog.fitting.recipe_epochs * 60)  # the time column follows the Epochs field
    assert dialog.predicted(network) == pytest.approx(network.seconds * 60)
    assert dialog.predicted(classical) == classical.seconds  # classical learners have no epochs
    assert dialog.models.topLevelItem(row).text(2).startswith(seconds_text(network.seconds * 60))
    dialog.untick_all.click()
    assert ticked(dialog) == [] and dialog.total.text().startswith(f"0 of {len(choices)} models ticked: ~0 s")
    dialog.tick_all.click()
    total = sum(dialog.predicted(c) for c in choices)
    assert len(ticked(dialog)) == len(choices) and seconds_text(total) in dialog.total.text()

    qtbot.waitExposed(dialog)  # at the dialog's own size, the time and work columns show in full
    header = dialog.models.header()
    assert header.sectionViewportPosition(3) + header.sectionSize(3) <= dialog.models.viewport().width()
    assert header.sectionSize(2) >= dialog.models.sizeHintForColumn(2)
    dialog.grab().save(str(db.parent / "job_dialog.png"))


def test_the_dataset_is_the_tenants_own(open_window, qtbot, db, tmp_path):
    with open_writer(db) as store:
        datasets.register(store, "bob", export_digits(tmp_path / "bob-src", (3, 4), per_class=10), tmp_path)
        for name in ("alice", "digits-team", "carol"):
            tenants.add(store, name)
        jobs.add(store, "alice", "digits", models=["svc"])
    window = open_window(db)
    qtbot.waitUntil(lambda: window.lab.tenants.source_model.rowCount() == 3 and len(window.datasets.names()) == 2)
    window.add_job("alice")
    dialog = window.dialog
    assert dialog.dataset.itemText(0) == "bob"  # the first, which it used to default to
    qtbot.waitUntil(lambda: dialog.dataset.currentText() == "digits")  # its latest job's
    dialog.tenant.setCurrentText("carol")
    qtbot.waitUntil(lambda: dialog.dataset.currentText() == "bob")  # no job, none named like it: the first
    dialog.tenant.setCurrentText("digits-team")
    qtbot.waitUntil(lambda: dialog.dataset.currentText() == "digits")  # named like the tenant
    dialog.dataset.setCurrentText("bob")
    dialog.dataset.activated.emit(0)  # the admin's pick stands from now on
    dialog.tenant.setCurrentText("alice")
    qtbot.wait(300)
    assert dialog.dataset.currentText() == "bob"


def test_why_names_the_tenants_not_served_and_shows_each_tenants_best(qtbot):
    scores = (TenantScore("alice", "resnet18", 0.9, 0.05, 1.2, 30.0, 1.0, 0.0),  # a new job: no result yet
              TenantScore("bob", "", math.nan, math.nan, -math.inf, math.nan, 1.0, 0.7),
              TenantScore("carol", "", math.nan, math.nan, -math.inf, math.nan, 1.0, 0.0))
    decision = Decision(10.0, "cpu", "alice", Arm("resnet18", 2), "default", scores)
    panel = DecisionPanel(ColourMap())
    qtbot.addWidget(panel)
    panel.set_decisions([decision], 0.0, {"alice": 0.985, "bob": None, "carol": None})
    text = panel.reason.text()
    assert "against a best so far of 0.985" in text  # the tenant's, not the new job's 0.000
    assert "bob and carol were not served" in text
    best = {panel.table.item(r, 0).text(): panel.table.item(r, 7).text() for r in range(3)}
    assert best == {"alice": "0.985", "bob": "0.700", "carol": "—"}  # carol has no result anywhere yet


def test_tenant_names_show_in_full_while_the_table_has_room(qtbot):
    table = TenantsTable(ColourMap())
    qtbot.addWidget(table)
    table.resize(900, 300)  # room for every column (the app's font decides how much they need)
    table.show()
    qtbot.waitExposed(table)
    table.set_rows([TenantRow("three-or-eight-classifiers", 1.0, False, 2, 0.9, "svc")])
    name_width = table.sizeHintForColumn(0)  # the name in full, in the table's own (bold) font
    assert table.columnWidth(0) == name_width  # the number columns are as wide as they need, no more
    qtbot.waitUntil(lambda: not table.horizontalScrollBar().isVisible())
    table.resize(420, 300)  # no room for every column: the name gives way, down to its minimum
    qtbot.waitUntil(lambda: table.columnWidth(0) < name_width)


def test_both_without_imagenet_weights_keeps_the_scratch_and_classical_models(open_window, qtbot, db):
    with open_writer(db) as store:
        tenants.add(store, "alice")
    window = open_window(db)
    qtbot.waitUntil(lambda: window.lab.tenants.source_model.rowCount() == 1)
    window.add_job("alice")
    dialog = window.dialog
    qtbot.waitUntil(lambda: dialog.models.topLevelItemCount() > 0, timeout=30000)
    scratch = dialog.offered()
    dialog.weights.setCurrentIndex(dialog.weights.findData("both"))
    qtbot.waitUntil(lambda: dialog.fitting is not None, timeout=30000)
    assert dialog.offered() == scratch and not dialog.problem.isVisible()
    assert "no ImageNet weights" in dialog.total.text()
