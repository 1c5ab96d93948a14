"""What the Lab tab shows live, from a real store: a progress bar per running task (epoch n of m, validation
accuracy so far) and its validation accuracy epoch by epoch, the device timeline (a bar per task, by device), and
a selected tenant's models as the engine last believed them (mean ± sigma per model, the observed ones, the next
pick); each plot saves PNG and CSV."""

from __future__ import annotations

import json
import csv
import time
from pathlib import Path

import pytest
from window_fixtures import open_window  # noqa: F401  (a fixture)

from easeml_gui.commands.run import Progress
from easeml_gui.engine.types import Arm, Decision, Observation, Task, TaskResult, TaskState, TenantScore
from easeml_gui.lab import tenants
from easeml_gui.lab.stores import open_writer
from easeml_gui.store import EpochReport
from easeml_gui.training import wire
from easeml_gui.views.running_tasks import FOR
from easeml_gui.views.task_progress import EpochProgress, parse_progress

EPOCH_LINE = "epoch 2/5  loss 0.412  val 0.8125  1,234 img/s"  # as `easeml-gui run` records it
FOLD_EPOCH_LINE = "fold 2/4  epoch 1/2  loss 0.300  1,234 img/s"  # a further fold's epoch: not validated


def score(tenant: str, arm: str, mean: float, sigma: float) -> TenantScore:
    return TenantScore(tenant, arm, mean, sigma, acquisition=1.0, predicted_cost=5.0, weight=1.0, best=0.0)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """alice: svc trained (0.9) after a decision that believed 0.80 ± 0.05, logreg weighed next (0.85 ± 0.10);
    bob: mlp running on cpu:1, two epochs of five done."""
    path = tmp_path / "lab.sqlite"
    now = time.time()
    with open_writer(path) as store:
        tenants.add(store, "alice")
        tenants.add(store, "bob")
        store.record_decision(Decision(now - 60, "cpu:0", "alice", Arm("svc", 0), "ease-ei-fair",
                                       (score("alice", "svc", 0.80, 0.05), score("bob", "mlp", 0.6, 0.2))), "t1")
        svc = Task("t1", "alice", Arm("svc", 0), "cpu:0")
        store.task_state(svc, TaskState.RUNNING)
        store.record_result(TaskResult("t1", "alice", Arm("svc", 0), "cpu:0", TaskState.DONE, 0.9, 3.0),
                            Observation("alice", Arm("svc", 0), 0.9, 3.0, now - 50))
        store.record_decision(Decision(now - 40, "cpu:1", "bob", Arm("mlp", 1), "ease-ei-fair",
                                       (score("alice", "logreg", 0.85, 0.10), score("bob", "mlp", 0.6, 0.2))), "t2")
        store.task_state(Task("t2", "bob", Arm("mlp", 1), "cpu:1"), TaskState.RUNNING)
        store.task_epoch("t2", EpochReport(1, 5, 0.7, 0.9, 1200.0), "epoch 1/5  loss 0.900  val 0.7000  1,200 img/s")
        store.task_epoch("t2", EpochReport(2, 5, 0.8125, 0.412, 1234.0), EPOCH_LINE)
    return path


def open_tab(lab, title: str) -> None:
    """Click the tab of the Lab view's plots called `title`."""
    lab.views.setCurrentIndex([lab.views.tabText(i) for i in range(lab.views.count())].index(title))


def rows_of(path: Path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


class OneTaskExecutor:
    """Just what Progress.tick reads of an executor: the running tasks and their progress events."""

    def __init__(self, task: Task, events: list[dict]) -> None:
        self.task, self._events = task, events

    def running(self) -> list[Task]:
        return [self.task]

    def events(self, task_id: str, offset: int) -> tuple[list[wire.Event], int]:
        """The events after `offset`, parsed as an executor reads progress.jsonl (typed records)."""
        lines = "".join(json.dumps(event) + "\n" for event in self._events[offset:]).encode()
        return wire.parse_events(lines)[0], len(self._events)


@pytest.mark.parametrize("loss", [0.412, None])  # None: a classical fit reports no loss
def test_what_easeml_gui_run_records_of_each_epoch_reads_as_progress_and_a_curve(db, loss):
    task = Task("t2", "bob", Arm("mlp", 1), "cpu:1")
    events = [{"event": "start"}] + [
        {"event": "epoch", "epoch": n, "epochs": 5, "loss": loss, "val_accuracy": accuracy, "images_per_second": 1234.0,
         "seconds": 2.0 * n} for n, accuracy in ((3, 0.85), (4, 0.875))]
    with open_writer(db) as store:
        progress = Progress(lambda: "", OneTaskExecutor(task, events), store.task_epoch, store.task_line)
        progress.tick()
        progress.tick()  # nothing new: nothing recorded twice
        assert parse_progress(store.task("t2").log_tail) == EpochProgress(4, 5, 0.875)
        [curve] = store.epoch_curves(["t2", "t1"]).values()  # t1 reported no epoch
        assert [(e.epoch, e.val_accuracy, e.loss) for e in curve] == [
            (1, 0.7, 0.9), (2, 0.8125, 0.412), (3, 0.85, loss), (4, 0.875, loss)]


def test_a_cross_validating_tasks_folds_are_its_latest_line_but_not_its_curve(db):
    """The registered split's epochs (fold 1) draw the curve; the further folds' epochs and ends only say where the
    task is, so Running now moves on while they train."""
    task = Task("t2", "bob", Arm("mlp", 1), "cpu:1")
    events = [{"event": "epoch", "epoch": 3, "epochs": 5, "loss": 0.2, "val_accuracy": 0.85, "images_per_second": 9.0,
               "seconds": 6.0, "fold": 1, "folds": 4},
              {"event": "fold_epoch", "fold": 2, "folds": 4, "epoch": 1, "epochs": 2, "loss": 0.3,
               "images_per_second": 1234.0, "seconds": 1.0},
              {"event": "fold", "fold": 2, "folds": 4, "val_accuracy": 0.95}]
    seen = []
    with open_writer(db) as store:
        executor = OneTaskExecutor(task, [])
        progress = Progress(lambda: "", executor, store.task_epoch, store.task_line)
        for event in events:  # one per tick, as a live run reads them
            executor._events.append(event)
            progress.tick()
            seen.append(parse_progress(store.task("t2").log_tail))
        [curve] = store.epoch_curves(["t2"]).values()
    assert seen == [EpochProgress(3, 5, 0.85, fold=1, folds=4), EpochProgress(1, 2, None, fold=2, folds=4),
                    EpochProgress(0, 0, 0.95, fold=2, folds=4)]
    assert [p.text for p in seen] == ["fold 1 of 4, epoch 3 of 5 · val 0.850", "fold 2 of 4, epoch 1 of 2",
                                      "fold 2 of 4 · val 0.950"]
    assert [p.steps for p in seen] == [(3, 20), (3, 8), (2, 4)]  # the bar counts every fold as long as this one
    assert [e.epoch for e in curve] == [1, 2, 3]


def test_other_lines_have_no_progress():
    assert parse_progress(EPOCH_LINE) == EpochProgress(2, 5, 0.8125)
    assert parse_progress("starting") is None and parse_progress(None) is None
    assert parse_progress("epoch 0/0  val 0.5000") is None  # no epochs to count
    assert parse_progress("refit on train + validation (160 images, 2 epochs): the model the tenant gets") is None


def test_running_tasks_show_a_progress_bar_and_the_timeline_a_bar_per_task(open_window, qtbot, db, tmp_path):
    window = open_window(db)
    lab = window.lab
    qtbot.waitUntil(lambda: len(lab.running.bars()) == 1)
    bar = lab.running.bars()[0]
    assert (bar.value(), bar.maximum()) == (2, 5) and bar.text() == "epoch 2 of 5 · val 0.812"
    assert lab.timeline.devices == []  # a hidden tab is not drawn at each read...
    open_tab(lab, "Devices")  # ...and catches up when it is opened
    assert lab.timeline.devices == ["cpu:0", "cpu:1"]
    done, running = lab.timeline.rows
    assert done[:3] == ("cpu:0", "alice", "t1") and done[5] == "done" and 0 <= done[4] - done[3] < 60
    assert running[:3] == ("cpu:1", "bob", "t2") and running[4] > running[3]  # reaches to now
    lab.timeline.save_csv(tmp_path / "timeline.csv")
    assert [r[:3] for r in rows_of(tmp_path / "timeline.csv")] == [["device", "tenant", "task"],
                                                                   ["cpu:0", "alice", "t1"], ["cpu:1", "bob", "t2"]]
    assert lab.timeline.save_png(tmp_path / "timeline.png")


def test_running_now_names_the_fold_and_its_clock_ticks_while_nothing_new_is_read(open_window, qtbot, db):
    with open_writer(db) as store:
        store.task_line("t2", FOLD_EPOCH_LINE)
    window = open_window(db)
    running = window.lab.running
    qtbot.waitUntil(lambda: len(running.bars()) == 1)
    bar = running.bars()[0]
    assert (bar.value(), bar.maximum()) == (3, 8) and bar.text() == "fold 2 of 4, epoch 1 of 2"
    read, clock = window.lab.snapshot, running.texts()[0][FOR]
    qtbot.waitUntil(lambda: running.texts()[0][FOR] != clock, timeout=3000)
    assert window.lab.snapshot is read  # no new read of the store: the clock ticked by itself


def test_the_running_tasks_draw_their_validation_accuracy_epoch_by_epoch(open_window, qtbot, db, tmp_path):
    window = open_window(db)
    plot = window.lab.epochs_plot
    qtbot.waitUntil(lambda: window.lab.loaded)
    open_tab(window.lab, "Epochs")
    qtbot.waitUntil(lambda: plot.names() == ["bob/mlp (t2)"])
    x, y = plot.curve("bob/mlp (t2)").getData()
    assert list(x) == [1.0, 2.0] and list(y) == [0.7, 0.8125]
    with open_writer(db) as store:  # the next epoch reaches the plot at the next poll
        store.task_epoch("t2", EpochReport(3, 5, 0.85), "epoch 3/5  val 0.8500  0 img/s")
    qtbot.waitUntil(lambda: len(plot.curve("bob/mlp (t2)").getData()[0]) == 3)
    plot.save_csv(tmp_path / "epochs.csv")
    assert rows_of(tmp_path / "epochs.csv") == [["series", "epoch", "validation accuracy"],
                                                ["bob/mlp (t2)", "1", "0.7"], ["bob/mlp (t2)", "2", "0.8125"],
                                                ["bob/mlp (t2)", "3", "0.85"]]
    with open_writer(db) as store:  # a task that ends leaves the plot: it shows what trains now
        store.record_result(TaskResult("t2", "bob", Arm("mlp", 1), "cpu:1", TaskState.FAILED, error="killed"), None)
    qtbot.waitUntil(lambda: plot.names() == [])


def test_a_selected_tenants_models_show_beliefs_observations_and_the_next_pick(open_window, qtbot, db, tmp_path):
    window = open_window(db)
    lab = window.lab
    qtbot.waitUntil(lambda: lab.tenants.source_model.rowCount() == 2)
    assert lab.beliefs.beliefs == ()  # nothing selected yet
    lab.tenants.selectRow(0)
    assert lab.beliefs.tenant == "alice"
    svc, logreg = lab.beliefs.beliefs
    assert (svc.model, svc.mean, svc.sigma, svc.observed, svc.next_pick) == ("svc", 0.80, 0.05, 0.9, False)
    assert (logreg.model, logreg.mean, logreg.sigma, logreg.observed, logreg.next_pick) == (
        "logreg", 0.85, 0.10, None, True)
    lab.beliefs.save_csv(tmp_path / "beliefs.csv")
    assert rows_of(tmp_path / "beliefs.csv") == [["tenant", "model", "mean", "sigma", "observed", "next pick"],
                                                 ["alice", "svc", "0.8", "0.05", "0.9", "0"],
                                                 ["alice", "logreg", "0.85", "0.1", "", "1"]]
    for plot in (lab.timeline, lab.beliefs):
        menu = [a.text() for a in plot.getPlotItem().getViewBox().menu.actions()]
        assert "Save as PNG…" in menu and "Save data as CSV…" in menu
