"""The History tab: every finished task, as `easeml-gui log` tells it, sortable and filtered, and for the one
selected its epochs, last progress line, error and the end of its worker's log, kept after the task ended."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from PySide6 import QtCore
from cli_runner import run_cli  # noqa: F401  (a fixture)
from window_fixtures import open_window  # noqa: F401  (a fixture)

from easeml_gui.engine.types import Arm, Decision, Observation, Task, TaskLocation, TaskResult, TaskState
from easeml_gui.lab import tenants
from easeml_gui.lab.history import LOG_TAIL_BYTES
from easeml_gui.lab.stores import open_writer
from easeml_gui.store import EpochReport


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """alice: mlp done after 3 epochs (its worker log in its folder), svc failed; bob: logreg still running."""
    path = tmp_path / "lab.sqlite"
    folder = tmp_path / "tasks" / "t1"
    folder.mkdir(parents=True)
    (folder / "worker.log").write_text("x" * (3 * LOG_TAIL_BYTES) + "\nloading\ntraining mlp\nsaved best.pt\n")
    now = time.time()
    with open_writer(path) as store:
        tenants.add(store, "alice")
        tenants.add(store, "bob")
        for number, (tenant, arm) in enumerate((("alice", Arm("mlp", 0)), ("alice", Arm("svc", 1)),
                                                ("bob", Arm("logreg", 2))), start=1):
            store.record_decision(Decision(now - 100 + number, "cpu", tenant, arm, "default", ()), f"t{number}")
        mlp = Task("t1", "alice", Arm("mlp", 0), "cpu")
        store.task_state(mlp, TaskState.RUNNING)
        store.task_location("t1", TaskLocation(str(folder)))
        for epoch, accuracy in ((1, 0.5), (2, 0.75), (3, 0.7)):
            store.task_epoch("t1", EpochReport(epoch, 3, accuracy, 1.0 / epoch, 900.0),
                             f"epoch {epoch}/3  loss {1.0 / epoch:.3f}  val {accuracy:.4f}  900 img/s")
        store.record_result(TaskResult("t1", "alice", Arm("mlp", 0), "cpu", TaskState.DONE, 0.75, 12.0,
                                       details={"test_accuracy": 0.72}),
                            Observation("alice", Arm("mlp", 0), 0.75, 12.0, now - 50))
        svc = Task("t2", "alice", Arm("svc", 1), "cpu")
        store.task_state(svc, TaskState.RUNNING)
        store.record_result(TaskResult("t2", "alice", Arm("svc", 1), "cpu", TaskState.FAILED, cost=2.0,
                                       error="MemoryError: 186 GiB asked for\nat line 3"), None)
        store.task_state(Task("t3", "bob", Arm("logreg", 2), "cpu"), TaskState.RUNNING)
    return path


def test_history_lists_what_log_tells_and_shows_a_finished_tasks_curve_and_log(open_window, qtbot, db, run_cli):
    window = open_window(db)
    history = window.history
    qtbot.waitUntil(lambda: history.model.rowCount() == 2, timeout=10000)
    logged = [entry for entry in json.loads(run_cli("--db", db, "log", "--json").stdout)
              if entry["state"] in ("done", "failed", "cancelled")]
    assert [(r.task_id, r.tenant, r.model, r.state, r.accuracy, r.test_accuracy, r.seconds)
            for r in history.model.rows()] == [
        (e["task_id"], e["tenant"], e["model"], e["state"], e["accuracy"], e["test_accuracy"], e["seconds"])
        for e in logged]
    assert "running" not in {r.state for r in history.model.rows()}  # t3 runs: it is not history yet

    history.filter.setText("memoryerror")  # the filter matches the reason too
    assert history.proxy.rowCount() == 1 and history.proxy.index(0, 0).data() == "t2"
    assert "1 of 2 tasks" in history.count.text()
    history.filter.clear()

    history.select("t1")
    qtbot.waitUntil(lambda: history.detail is not None and history.detail.task_id == "t1", timeout=10000)
    assert history.detail.curve == ((1, 0.5), (2, 0.75), (3, 0.7))  # kept after the task ended
    text = history.log.toPlainText()
    assert "epoch 3/3" in text and text.rstrip().endswith("saved best.pt")
    assert len(history.detail.log) <= LOG_TAIL_BYTES + 1  # the end of the log, never the whole file

    history.select("t2")
    qtbot.waitUntil(lambda: history.detail.task_id == "t2", timeout=10000)
    assert "MemoryError: 186 GiB" in history.log.toPlainText()


def test_history_sorts_by_number_not_by_text(open_window, qtbot, db):
    window = open_window(db)
    history = window.history
    qtbot.waitUntil(lambda: history.model.rowCount() == 2, timeout=10000)
    history.table.sortByColumn(8, QtCore.Qt.SortOrder.DescendingOrder)  # seconds: 12.0 before 2.0
    assert [history.proxy.index(row, 0).data() for row in range(2)] == ["t1", "t2"]
