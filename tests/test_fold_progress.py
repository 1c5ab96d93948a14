"""A real cross-validating task (a small validation split: training/folds.py), trained by a real worker, as
Running now reads it: each line `easeml-gui run` keeps names the fold, so the display moves on through every fold
instead of standing at the registered split's last epoch."""

from __future__ import annotations

from pathlib import Path

from training_fixtures import small_digits  # noqa: F401 (a fixture)

from easeml_gui.commands.run import Progress
from easeml_gui.engine.types import Arm, Task, TaskState
from easeml_gui.execution.local import LocalExecutor
from easeml_gui.lab import tenants
from easeml_gui.lab.stores import open_writer
from easeml_gui.training import wire
from easeml_gui.views.task_progress import EpochProgress, parse_progress


class Replay:
    """The executor as Progress.tick reads it, handing out a finished worker's events one per tick (as a live run
    reads them while the worker trains)."""

    def __init__(self, task: Task, events: list[wire.Event]) -> None:
        self.task, self._events = task, events

    def running(self) -> list[Task]:
        return [self.task]

    def events(self, task_id: str, offset: int) -> tuple[list[wire.Event], int]:
        return self._events[offset:offset + 1], min(offset + 1, len(self._events))


def test_running_now_follows_a_cross_validating_network_through_its_folds(small_digits: Path, tmp_path: Path):
    task = Task("cv", "alice", Arm("resnet18", 0), "cpu",
                config={"dataset": str(small_digits), "epochs": 2, "image_size": 16})
    with LocalExecutor(tmp_path / "tasks", devices=("cpu",)) as executor:
        executor.submit(task)
        [result] = executor.wait(timeout=600)
    assert result.state is TaskState.DONE and result.details["folds"] == 4  # 60 validation images: four folds
    events, _ = wire.read_events(executor.task_folder(task) / wire.PROGRESS_FILE)

    shown: list[EpochProgress | None] = []
    with open_writer(tmp_path / "lab.sqlite") as store:
        tenants.add(store, "alice")
        store.task_state(task, TaskState.RUNNING)
        progress = Progress(lambda: "", Replay(task, events), store.task_epoch, store.task_line)
        for _ in events:
            progress.tick()
            shown.append(parse_progress(store.task("cv").log_tail))
        [curve] = store.epoch_curves(["cv"]).values()

    steps = [p for p in dict.fromkeys(shown) if p is not None]  # each line once, in order
    assert [(p.fold, p.folds) for p in steps] == sorted((p.fold, p.folds) for p in steps)
    assert {p.fold for p in steps} == {1, 2, 3, 4} and {p.folds for p in steps} == {4}
    registered = [p for p in steps if p.fold == 1]
    assert [p.epoch for p in registered] == [1, 2] and all(p.val_accuracy is not None for p in registered)
    for fold in (2, 3, 4):  # the further folds: their epochs (not validated), then their score
        *epochs, end = [p for p in steps if p.fold == fold]
        assert epochs and all(p.val_accuracy is None and p.epochs >= 1 for p in epochs)
        assert (end.epochs, end.text) == (0, f"fold {fold} of 4 · val {end.val_accuracy:.3f}")
    fractions = [done / total for done, total in (p.steps for p in steps)]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0  # the bar only moves forward, to the end
    assert [e.epoch for e in curve] == [1, 2]  # the curve is the registered split's epochs alone
