"""The protocols the scheduler loop needs. Simulated, local and SSH executors implement Executor."""

from __future__ import annotations

from typing import Protocol, Sequence

from .types import Decision, Observation, Task, TaskResult, TaskState


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on this clock (wall time in a live lab, simulated time in the simulator)."""
        ...


class Executor(Clock, Protocol):
    """Runs tasks on devices. One task per device at a time."""

    def devices(self) -> Sequence[str]:
        """Names of the devices this executor can run tasks on, e.g. ("cpu",) or ("cuda:0", "cuda:1")."""
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
        """Tasks submitted and not yet reported by `wait`."""
        ...


class Store(Protocol):
    """What the live loop persists. The SQLite store implements it; the simulator keeps it in memory."""

    def task_state(self, task: Task, state: TaskState) -> None:
        """Record a task transition before it is acted upon (queued -> running -> done|failed|cancelled)."""
        ...

    def record_result(self, result: TaskResult, observation: Observation | None) -> None:
        """Persist a finished task and, when it succeeded, its observation, atomically."""
        ...

    def record_decision(self, decision: Decision, task_id: str | None = None) -> None:
        """Keep a decision and the id of the task it starts (None where no task is made of it)."""
        ...
