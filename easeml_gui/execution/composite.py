"""CompositeExecutor: several executors (this machine's, one per SSH host) behind one scheduler.

Device names say where: this machine's as they are ("cpu", "cuda:0"), a host's prefixed with its name
("box1/cuda:0"). Each call goes to the executor that owns the device (submit), the task (cancel, events,
location) or the host a task was recorded on (adopt, by TaskLocation.host); `wait` gathers what any of them
reports. It sees only the Executor protocol: no SSH here.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any, Sequence

from ..engine.ports import Executor
from ..engine.types import Task, TaskLocation, TaskResult

WAIT_SLICE_SECONDS = 0.05  # how often `wait` looks at each executor while nothing has ended


class CompositeExecutor:
    """Implements engine.ports.Executor over `members`: host name (None: this machine) -> its executor."""

    def __init__(self, members: dict[str | None, Executor]) -> None:
        if not members:
            raise ValueError("a composite executor needs at least one executor")
        self._members = dict(members)
        self._tasks: dict[str, tuple[str | None, Task]] = {}  # task id -> (host, the task as the caller named it)
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.time()

    def devices(self) -> Sequence[str]:
        return [_qualified(host, device) for host, member in self._members.items() for device in member.devices()]

    def free_memory_mib(self, device: str) -> float | None:
        host, bare = _split(device)
        member = self._members.get(host)
        return None if member is None else member.free_memory_mib(bare)

    def running(self) -> Sequence[Task]:
        with self._lock:
            return [task for _, task in self._tasks.values()]

    def location(self, task_id: str) -> TaskLocation | None:
        member = self._member_of(task_id)
        return None if member is None else member.location(task_id)

    def adopt(self, tasks: Sequence[tuple[Task, TaskLocation]]) -> set[str]:
        """Each executor adopts the tasks recorded on its host (and stops its own leftovers); a task of a host not
        in this run is not adopted (the caller re-queues it)."""
        adopted: set[str] = set()
        for host, member in self._members.items():
            mine = [(task, where) for task, where in tasks if where.host == host]
            local = {task.task_id: task for task, _ in mine}
            taken = member.adopt([(replace(task, device=_device_of(host, task.device)), where)
                                  for task, where in mine])
            with self._lock:
                self._tasks.update({task_id: (host, local[task_id]) for task_id in taken})
            adopted |= taken
        return adopted

    def submit(self, task: Task) -> None:
        host, device = _split(task.device)
        member = self._members.get(host)
        if member is None:
            raise ValueError(f"unknown device {task.device!r}; this run has {', '.join(self.devices())}")
        member.submit(replace(task, device=device))
        with self._lock:
            self._tasks[task.task_id] = (host, task)

    def wait(self, timeout: float | None = None) -> list[TaskResult]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if not self._tasks:
                    return []  # nothing can end: blocking would hang the caller
                busy = {host for host, _ in self._tasks.values()}
            results = [named for host in busy for result in self._members[host].wait(0)
                       if (named := self._named(result)) is not None]
            if results or (deadline is not None and time.monotonic() >= deadline):
                return results
            time.sleep(WAIT_SLICE_SECONDS)

    def cancel(self, task_id: str) -> None:
        member = self._member_of(task_id)
        if member is not None:
            member.cancel(task_id)

    def events(self, task_id: str, offset: int = 0) -> tuple[list[Any], int]:
        member = self._member_of(task_id)
        return ([], offset) if member is None else member.events(task_id, offset)

    def detach(self) -> None:
        for member in self._members.values():
            member.detach()
        with self._lock:
            self._tasks.clear()

    def close(self) -> None:
        """Close each executor that can be closed (cancelling its tasks), the others detached."""
        for member in self._members.values():
            getattr(member, "close", member.detach)()
        with self._lock:
            self._tasks.clear()

    def _member_of(self, task_id: str) -> Executor | None:
        with self._lock:
            entry = self._tasks.get(task_id)
        return None if entry is None else self._members[entry[0]]

    def _named(self, result: TaskResult) -> TaskResult | None:
        """A member's report with the device named as the caller named it; None for a task not ours."""
        with self._lock:
            entry = self._tasks.pop(result.task_id, None)
        return None if entry is None else replace(result, device=entry[1].device)


def _qualified(host: str | None, device: str) -> str:
    return device if host is None else f"{host}/{device}"


def _split(device: str) -> tuple[str | None, str]:
    host, _, rest = device.rpartition("/")
    return (host or None, rest) if rest else (None, device)


def _device_of(host: str | None, device: str) -> str:
    """A recorded device as its own executor names it ("box1/cuda:0" -> "cuda:0" on box1)."""
    recorded_host, bare = _split(device)
    return bare if recorded_host == host else device
