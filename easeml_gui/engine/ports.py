"""The protocols the scheduler loop needs. Simulated, local and SSH executors implement Executor."""

from __future__ import annotations

from typing import Any, Protocol, Sequence

from .types import Decision, Observation, Task, TaskLocation, TaskResult, TaskState


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on this clock (wall time in a live lab, simulated time in the simulator)."""
        ...


class Executor(Clock, Protocol):
    """Runs tasks on devices. One task per device at a time."""

    def devices(self) -> Sequence[str]:
        """Names of the devices this executor can run tasks on, e.g. ("cpu",) or ("cuda:0", "cuda:1")."""
        ...

    def free_memory_mib(self, device: str) -> float | None:
        """Memory a new task may take on `device` now (a GPU's free memory, as last seen); None: no limit the
        scheduler must respect (a CPU, a simulated device). A model whose estimated need is above it is not
        placed there."""
        ...

    def submit(self, task: Task) -> None:
        """Start `task` on `task.device` (which must be free). Returns at once."""
        ...

    def wait(self, timeout: float | None = None) -> list[TaskResult]:
        """Block until at least one submitted task ended (or `timeout` seconds passed); return those that ended.

        Every submitted task is reported exactly once, as DONE, FAILED or CANCELLED.
        """
        ...

    def cancel(self, task_id: str) -> None:
        """Stop a running task; it is then reported by `wait` as CANCELLED."""
        ...

    def running(self) -> Sequence[Task]:
        """Tasks submitted (or adopted) and not yet reported by `wait`."""
        ...

    def location(self, task_id: str) -> TaskLocation | None:
        """Where a running task lives, known once `submit` returned; None where tasks cannot outlive the executor
        (the simulator's)."""
        ...

    def adopt(self, tasks: Sequence[tuple[Task, TaskLocation]]) -> set[str]:
        """Take over tasks an earlier run (or connection) started and did not see end; returns the ids adopted.

        Called once, before the first `submit`, with every task the lab wants back. An adopted task is running()
        and reported by `wait` exactly once, like a submitted one, also when it ended while nobody watched (its
        result is in its folder). A task that is gone (no process, no result) is not adopted: the caller
        re-queues it. Work of this executor that is not in `tasks` (a worker of a task the lab no longer wants)
        is stopped, so it never shares a device with new work.
        """
        ...

    def events(self, task_id: str, offset: int = 0) -> tuple[list[Any], int]:
        """A running task's progress events after `offset` (0: from its start) and the offset to read from next
        time, so a display reads each event once (training/wire.py's Event records: the engine never reads them)."""
        ...

    def detach(self) -> None:
        """Stop watching without cancelling: running tasks go on, and the next run adopts them."""
        ...


class Store(Protocol):
    """What the live loop persists. The SQLite store implements it; the simulator keeps it in memory."""

    def task_state(self, task: Task, state: TaskState) -> None:
        """Record a task transition before it is acted upon (queued -> running -> done|failed|cancelled)."""
        ...

    def task_location(self, task_id: str, location: TaskLocation | None) -> None:
        """Record where a task just started lives (None: nowhere a later run could find it)."""
        ...

    def record_result(self, result: TaskResult, observation: Observation | None) -> None:
        """Persist a finished task and, when it succeeded, its observation, atomically."""
        ...

    def record_decision(self, decision: Decision, task_id: str | None = None) -> None:
        """Keep a decision and the id of the task it starts (None where no task is made of it)."""
        ...
