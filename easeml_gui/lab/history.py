"""Finished tasks, as the window's History tab lists them, and one task's record in full (its epochs and logs).

The rows come from the decision log (`easeml-gui log`), so the tab and the command agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..engine.types import TaskState
from ..store import LabReader

LOG_TAIL_BYTES = 8192  # the end of a worker's log shown with its task: enough for a traceback, bounded


@dataclass(frozen=True)
class FinishedTask:
    task_id: str
    decided: float  # when the engine chose it (store clock)
    tenant: str
    model: str
    device: str
    host: str  # "local" for this machine
    state: str  # done, failed or cancelled
    accuracy: float | None  # validation
    test_accuracy: float | None
    seconds: float | None  # device seconds it took
    reason: str  # why it failed or was cancelled; "" when it finished


@dataclass(frozen=True)
class TaskDetail:
    task_id: str
    curve: tuple[tuple[int, float], ...]  # (epoch, validation accuracy) of its last attempt
    progress: str  # the last line its run reported
    error: str
    log: str  # the end of the worker's own log, or where it stays (a remote host's folder)


def finished_tasks(reader: LabReader) -> tuple[FinishedTask, ...]:
    """Every task that ended, in decision order (the log's entries that name a finished task)."""
    return tuple(
        FinishedTask(entry.task_id, entry.time, entry.tenant, entry.model, entry.device, entry.host or "local",
                     entry.state, entry.accuracy, entry.test_accuracy, entry.seconds, entry.error or "")
        for entry in reader.decision_log(predictions=False)
        if entry.task_id is not None and entry.state is not None and TaskState(entry.state).finished)


def task_detail(reader: LabReader, task_id: str) -> TaskDetail:
    """A task's epochs, last progress line, error and worker log (StoreError if unknown)."""
    with reader.snapshot():
        task = reader.task(task_id)
        epochs = reader.epoch_curves([task_id]).get(task_id, [])
    folder = task.remote_dir or task.details.get("folder")  # the latest attempt's task folder
    if folder is None:
        log = "(the task never started a worker)"
    elif task.host not in (None, "local"):
        log = f"the worker's log stays on {task.host}, in {folder}/worker.log"
    else:
        log = _tail(Path(folder) / "worker.log")
    return TaskDetail(task_id, tuple((e.epoch, e.val_accuracy) for e in epochs), task.log_tail or "",
                      task.error or "", log)


def _tail(path: Path) -> str:
    """The last LOG_TAIL_BYTES of a log file, or why there is none; never the whole file."""
    try:
        with open(path, "rb") as log:
            size = log.seek(0, 2)
            log.seek(max(0, size - LOG_TAIL_BYTES))
            text = log.read(LOG_TAIL_BYTES).decode("utf-8", errors="replace")
    except OSError as exc:
        return f"(no worker log: {exc.strerror or exc})"
    if size == 0:
        return f"({path.name} is empty: the worker wrote no warning or error)"
    return text if size <= LOG_TAIL_BYTES else "…" + text.split("\n", 1)[-1]
