"""What every executor that runs the training worker does with a task: name its folder, write its request, and
turn what the worker left (result.json, exit code, log) into the TaskResult the engine sees."""

from __future__ import annotations

import queue
import re
from typing import Any, Callable, Mapping, TypeVar

from ..engine.types import MAX_RETRIES, RETRYABLE, Task, TaskResult, TaskState
from ..training import wire

T = TypeVar("T")


def folder_name(task: Task) -> str:
    """`<task id>-<attempt>`, the id made safe: ids are data, never a path."""
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', task.task_id)}-{task.attempt}"


def task_request(task: Task, folder: str, **overrides: Any) -> wire.TaskRequest:
    """TASK.json of `task`: what Task.config carries (dataset, epochs, image_size, ...) plus what the executor
    knows (id, arm, device, seed, folder); `overrides` replace config values (e.g. the host's dataset folder)."""
    return wire.TaskRequest.from_mapping({**task.config, **overrides, "task_id": task.task_id, "arm": task.arm.name,
                                          "device": task.device, "seed": task.seed, "output_dir": folder})


def task_result(task: Task, result: wire.TaskOutcome | None, *, cost: float, cancelled: bool, exit_code: int | None,
                log_tail: Callable[[], str], details: Mapping[str, Any]) -> TaskResult:
    """The report of an ended worker. `result`: its result.json (None when it wrote none); `exit_code`: None when
    the worker was not this process's child (adopted, or on another host); `details`: the executor's additions
    (at least "folder", where the checkpoint lies). The log is read only for a failure."""
    common = dict(task_id=task.task_id, tenant=task.tenant, arm=task.arm, device=task.device, cost=cost)
    # every field of the result, known to this version or not, is kept with the task (the store's details)
    details = {**(result.to_mapping() if result is not None else {}), "exit_code": exit_code, **details}
    if cancelled:
        return TaskResult(state=TaskState.CANCELLED, error="cancelled", details=details, **common)
    if exit_code in (0, None) and result is not None and result.state == wire.DONE:
        return TaskResult(state=TaskState.DONE, quality=result.accuracy, details=details, **common)
    tail = log_tail()
    if result is not None or exit_code == wire.EXIT_BAD_TASK:
        reason = ((result.error if result is not None else None)
                  or f"the worker exited with code {exit_code}: {tail or 'no output'}")
        return TaskResult(state=TaskState.FAILED, error=reason, details={**details, "log_tail": tail}, **common)
    # No result.json, and not a task file it refused: the worker writes one for every error it can catch, so something outside killed it (the
    # OOM killer, a reboot, a colleague's kill): the model is not at fault and is tried again.
    how = (f"killed by signal {-exit_code}" if exit_code is not None and exit_code < 0 else
           f"exited with code {exit_code}" if exit_code is not None else "ended")
    reason = (f"the worker {how} without a result, stopped from outside (its model is tried again, "
              f"{MAX_RETRIES} times at most): {tail or 'no output'}")
    return TaskResult(state=TaskState.FAILED, error=reason,
                      details={**details, "log_tail": tail, RETRYABLE: True}, **common)


def ended_so_far(ended: "queue.Queue[T]", timeout: float | None) -> list[T]:
    """What `wait` reports: the first end (blocking up to `timeout`), then every end already queued behind it."""
    try:
        items = [ended.get(timeout=timeout)]
    except queue.Empty:
        return []
    while True:
        try:
            items.append(ended.get_nowait())
        except queue.Empty:
            return items
