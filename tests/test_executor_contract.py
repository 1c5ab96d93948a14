"""The contract every executor keeps (engine.ports.Executor), run against each executor factory.

To add an executor, write a factory `(tmp_path, dataset, fixture) -> Case` (`fixture(name)` gives a pytest
fixture, e.g. the real sshd of tests/sshd.py) and add it to FACTORIES: the Case says which arm and task configs
make a quick task that succeeds, a long one to cancel, and one that fails. The simulated executor (a virtual
clock, no processes) keeps the part of the contract that does not need real time.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import pytest
from sshd import client_key, sshd_factory  # noqa: F401 (fixtures)
from training_fixtures import small_digits  # noqa: F401 (a fixture)

from easeml_gui.engine.ports import Executor
from easeml_gui.engine.simulate import SimulatedExecutor
from easeml_gui.engine.types import Arm, Task, TaskLocation, TaskResult, TaskState
from easeml_gui.execution.composite import CompositeExecutor
from easeml_gui.execution.local import LocalExecutor
from easeml_gui.remote.address import Endpoint
from easeml_gui.remote.connection import Credentials, scan_host_key
from easeml_gui.remote.executor import SSHExecutor
from easeml_gui.remote.placement import Placement
from easeml_gui.remote.session import HostLink
from easeml_gui.remote.trust import HostTrust, TrustedKey
from easeml_gui.store import KeySource
from easeml_gui.training import wire

Fixture = Callable[[str], Any]
CPU_ONLY = Placement({"gpus": [], "devices": ["cpu"], "ready": True})


@dataclass
class Case:
    executor: Executor
    reopen: Callable[[], Executor]  # a second executor on the same devices and work folder (a restarted `run`)
    arm: Arm  # what the slow and bounded tasks train (a network: it runs as long as asked)
    quick_arm: Arm  # what the quick and failing tasks train (a classical fit: seconds, no torch)
    quick: Mapping[str, Any]  # Task.config of a task that succeeds
    slow: Mapping[str, Any]  # ... of a task that runs long enough to be cancelled
    bounded: Mapping[str, Any]  # ... of a task that succeeds after running a few seconds
    failing: Mapping[str, Any]  # ... of a task that fails
    nowhere: TaskLocation  # where no task of this executor lives
    limit: float  # seconds to wait for one task's result before the test fails
    failing_arm: Arm | None = None  # what the failing task trains, when not quick_arm
    real_time: bool = True  # tasks are processes that run in real time (not a simulation's virtual clock)


def needs_real_time(case: Case) -> None:
    """Detaching, adopting, progress, a running task seen by wait() and a worker to kill need real processes."""
    if not case.real_time:
        pytest.skip("a simulation's tasks end as soon as wait() advances its virtual clock; no process to detach, "
                    "adopt, read progress from or kill")


def local_case(tmp_path: Path, dataset: Path, fixture: Fixture) -> Case:
    base = {"dataset": str(dataset), "image_size": 16}
    work = tmp_path / "tasks"
    return Case(executor=LocalExecutor(work, grace_seconds=5), reopen=lambda: LocalExecutor(work, grace_seconds=5),
                arm=Arm("mobilenet_v3_small", 0), quick_arm=Arm("svc", 1), quick={"dataset": str(dataset)},
                slow={**base, "epochs": 10_000},
                bounded={**base, "epochs": 10_000, "max_seconds": 3},
                failing={**base, "dataset": str(tmp_path / "no-such-dataset")},
                nowhere=TaskLocation(folder=str(work / "never-started-1")), limit=180)


def ssh_link(server: Any, key: Path, name: str = "box") -> HostLink:
    """A connection to a test sshd whose host key is trusted as `host trust` would pin it."""
    endpoint = Endpoint("127.0.0.1", server.port, server.user)
    trusted = TrustedKey(scan_host_key(HostTrust(name, endpoint, ())).key, KeySource.ACCEPTED)
    return HostLink(HostTrust(name, endpoint, (trusted,)), Credentials(key_path=key, agent=False), timeout=5)


def ssh_executor(tmp_path: Path, link: HostLink, **options: Any) -> SSHExecutor:
    """The loopback host runs the worker with this very Python, its root in the test's folder."""
    return SSHExecutor(link, CPU_ONLY, python=sys.executable, root=str(tmp_path / "remote root"),
                       local_dir=tmp_path / "fetched", grace_seconds=5, poll_seconds=1.0, **options)


def ssh_case(tmp_path: Path, dataset: Path, fixture: Fixture) -> Case:
    server, key = fixture("sshd_factory")(), fixture("client_key")
    local = local_case(tmp_path, dataset, fixture)
    open_one = lambda: ssh_executor(tmp_path, ssh_link(server, key))  # noqa: E731
    return Case(executor=open_one(), reopen=open_one, arm=local.arm, quick_arm=local.quick_arm, quick=local.quick,
                slow=local.slow,
                bounded=local.bounded, failing=local.failing,
                nowhere=TaskLocation(folder=str(tmp_path / "remote root" / "tasks" / "lab" / "never-1"), host="box"),
                limit=local.limit)


def composite_case(tmp_path: Path, dataset: Path, fixture: Fixture) -> Case:
    local, remote = local_case(tmp_path, dataset, fixture), ssh_case(tmp_path, dataset, fixture)
    both = lambda first, second: CompositeExecutor({None: first, "box": second})  # noqa: E731
    return Case(executor=both(local.executor, remote.executor), reopen=lambda: both(local.reopen(), remote.reopen()),
                arm=local.arm, quick_arm=local.quick_arm, quick=local.quick, slow=local.slow, bounded=local.bounded,
                failing=local.failing,
                nowhere=remote.nowhere, limit=local.limit)


def simulated_case(tmp_path: Path, dataset: Path, fixture: Fixture) -> Case:
    """The engine's simulated devices: quality from a matrix row (NaN: a run that fails), one virtual second each."""
    make = lambda: SimulatedExecutor({"tenant-a": np.array([0.8, 0.6, np.nan])}, None, 2)  # noqa: E731
    return Case(executor=make(), reopen=make, arm=Arm("net", 0), quick_arm=Arm("svc", 1), failing_arm=Arm("bad", 2),
                quick={"kind": "quick"}, slow={"kind": "slow"}, bounded={"kind": "bounded"},
                failing={"kind": "failing"}, nowhere=TaskLocation(folder="never-1"), limit=5, real_time=False)


FACTORIES: dict[str, Callable[[Path, Path, Fixture], Case]] = {
    "local": local_case, "ssh": ssh_case, "composite": composite_case, "simulated": simulated_case}


@pytest.fixture(params=sorted(FACTORIES))
def case(request: pytest.FixtureRequest, tmp_path: Path, small_digits: Path) -> Iterator[Case]:
    made = FACTORIES[request.param](tmp_path, small_digits, request.getfixturevalue)
    yield made
    close = getattr(made.executor, "close", None)
    if close is not None:
        close()


def task(case: Case, task_id: str, config: Mapping[str, Any], device: str | None = None) -> Task:
    """A task of the case's configs: the quick and failing ones on the quick arm, the others on the network."""
    arm = (case.failing_arm or case.quick_arm) if config == case.failing else \
        case.quick_arm if config == case.quick else case.arm
    return Task(task_id=task_id, tenant="tenant-a", arm=arm, device=device or case.executor.devices()[0],
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
    assert (result.task_id, result.tenant, result.arm, result.device) == ("quick-1", "tenant-a", submitted.arm,
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
    needs_real_time(case)
    case.executor.submit(task(case, "slow-1", case.slow))
    assert case.executor.wait(timeout=1.0) == []  # still running
    case.executor.cancel("slow-1")
    [result] = collect(case, 1)
    assert result.task_id == "slow-1" and result.state is TaskState.CANCELLED and result.quality is None
    assert list(case.executor.running()) == []
    assert case.executor.wait(timeout=0.5) == []


def test_a_worker_killed_from_outside_fails_retryable_with_its_log(case: Case) -> None:
    """The OOM killer or a colleague's kill -9: no result.json. The task fails with what the log said, and is
    marked retryable (the model is not at fault: the engine hands it out again)."""
    needs_real_time(case)
    case.executor.submit(task(case, "killed-1", case.slow))
    deadline = time.monotonic() + case.limit
    while (where := case.executor.location("killed-1")) is None or where.pid is None:
        assert time.monotonic() < deadline, "the worker never started"
        assert case.executor.wait(timeout=0.2) == []
    os.killpg(where.pid, signal.SIGKILL)  # every host of the suite is this machine
    [result] = collect(case, 1)
    assert result.task_id == "killed-1" and result.state is TaskState.FAILED and result.retryable
    assert "without a result" in result.error and "log_tail" in result.details
    assert list(case.executor.running()) == [] and case.executor.wait(timeout=0.5) == []


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
    needs_real_time(case)
    submitted = task(case, "detached-1", case.bounded)
    case.executor.submit(submitted)
    where = case.executor.location("detached-1")
    assert where is not None and where.folder
    case.executor.detach()
    assert list(case.executor.running()) == [] and case.executor.wait(timeout=0.2) == []
    again = case.reopen()
    try:
        assert again.adopt([(submitted, where)]) == {"detached-1"}
        assert list(again.running()) == [submitted]
        # An executor that starts tasks in the background (SSH: syncs first) may learn the pid after submit.
        found = again.location("detached-1")
        assert found is not None and (found.folder, found.host) == (where.folder, where.host)
        assert where.pid is None or found.pid == where.pid
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
    needs_real_time(case)
    case.executor.submit(task(case, "events-1", case.bounded))
    seen: list[wire.Event] = []
    offset = 0
    while case.executor.running():
        events, offset = case.executor.events("events-1", offset)
        seen += events
        case.executor.wait(timeout=0.3)
    kinds = [e.KIND for e in seen]
    assert kinds[0] == "start" and "epoch" in kinds and kinds.count("start") == 1
    epochs = [e.epoch for e in seen if isinstance(e, wire.Epoch)]
    assert epochs == sorted(set(epochs))  # none read twice
