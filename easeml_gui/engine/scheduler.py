"""The loop that keeps every device busy: ask -> submit -> wait -> tell, the same in simulation and live."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

from .ports import Executor
from .selection import ModelSelection
from .types import TENANT_RUNS, Decision, Observation, Task, TaskResult, TaskState


@dataclass
class SchedulerHooks:
    """Where the loop reports what happened; the live lab persists through these, the simulator traces."""

    on_decision: Callable[[Decision, Task], None] = lambda decision, task: None
    on_submit: Callable[[Task], None] = lambda task: None  # just before the executor starts it
    on_started: Callable[[Task], None] = lambda task: None  # just after: the executor knows where it lives
    on_result: Callable[[TaskResult, Observation | None], None] = lambda result, observation: None


@dataclass
class Scheduler:
    selection: ModelSelection
    executor: Executor
    hooks: SchedulerHooks = field(default_factory=SchedulerHooks)
    next_task_number: int = 1
    tasks_finished: int = 0
    backlog: list[Task] = field(default_factory=list)  # decided before a restart: run these before asking again

    def _free_devices(self) -> list[str]:
        busy = {task.device for task in self.executor.running()}
        return [device for device in self.executor.devices() if device not in busy]

    def fill_devices(self, max_new: int | None = None) -> list[Decision]:
        """Hand every free device its next task (at most `max_new` tasks)."""
        decisions = []
        started = 0
        for device in self._free_devices():
            if max_new is not None and started >= max_new:
                break
            if self.backlog:
                self._start(replace(self.backlog.pop(0), device=device))
                started += 1
                continue
            free = self.executor.free_memory_mib(device)
            decision = self.selection.ask(device, self.executor.now(), free)
            if decision is None:
                if free is None:
                    break  # no tenant has work any device may get
                continue  # nothing left fits this GPU's free memory: another device may still take work
            record = self.selection.record(decision.tenant)
            task = Task(
                task_id=f"t{self.next_task_number:06d}",
                tenant=decision.tenant,
                arm=decision.arm,
                device=device,
                seed=record.job.seed + self.next_task_number,
                config={**record.job.config, TENANT_RUNS: [[run.quality, run.seconds] for run in record.runs]},
            )
            self.next_task_number += 1
            self.hooks.on_decision(decision, task)
            self._start(task)
            decisions.append(decision)
            started += 1
        return decisions

    def _start(self, task: Task) -> None:
        self.hooks.on_submit(task)  # persisted as running before it runs
        self.executor.submit(task)
        self.hooks.on_started(task)

    def collect(self, timeout: float | None = None) -> list[TaskResult]:
        results = self.executor.wait(timeout)
        for result in results:
            observation = self.selection.tell(result, self.executor.now())
            if result.state is not TaskState.CANCELLED:
                self.tasks_finished += 1
            self.hooks.on_result(result, observation)
        return results

    def run(self, max_tasks: int | None = None, stop: Callable[[], bool] = lambda: False, poll: float | None = None) -> None:
        """Run until no task can be handed out and none is running, `max_tasks` finished, or `stop()`."""
        while not stop():
            remaining = None if max_tasks is None else max_tasks - self.tasks_finished - len(self.executor.running())
            if remaining is None or remaining > 0:
                self.fill_devices(remaining)
            if not self.executor.running() and not self.backlog:
                return
            self.collect(poll)
            if max_tasks is not None and self.tasks_finished >= max_tasks and not self.executor.running():
                return
