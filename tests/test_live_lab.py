"""The live lab against a real SQLite store, with the simulated executor (the same Executor protocol the local
and SSH executors implement): persistence of every step, resume after an interruption, changes while running."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from easeml_gui.engine.matrix import synthetic
from easeml_gui.engine.reference_prior import reference_history
from easeml_gui.engine.simulate import SimulatedExecutor
from easeml_gui.engine.types import MAX_RETRIES, RETRYABLE, TENANT_RUNS, Arm, TaskState
from easeml_gui.live_lab import LabEvents, LiveLab, lab_prior, lab_upper_bounds
from easeml_gui.store import JobState, LabStore

ARMS = tuple(Arm(f"m{k}", k) for k in range(6))
TENANTS = ("ana", "ben", "cleo", "dan")


@pytest.fixture
def quality():
    q, _ = synthetic(rows=len(TENANTS), arms=len(ARMS), seed=5)
    return {name: q.values[i] for i, name in enumerate(TENANTS)}


def make_store(path, tenants=TENANTS):
    store = LabStore(path)
    for i, name in enumerate(tenants):
        store.add_dataset(f"{name}-data", f"/data/{name}", f"{i:064d}", manifest={}, stats={})
        store.add_tenant(name)
        store.add_job(name, f"{name}-data", ARMS, epochs=1, image_size=32, seed=7)
    return store


def executor(quality, devices=2):
    return SimulatedExecutor(quality, None, devices)


def decided_sequence(store):
    return [(t.tenant, t.arm.name) for t in sorted(store.tasks(), key=lambda t: t.task_id) if t.state is not TaskState.CANCELLED]


def test_a_run_persists_every_task_observation_and_decision(tmp_path, quality):
    with make_store(tmp_path / "lab.sqlite") as store:
        ended = LiveLab(store, executor(quality)).run()
        assert ended == len(TENANTS) * len(ARMS)
        observations = store.observations()
        assert len(observations) == ended
        assert len({(o.tenant, o.arm.name) for o in observations}) == ended  # no duplicate observation
        assert all(t.state is TaskState.DONE for t in store.tasks())
        assert all(j.state is JobState.DONE for j in store.jobs())
        assert len(store.decisions(limit=1000)) == ended
        status = store.status()
        assert status["tasks"]["done"] == ended
        for row in status["tenants"]:
            assert row["best_accuracy"] == pytest.approx(float(np.max(quality[row["name"]])))


def test_each_task_carries_its_tenants_runs_when_it_was_decided(tmp_path, quality):
    """What the worker compares its run with to know whether it is the model the tenant gets (and refits it)."""
    with make_store(tmp_path / "lab.sqlite") as store:
        LiveLab(store, executor(quality, devices=1)).run()
        observed = {(o.tenant, o.arm.name): [o.quality, o.cost] for o in store.observations()}
        runs: dict[str, list[list[float]]] = {tenant: [] for tenant in TENANTS}
        for task in sorted(store.tasks(), key=lambda t: t.task_id):  # one device: each ends before the next
            assert task.config[TENANT_RUNS] == runs[task.tenant], task.task_id
            runs[task.tenant].append(observed[(task.tenant, task.arm.name)])


def test_resume_after_a_crash_mid_task_runs_the_interrupted_task_first_and_decides_as_an_unbroken_run(tmp_path, quality):
    with make_store(tmp_path / "whole.sqlite") as store:
        LiveLab(store, executor(quality)).run()
        unbroken = decided_sequence(store)

    with make_store(tmp_path / "crash.sqlite") as store:
        lab = LiveLab(store, executor(quality))
        lab.run(max_tasks=7)
        lab.scheduler.fill_devices()  # two tasks start ... and the process dies before they end
        assert len(store.tasks(TaskState.RUNNING)) == 2
    with LabStore(tmp_path / "crash.sqlite") as store:
        resumed = LiveLab(store, executor(quality))
        assert len(resumed.scheduler.backlog) == 2
        assert not store.tasks(TaskState.RUNNING)  # nothing left stuck in running
        resumed.run()
        assert decided_sequence(store) == unbroken
        assert all(t.state is TaskState.DONE for t in store.tasks())
        assert len(store.observations()) == len(TENANTS) * len(ARMS)
        assert {t.attempt for t in store.tasks()} == {1, 2}


def test_paused_tenants_wait_and_new_tenants_join_while_running(tmp_path, quality):
    with make_store(tmp_path / "lab.sqlite", tenants=("ana", "ben")) as store:
        store.update_tenant("ben", paused=True)
        lab = LiveLab(store, executor(quality, devices=1))
        lab.run(max_tasks=len(ARMS))
        assert {t.tenant for t in store.tasks()} == {"ana"}
        store.add_tenant("cleo", weight=3.0)
        store.add_dataset("cleo-data", "/data/cleo", "c" * 64, manifest={}, stats={})
        store.add_job("cleo", "cleo-data", ARMS, epochs=1, image_size=32)
        store.update_tenant("ben", paused=False)
        lab.refresh()
        lab.run()
        assert {t.tenant for t in store.tasks()} == {"ana", "ben", "cleo"}
        assert all(j.state is JobState.DONE for j in store.jobs())


def test_a_fresh_labs_prior_holds_a_familys_arms_closer_than_arms_of_two_families(tmp_path):
    with make_store(tmp_path / "lab.sqlite", tenants=()) as store:
        prior, _, column = lab_prior(store, [])
    cov = lambda a, b: prior.cov[column[a], column[b]]  # noqa: E731
    assert cov("resnet18", "mobilenet_v2") > cov("resnet18", "svc") > 0
    assert cov("svc", "random_forest") > cov("svc", "resnet18")
    assert cov("resnet18@imagenet-probe", "vgg11_bn@imagenet-probe") > cov("resnet18@imagenet-probe", "resnet18")


def test_a_finished_lab_teaches_the_prior_of_the_next_job(tmp_path, quality):
    with make_store(tmp_path / "lab.sqlite") as store:
        LiveLab(store, executor(quality)).run()
        store.add_tenant("eve")
        store.add_dataset("eve-data", "/data/eve", "e" * 64, manifest={}, stats={})
        store.add_job("eve", "eve-data", ARMS, epochs=1, image_size=32)
        lab = LiveLab(store, executor({**quality, "eve": quality["ana"]}))
        # one history row per finished job's dataset, beside the published reference's datasets
        assert lab.selection.prior.rows == len(TENANTS) + len(reference_history([a.name for a in ARMS])[1])
        # The history's arms come first; the catalogue's models without history follow with the wide prior.
        np.testing.assert_allclose(lab.selection.prior.mean[:len(ARMS)], np.mean([quality[t] for t in TENANTS], axis=0),
                                   atol=1e-9)


def test_upper_bounds_come_from_the_gp_and_shrink_to_the_best_once_every_model_ran(tmp_path, quality):
    with make_store(tmp_path / "lab.sqlite") as store:
        before = lab_upper_bounds(store)
        assert all(0.0 < bound for bound in before.values())  # nothing observed: the prior's optimism
        lab = LiveLab(store, executor(quality))
        lab.run(max_tasks=8)
        during = lab_upper_bounds(store)
        for name in TENANTS:
            # What the running lab's own GPs say: status and the GUI estimate regret as the engine sees it.
            assert during[name] == pytest.approx(lab.selection.record(name).best + lab.selection.optimistic_regret(name))
            assert during[name] >= lab.selection.record(name).best
        regret_during = store.status(during)["global_regret_estimate"]
        assert 0.0 < regret_during < store.status()["global_regret_estimate"]  # tighter than the 1.0 ceiling
        lab.run()
        after = lab_upper_bounds(store)
        assert after == pytest.approx({name: float(np.max(quality[name])) for name in TENANTS})
        assert store.status(after)["global_regret_estimate"] == 0.0


def test_a_job_whose_last_result_landed_before_a_crash_is_marked_done_on_restart(tmp_path, quality):
    with make_store(tmp_path / "lab.sqlite", tenants=("ana",)) as store:
        LiveLab(store, executor(quality)).run()
        job = store.jobs()[0]
        store.set_job_state(job.id, JobState.ACTIVE)  # the state a kill -9 right after the last result leaves
    with LabStore(tmp_path / "lab.sqlite") as store:
        lab = LiveLab(store, executor(quality))
        assert store.job(job.id).state is JobState.DONE
        assert lab.run() == 0  # and nothing is trained again
        assert len(store.observations()) == len(ARMS)


class NoDevices(SimulatedExecutor):
    """A lab whose every host is away or resting: no device takes a task."""

    def devices(self) -> tuple[str, ...]:
        return ()


@pytest.mark.parametrize("case", ["paused", "no device"])
def test_a_lab_that_waits_says_why(tmp_path, quality, case):
    with make_store(tmp_path / "lab.sqlite", tenants=("ana",)) as store:
        if case == "paused":
            store.update_tenant("ana", paused=True)
        said: list[str] = []
        lab = LiveLab(store, (NoDevices if case == "no device" else SimulatedExecutor)(quality, None, 1),
                      events=LabEvents(on_idle=said.append))
        lab.run(should_stop=lambda: bool(said), poll=0.01)
        expected = "paused or over their quota" if case == "paused" else "no device takes a task now"
        assert said and expected in said[0]


def test_a_tenant_over_its_quota_gets_nothing_more_until_the_quota_is_raised(tmp_path, quality):
    with make_store(tmp_path / "lab.sqlite", tenants=("ana", "ben", "cleo")) as store:
        store.set_quota("ana", 3.0)  # seconds of device time; every simulated task takes 1 s
        store.update_tenant("ana", weight=5.0)  # the policy would favour her without the quota
        lab = LiveLab(store, executor(quality, devices=2))
        lab.run(max_tasks=2 * len(ARMS) + 4)
        used = [t for t in store.tasks() if t.tenant == "ana"]
        assert len(used) <= 4  # served while under 3 s: at most one more task in flight on the second device
        assert all(j.state is JobState.DONE for j in store.jobs() if j.tenant != "ana")
        store.set_quota("ana", None)
        lab.refresh()
        lab.run()
        assert all(j.state is JobState.DONE for j in store.jobs())


def test_a_job_over_catalogue_models_no_earlier_job_used_joins_while_running(tmp_path, quality):
    with make_store(tmp_path / "lab.sqlite", tenants=("ana",)) as store:
        late = {**quality, "eve": np.linspace(0.5, 0.9, 64)}  # indexed by prior column: long enough for any
        lab = LiveLab(store, executor(late, devices=1))
        lab.run(max_tasks=2)
        store.add_tenant("eve")
        store.add_dataset("eve-data", "/data/eve", "e" * 64, manifest={}, stats={})
        store.add_job("eve", "eve-data", (Arm("resnet18", 0), Arm("mobilenet_v2", 1)), epochs=1, image_size=32)
        lab.refresh()
        lab.run()
        assert sorted(t.arm.name for t in store.tasks() if t.tenant == "eve") == ["mobilenet_v2", "resnet18"]
        assert all(j.state is JobState.DONE for j in store.jobs())


class KillingExecutor(SimulatedExecutor):
    """The simulated devices, where ana's m2 workers are killed from outside (no result) the first `kills` times."""

    def __init__(self, quality, kills: int) -> None:
        super().__init__(quality, None, 2)
        self.kills = kills

    def wait(self, timeout=None):
        results = super().wait(timeout)
        for i, result in enumerate(results):
            if (result.tenant, result.arm.name, result.state) == ("ana", "m2", TaskState.DONE) and self.kills > 0:
                self.kills -= 1
                results[i] = replace(result, state=TaskState.FAILED, quality=None, error="killed by signal 9",
                                     details={RETRYABLE: True})
        return results


def test_a_model_whose_worker_was_killed_is_tried_again_and_its_result_counted_once(tmp_path, quality):
    with make_store(tmp_path / "lab.sqlite", tenants=("ana", "ben")) as store:
        LiveLab(store, KillingExecutor(quality, kills=1)).run()
        m2 = [t for t in store.tasks() if (t.tenant, t.arm.name) == ("ana", "m2")]
        assert [t.state for t in m2] == [TaskState.FAILED, TaskState.DONE]
        assert m2[0].error == "killed by signal 9" and m2[0].details[RETRYABLE]
        assert len(store.observations()) == 2 * len(ARMS)
        assert all(j.state is JobState.DONE for j in store.jobs())


def test_a_model_killed_every_time_is_retired_after_its_retries(tmp_path, quality):
    with make_store(tmp_path / "lab.sqlite", tenants=("ana", "ben")) as store:
        LiveLab(store, KillingExecutor(quality, kills=100)).run()
        m2 = [t for t in store.tasks() if (t.tenant, t.arm.name) == ("ana", "m2")]
        assert [t.state for t in m2] == [TaskState.FAILED] * (MAX_RETRIES + 1)
        assert len(store.observations()) == 2 * len(ARMS) - 1


def test_a_restart_after_a_kill_still_tries_the_model_again(tmp_path, quality):
    with make_store(tmp_path / "lab.sqlite", tenants=("ana",)) as store:
        lab = LiveLab(store, KillingExecutor(quality, kills=1))
        while not [t for t in store.tasks(TaskState.FAILED)]:
            lab.run(max_tasks=lab.scheduler.tasks_finished + 1)
    with LabStore(tmp_path / "lab.sqlite") as store:
        LiveLab(store, executor(quality)).run()
        m2 = [t.state for t in store.tasks() if t.arm.name == "m2"]
        assert m2 == [TaskState.FAILED, TaskState.DONE]
        assert all(j.state is JobState.DONE for j in store.jobs())


def test_each_decision_keeps_the_regret_estimate_status_reported_when_it_was_made(tmp_path, quality):
    with make_store(tmp_path / "lab.sqlite") as store:
        reported = []

        def status_now(decision, task) -> None:  # what `status` (and the window) said right after the decision
            reported.append(store.status(lab_upper_bounds(store))["global_regret_estimate"])

        LiveLab(store, executor(quality), events=LabEvents(on_decision=status_now)).run(max_tasks=12)
        believed = [estimate for _, estimate in store.believed_regret()]
        assert len(believed) == 12 and believed == pytest.approx(reported)
        assert believed[0] > believed[-1] > 0.0  # the estimate shrinks as results arrive
