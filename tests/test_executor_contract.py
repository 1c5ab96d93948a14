"""The contract every executor keeps (engine.ports.Executor), run against each executor factory.

To add an executor, write a factory `(tmp_path, dataset) -> Case` and add it to FACTORIES: the Case says which
arm and task configs make a quick task that succeeds, a long one to cancel, and one that fails.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import pytest
from training_fixtures import small_digits  # noqa: F401 (a fixture)

from easeml_gui.engine.ports import Executor
from easeml_gui.engine.types import Arm, Task, TaskLocation, TaskResult, TaskState
from easeml_gui.execution.local import LocalExecutor


@dataclass
class Case:
    executor: Executor
    reopen: Callable[[], Executor]  # a second executor on the same devices and work folder (a restarted `run`)
    arm: Arm
    quick: Mapping[str, Any]  # Task.config of a task that succeeds
    slow: Mapping[str, Any]  # ... of a task that runs long enough to be cancelled
    bounded: Mapping[str, Any]  # ... of a task that succeeds after running a few seconds
    failing: Mapping[str, Any]  # ... of a task that fails
    nowhere: TaskLocation  # where no task of this executor lives
    limit: float  # seconds to wait for one task's result before the test fails


def local_case(tmp_path: Path, dataset: Path) -> Case:
    base = {"dataset": str(dataset), "image_size": 16}
    work = tmp_path / "tasks"
    return Case(executor=LocalExecutor(work, grace_seconds=5), reopen=lambda: LocalExecutor(work, grace_seconds=5),
                arm=Arm("mobilenet_v3_small", 0), quick={**base, "epochs": 1}, slow={**base, "epochs": 10_000},
                bounded={**base, "epochs": 10_000, "max_seconds": 3},
                failing={**base, "dataset": str(tmp_path / "no-such-dataset")},
                nowhere=TaskLocation(folder=str(work / "never-started-1")), limit=180)


FACTORIES: dict[str, Callable[[Path, Path], Case]] = {"local": local_case}


@pytest.fixture(params=sorted(FACTORIES))
def case(request: pytest.FixtureRequest, tmp_path: Path, small_digits: Path) -> Iterator[Case]:
    made = FACTORIES[request.param](tmp_path, small_digits)
    yield made
    close = getattr(made.executor, "close", None)
    if close is not None:
        close()


def task(case: Case, task_id: str, config: Mapping[str, Any], device: str | None = None) -> Task:
    return Task(task_id=task_id, tenant="tenant-a", arm=case.arm, device=device or case.executor.devices()[0],
                seed=0, config=config)


def collect(case: Case, count: int, executor: Executor | None = None) -> list[TaskResult]:
    """Wait until `count` results came back (failing the test after case.limit seconds per result)."""
    executor = executor or case.executor
    results: list[TaskResult] = []
    deadline = time.monotonic() + case.limit * count
    while len(results) < count:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"only {len(results)} of {count} results after {case.limit * count:.0f} s"
        results += executor.wait(timeout=min(remaining, 5.0))
    return results


def test_devices_are_named(case: Case) -> None:
    devices = case.executor.devices()
    assert len(devices) >= 1 and all(isinstance(d, str) and d for d in devices)
    assert len(set(devices)) == len(devices)


def test_a_quick_task_is_done_once_with_quality_and_cost(case: Case) -> None:
    submitted = task(case, "quick-1", case.quick)
    case.executor.submit(submitted)
    assert list(case.executor.running()) == [submitted]
    [result] = collect(case, 1)
    assert (result.task_id, result.tenant, result.arm, result.device) == ("quick-1", "tenant-a", case.arm,
                                                                          submitted.device)
    assert result.state is TaskState.DONE and result.error is None
    assert result.quality is not None and 0.0 <= result.quality <= 1.0 and result.cost > 0
    assert list(case.executor.running()) == []
    assert case.executor.wait(timeout=0.5) == []  # reported exactly once


def test_a_failing_task_is_failed_with_a_reason(case: Case) -> None:
    case.executor.submit(task(case, "bad-1", case.failing))
    [result] = collect(case, 1)
    assert result.state is TaskState.FAILED and result.quality is None
    assert result.error and result.error.strip()
    assert list(case.executor.running()) == []


def test_a_cancelled_task_is_cancelled(case: Case) -> None:
    case.executor.submit(task(case, "slow-1", case.slow))
    assert case.executor.wait(timeout=1.0) == []  # still running
    case.executor.cancel("slow-1")
    [result] = collect(case, 1)
    assert result.task_id == "slow-1" and result.state is TaskState.CANCELLED and result.quality is None
    assert list(case.executor.running()) == []
    assert case.executor.wait(timeout=0.5) == []


def test_every_submitted_task_is_reported_exactly_once(case: Case) -> None:
    """Three kinds of task over the devices there are, keeping each device busy with one task at a time."""
    pending = [task(case, "mix-quick", case.quick), task(case, "mix-bad", case.failing),
               task(case, "mix-slow", case.slow)]
    results: list[TaskResult] = []
    while pending or case.executor.running():
        busy = {t.device for t in case.executor.running()}
        for device in case.executor.devices():
            if pending and device not in busy:
                submitted = pending.pop(0)
                case.executor.submit(task(case, submitted.task_id, submitted.config, device))
                if submitted.task_id == "mix-slow":
                    case.executor.cancel("mix-slow")
                busy.add(device)
        assert {t.task_id for t in case.executor.running()} <= {"mix-quick", "mix-bad", "mix-slow"}
        results += collect(case, 1)
    states = {r.task_id: r.state for r in results}
    assert len(results) == 3 and states == {"mix-quick": TaskState.DONE, "mix-bad": TaskState.FAILED,
                                            "mix-slow": TaskState.CANCELLED}
    assert case.executor.wait(timeout=0.5) == []


def test_a_detached_task_goes_on_and_a_new_executor_adopts_and_reports_it_once(case: Case) -> None:
    submitted = task(case, "detached-1", case.bounded)
    case.executor.submit(submitted)
    where = case.executor.location("detached-1")
    assert where is not None and where.folder
    case.executor.detach()
    assert list(case.executor.running()) == [] and case.executor.wait(timeout=0.2) == []
    again = case.reopen()
    try:
        assert again.adopt([(submitted, where)]) == {"detached-1"}
        assert list(again.running()) == [submitted] and again.location("detached-1") == where
        [result] = collect(case, 1, again)
        assert result.task_id == "detached-1" and result.state is TaskState.DONE and result.cost > 0
        assert again.wait(timeout=0.5) == []
    finally:
        getattr(again, "close", lambda: None)()


def test_a_task_that_is_gone_is_not_adopted_and_its_device_stays_free(case: Case) -> None:
    again = case.reopen()
    try:
        assert again.adopt([(task(case, "gone-1", case.quick), case.nowhere)]) == set()
        assert list(again.running()) == []
        again.submit(task(case, "after-1", case.quick))  # the device is free for new work
        [result] = collect(case, 1, again)
        assert result.state is TaskState.DONE
    finally:
        getattr(again, "close", lambda: None)()


def test_progress_events_are_read_from_an_offset_each_once(case: Case) -> None:
    case.executor.submit(task(case, "events-1", case.bounded))
    seen: list[dict[str, Any]] = []
    offset = 0
    while case.executor.running():
        events, offset = case.executor.events("events-1", offset)
        seen += events
        case.executor.wait(timeout=0.3)
    kinds = [e["event"] for e in seen]
    assert kinds[0] == "start" and "epoch" in kinds and kinds.count("start") == 1
    epochs = [e["epoch"] for e in seen if e["event"] == "epoch"]
    assert epochs == sorted(set(epochs))  # none read twice
