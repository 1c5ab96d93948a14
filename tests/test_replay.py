"""One replay of the store into the engine (live_lab.replay_tasks): the rule by which a restarted run and the regret
estimate of `status` and the window read what earlier runs did, on a real SQLite store."""

from __future__ import annotations

import numpy as np
import pytest
from test_live_lab import ARMS, make_store

from easeml_gui.engine.delivery import Run
from easeml_gui.engine.matrix import synthetic
from easeml_gui.engine.policies import get_policy
from easeml_gui.engine.selection import ModelSelection
from easeml_gui.engine.simulate import SimulatedExecutor
from easeml_gui.engine.types import REFIT_SECONDS, RETRYABLE, Observation, Task, TaskResult, TaskState
from easeml_gui.live_lab import LiveLab, engine_job, lab_prior, lab_upper_bounds, latest_jobs, replay_tasks
from easeml_gui.store import LabStore


def ended(store: LabStore, number: int, tenant: str, arm: int, state: TaskState, quality: float | None = None,
          cost: float = 1.0, **details) -> None:
    """Task t<number> of `tenant` trained ARMS[arm] and ended in `state` (as the live loop records it)."""
    task = Task(f"t{number:06d}", tenant, ARMS[arm], "cpu")
    store.task_state(task, TaskState.RUNNING)
    observation = Observation(tenant, ARMS[arm], quality, cost, float(number)) if state is TaskState.DONE else None
    store.record_result(TaskResult(task.task_id, tenant, ARMS[arm], "cpu", state, quality, cost, details=details),
                        observation)


def test_the_replay_rule_for_each_state_a_task_can_be_in(tmp_path) -> None:
    with make_store(tmp_path / "lab.sqlite", tenants=("ana", "ben")) as store:
        ended(store, 1, "ana", 0, TaskState.DONE, 0.7, cost=10.0, **{REFIT_SECONDS: 4.0})
        ended(store, 2, "ana", 1, TaskState.FAILED, cost=5.0)  # the model's fault: retired
        ended(store, 3, "ana", 2, TaskState.FAILED, cost=3.0, **{RETRYABLE: True})  # killed from outside: again
        ended(store, 4, "ana", 3, TaskState.CANCELLED, cost=2.0)
        ended(store, 5, "ana", 0, TaskState.DONE, 0.9, cost=8.0)  # m0 again, by hand: counts once, as its first
        store.task_state(Task("t000006", "ana", ARMS[4], "cpu"), TaskState.RUNNING)
        ended(store, 7, "ben", 0, TaskState.DONE, 0.5)  # a job the selection does not hold
        store.task_state(Task("t000008", "ben", ARMS[1], "cpu"), TaskState.QUEUED)
        store.task_state(Task("t000009", "ana", ARMS[5], "cpu"), TaskState.QUEUED)
        [job] = [job for job in latest_jobs(store) if job.tenant == "ana"]
        prior, costs, column = lab_prior(store, [job])
        selection = ModelSelection(prior, get_policy("default"), np.random.default_rng(0), costs)
        selection.add_job(store.tenant("ana"), engine_job(job, column))
        taught = []

        replayed = replay_tasks(selection, reversed(store.tasks_to_replay()), store.observations(job=job.id),
                                {"ana": job}, column, taught.append)

    record = selection.record("ana")
    assert (record.posterior.arms, record.posterior.values) == ([0], [0.7])  # done: the first result of m0 only
    assert record.runs == [Run(0.7, 6.0)]  # its selection's seconds: the refit's left out
    assert record.failed == [1] and record.retries == {2: 1}  # failed: retired, or handed out again
    assert record.pending == [4, 5]  # running or queued: pending
    assert record.started == 4  # served: m0, m1, m4, m5; the retried m2 and the cancelled m3 were handed back
    assert [r.task_id for r in replayed.unfinished] == ["t000006", "t000009"]  # decision order, whatever came in
    assert [r.task_id for r in replayed.orphaned] == ["t000008"]  # ben's: nothing here will run it
    assert [r.task_id for r in taught] == ["t000007", "t000008"]  # ben's tasks teach the cost model only


@pytest.fixture
def quality():
    q, _ = synthetic(rows=2, arms=len(ARMS), seed=5)
    return {"ana": q.values[0], "ben": q.values[1]}


def test_a_restarted_run_and_status_read_the_store_alike(tmp_path, quality) -> None:
    with make_store(tmp_path / "lab.sqlite", tenants=("ana", "ben")) as store:
        LiveLab(store, SimulatedExecutor(quality, None, 2)).run(max_tasks=4)
        done = store.tasks(TaskState.DONE)[0]
        # the same model trained again by hand, and a worker killed from outside: each replayed by one rule
        ended(store, 90, done.tenant, done.arm.index, TaskState.DONE, 0.99, cost=30.0)
        ended(store, 91, "ben", 5, TaskState.FAILED, cost=3.0, **{RETRYABLE: True})
        status = lab_upper_bounds(store)
        lab = LiveLab(store, SimulatedExecutor(quality, None, 2))  # a restart (it raised on a model done twice)
        assert lab.upper_bounds() == pytest.approx(status)
        record = lab.selection.record(done.tenant)
        assert 0.99 not in record.posterior.values and record.best < 0.99
        assert lab.selection.record("ben").retries == {5: 1}
