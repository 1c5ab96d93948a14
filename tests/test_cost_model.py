"""The work cost model: seconds predicted from training GFLOP before anything ran, then learned from every tenant's
tasks (pooled per model, scaled by each job's work, per kind of device); the simulator's history costs unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from easeml_gui.engine.policies import get_policy
from easeml_gui.engine.prior import (
    DEFAULT_GFLOPS, ELASTICITY_MEAN, REFERENCE_GFLOP_PER_SAMPLE, STARTUP_SECONDS, CostModel, JobWork, WorkCostModel,
    device_kind, fit_prior,
)
from easeml_gui.engine.selection import ModelSelection
from easeml_gui.engine.simulate import SimulatedExecutor
from easeml_gui.engine.types import Arm, Job, Task, TaskResult, TaskState, Tenant
from easeml_gui.execution.local import LocalExecutor
from easeml_gui.live_lab import LiveLab, job_work
from easeml_gui.store import LabStore
from easeml_gui.training.arms import arm_spec, training_gflop
from easeml_gui.training.catalogue import Schema
from easeml_gui.training.datasets import register_dataset
from easeml_gui.training.digits import export_digits

NAMES = ("mobilenet_v3_small", "shufflenet_v2_x1_0", "resnet18")
ARMS = tuple(Arm(name, k) for k, name in enumerate(NAMES))
SAMPLES = 2000  # train images x epochs of the smaller dataset
WORK = JobWork(SAMPLES, (200.0, 500.0, 4000.0))  # each arm's training GFLOP on it
TWICE = JobWork(2 * SAMPLES, tuple(2 * g for g in WORK.gflop))
CPU_STARTUP = STARTUP_SECONDS["cpu"]


def at_default_rate(work: JobWork, slower: float = 1.0) -> np.ndarray:
    """The prior's price (the reference model's seconds per sample at the default rate, scaled by GFLOP per sample
    to the prior's elasticity), or that of a device `slower` times slower."""
    relative = np.array(work.gflop) / work.samples / REFERENCE_GFLOP_PER_SAMPLE
    per_sample = REFERENCE_GFLOP_PER_SAMPLE / DEFAULT_GFLOPS["cpu"] * relative**ELASTICITY_MEAN
    return CPU_STARTUP + slower * work.samples * per_sample


def selection(work_by_tenant: dict[str, JobWork | None]) -> ModelSelection:
    prior = fit_prior(np.zeros((0, len(NAMES))), NAMES)
    sel = ModelSelection(prior, get_policy("default"), np.random.default_rng(0))
    for tenant, work in work_by_tenant.items():
        sel.add_job(Tenant(tenant), Job(tenant, ARMS), work)
    return sel


def costs(sel: ModelSelection, tenant: str) -> np.ndarray:
    return sel.snapshot().cost[sel.tenants.index(tenant), :len(NAMES)].copy()


def result(tenant: str, arm: int, seconds: float, state: TaskState = TaskState.DONE, device: str = "cpu") -> TaskResult:
    quality = 0.8 if state is TaskState.DONE else None
    return TaskResult(f"{tenant}-{arm}", tenant, ARMS[arm], device, state, quality, seconds)


def test_a_fresh_prediction_of_a_real_run_is_within_a_sane_factor(tmp_path):
    """One real worker run on the digits: before anything ran, start-up + GFLOP at the CPU's default rate."""
    info = register_dataset(export_digits(tmp_path / "source", per_class=30), tmp_path / "digits")
    work = JobWork(len(info.train), (training_gflop(arm_spec(NAMES[0]), Schema(1, 16, 10), len(info.train), 1),))
    with LocalExecutor(tmp_path / "work", ["cpu"]) as executor:
        executor.submit(Task("t000001", "ana", ARMS[0], "cpu", config={
            "dataset": str(tmp_path / "digits"), "epochs": 1, "image_size": 16, "augment": ["crop"]}))
        ended = []
        while not ended:
            ended = executor.wait(5.0)
    assert ended[0].state is TaskState.DONE, ended[0].error
    predicted = WorkCostModel().predict([NAMES[0]], work, "cpu")[0]
    ratio = predicted / ended[0].cost
    # The defaults describe an idle machine; a busy 2-core test machine runs 3-5x slower. Today's 1 s is 15-50x off.
    assert 1 / 8 < ratio < 8, f"predicted {predicted:.1f} s, took {ended[0].cost:.1f} s"


def test_before_any_task_seconds_are_startup_plus_work_at_the_default_rate():
    sel = selection({"ana": WORK})
    np.testing.assert_allclose(costs(sel, "ana"), at_default_rate(WORK))


def test_another_tenants_first_task_of_a_model_is_priced_from_it_scaled_by_its_work():
    sel = selection({"ana": WORK, "ben": TWICE})
    seconds = CPU_STARTUP + 30.0
    sel.tell(result("ana", 2, seconds), 0.0)
    ana, ben = costs(sel, "ana"), costs(sel, "ben")
    # ana's own model is predicted nearly at what it took; ben's twice the data trains twice as long.
    assert ana[2] == pytest.approx(seconds, rel=0.05)
    startup = sel.work_costs.startup("cpu")
    assert ben[2] - startup == pytest.approx(2 * (ana[2] - startup), rel=1e-9)


def test_the_first_task_fixes_most_of_the_rate_error_for_every_arm():
    """A device 10x slower than the default: after one task of one model, the others are within 2.5x."""
    truth = at_default_rate(WORK, slower=10)
    sel = selection({"ana": WORK})
    before = costs(sel, "ana") / truth
    sel.tell(result("ana", 0, truth[0]), 0.0)
    after = costs(sel, "ana") / truth
    assert before[1:].max() < 0.2
    assert np.all((0.4 < after[1:]) & (after[1:] < 2.5)), after


@pytest.mark.parametrize("state", [TaskState.FAILED, TaskState.CANCELLED])
def test_failed_and_cancelled_tasks_teach_nothing(state):
    sel = selection({"ana": WORK, "ben": WORK})
    before = costs(sel, "ben")
    sel.ask("cpu", 0.0)
    sel.tell(result(sel.tenants[0], 0, 500.0, state), 1.0)
    sel.replay_failure("ben", ARMS[1], 700.0)
    np.testing.assert_array_equal(costs(sel, "ben"), before)


def test_each_kind_of_device_has_its_rate_and_the_free_device_prices_the_decision():
    sel = selection({"ana": WORK, "ben": WORK})
    cuda_before = WorkCostModel().predict(NAMES, WORK, "cuda:1")
    sel.tell(result("ana", 0, at_default_rate(WORK, slower=100)[0]), 0.0)  # a slow CPU
    cpu = costs(sel, "ben")
    decision = sel.ask("cuda:0", 1.0)
    cuda = costs(sel, "ben")
    chosen = next(s for s in decision.scores if s.tenant == decision.tenant)
    assert chosen.predicted_cost == pytest.approx(costs(sel, decision.tenant)[ARMS.index(decision.arm)])
    assert device_kind("cuda:0") == "cuda"
    # The CPU's rate moved every CPU price ~100x; the GPU's prices moved only through the model's own offset.
    assert np.all(cpu[1:] > 10 * at_default_rate(WORK)[1:])
    np.testing.assert_allclose(cuda[1:], cuda_before[1:], rtol=1e-9)
    assert cuda[0] > cuda_before[0]


def test_the_prediction_depends_on_the_set_of_tasks_not_their_order():
    tasks = [(name, float(n), float(g), device, float(s)) for name, n, g, device, s in zip(
        NAMES * 3, np.geomspace(100, 900, 9), np.geomspace(1, 300, 9), ["cpu", "cuda:0", "cpu"] * 3,
        np.geomspace(9, 900, 9) * ([1, 0.3, 1.7] * 3))]
    models = [WorkCostModel(), WorkCostModel()]
    for task in tasks:
        models[0].observe(*task)
    for task in reversed(tasks):
        models[1].observe(*task)
    for device in ("cpu", "cuda:3"):
        np.testing.assert_array_equal(models[0].predict(NAMES, WORK, device), models[1].predict(NAMES, WORK, device))


def test_jobs_without_work_figures_keep_the_history_costs():
    """The simulator's path: a tenant's costs are the history's, shifted by its own, whatever other jobs teach."""
    history = np.array([[10.0, 100.0, 1000.0], [20.0, 200.0, 2000.0]])
    prior = fit_prior(np.zeros((0, len(NAMES))), NAMES)
    sel = ModelSelection(prior, get_policy("default"), np.random.default_rng(0), CostModel.from_history(history, 3))
    sel.add_job(Tenant("sim"), Job("sim", ARMS))
    sel.add_job(Tenant("ana"), Job("ana", ARMS), WORK)
    sel.tell(result("sim", 1, 50.0), 0.0)
    sel.tell(result("ana", 2, 80.0), 0.0)
    want = CostModel.from_history(history, 3).predict(np.array([1]), [50.0])
    np.testing.assert_array_equal(costs(sel, "sim"), want)


# ---- the live lab: work figures from the store, and a restart prices as the unbroken run -----------------------

TENANT_SIZES = {"ana": 200, "ben": 400, "cleo": 800}  # train images of each tenant's dataset
ANA_TRAINING_SECONDS = np.array([10.0, 20.0, 40.0])  # each model's true rate on the "sim" devices, on ana's data


def make_lab(path) -> LabStore:
    store = LabStore(path)
    for i, (name, images) in enumerate(TENANT_SIZES.items()):
        split = {"given": False, "seed": 0, "train": [f"0/{k}.png" for k in range(images)], "val": []}
        store.add_dataset(f"{name}-data", f"/data/{name}", f"{i:064d}", manifest={}, stats={}, split=split)
        store.add_tenant(name)
        store.add_job(name, f"{name}-data", ARMS, epochs=2, image_size=16, seed=3,
                      schema={"channels": 1, "image_size": 16, "num_classes": 10})
    return store


def work_of(store: LabStore, tenant: str) -> JobWork:
    (job,) = store.jobs(tenant=tenant)
    return job_work(job, store.dataset(job.dataset))


def true_seconds(store: LabStore, tenant: str) -> np.ndarray:
    """Start-up, then training time in proportion to work (dataset size), at a rate of each model's own."""
    return CPU_STARTUP + work_of(store, tenant).samples * ANA_TRAINING_SECONDS / work_of(store, "ana").samples


def lab_executor(store: LabStore) -> SimulatedExecutor:
    quality = {name: np.array([0.6, 0.7, 0.9]) - 0.1 * i for i, name in enumerate(TENANT_SIZES)}
    return SimulatedExecutor(quality, {name: true_seconds(store, name) for name in TENANT_SIZES}, devices=2)


def prices(lab: LiveLab, store: LabStore) -> dict[str, np.ndarray]:
    return {t: lab.selection.work_costs.predict(NAMES, work_of(store, t), "sim:0") for t in TENANT_SIZES}


def test_the_live_lab_prices_from_work_and_learns_from_every_tenant(tmp_path):
    with make_lab(tmp_path / "lab.sqlite") as store:
        lab = LiveLab(store, lab_executor(store))
        first = {t: costs(lab.selection, t) for t in TENANT_SIZES}
        lab.run()
        for tenant in TENANT_SIZES:
            work = work_of(store, tenant)
            np.testing.assert_allclose(first[tenant], WorkCostModel().predict(NAMES, work, "sim:0"))
            np.testing.assert_allclose(costs(lab.selection, tenant), true_seconds(store, tenant), rtol=0.1)
        decision = store.decisions(limit=1000)[-1]  # the first: its explanation shows the price from work
        chosen = next(s for s in decision.scores if s.tenant == decision.tenant)
        assert chosen.predicted_cost == pytest.approx(first[decision.tenant][NAMES.index(decision.arm.name)])


def test_a_restarted_lab_prices_as_the_unbroken_one(tmp_path):
    """Replayed in decision order, the results a crashed run had seen give its prices; every result, those of a
    run never interrupted, whichever order they came in (and one finished job's tasks count at every start)."""
    with make_lab(tmp_path / "whole.sqlite") as store:
        unbroken = LiveLab(store, lab_executor(store))
        unbroken.run()
        whole = prices(unbroken, store)
    with make_lab(tmp_path / "crash.sqlite") as store:
        crashed = LiveLab(store, lab_executor(store))
        crashed.run(max_tasks=5)
        crashed.scheduler.fill_devices()  # two tasks start ... and the process dies before they end
        at_crash = prices(crashed, store)
    with LabStore(tmp_path / "crash.sqlite") as store:
        resumed = LiveLab(store, lab_executor(store))
        for tenant, seconds in prices(resumed, store).items():
            np.testing.assert_array_equal(seconds, at_crash[tenant])
        resumed.run()
        for tenant, seconds in prices(resumed, store).items():
            np.testing.assert_array_equal(seconds, whole[tenant])
        done = [job for job in store.jobs() if job.state.value == "done"]
        assert done  # a restart now replays finished jobs' tasks as tasks of jobs it no longer runs
        again = LiveLab(store, lab_executor(store))
        for tenant, seconds in prices(again, store).items():
            np.testing.assert_array_equal(seconds, whole[tenant])


# (arm, samples, GFLOP, seconds) of a real lab's first tasks: five digits tenants on the 2-core machine's CPU
FIRST_TASKS = [
    ("logistic_regression", 1200, 0.02458, 2.7), ("logistic_regression", 6000, 0.1229, 2.9),
    ("logistic_regression", 10790, 0.221, 2.9), ("logistic_regression", 6000, 0.3686, 10.1),
    ("svc", 1200, 0.02949, 2.2), ("svc", 6000, 0.7373, 3.0), ("svc", 6000, 2.212, 4.9), ("svc", 10790, 2.384, 2.9),
    ("random_forest", 1200, 0.3686, 3.8), ("random_forest", 6000, 1.843, 5.4), ("random_forest", 6000, 5.53, 11.5),
    ("random_forest", 10790, 3.315, 7.5), ("hist_gradient_boosting", 1200, 0.3686, 4.8),
    ("hist_gradient_boosting", 6000, 1.843, 8.6), ("hist_gradient_boosting", 10790, 3.315, 12.7),
    ("hist_gradient_boosting", 6000, 5.53, 20.6), ("mobilenet_v3_small", 1200, 83.76, 31.3),
    ("mobilenet_v3_small", 6000, 418.8, 131.4), ("mobilenet_v3_small", 10790, 466.9, 132.1),
    ("mobilenet_v3_small", 6000, 418.8, 118.8),
]


def test_a_models_first_task_is_priced_from_its_own_groups_speed_not_the_classical_learners():
    """Classical learners' proxy GFLOP say nothing of how fast a network trains. With one rate for both, the lab
    these tasks come from priced mobilenet_v3_large's first task (1,594 GFLOP over 6,000 samples; it took 233 s)
    at 2,140 s; grouped, the networks' speed carries over from mobilenet_v3_small's."""
    groups = {arm: arm_spec(arm).kind for arm, *_ in FIRST_TASKS}
    grouped, shared = WorkCostModel(groups=groups), WorkCostModel()
    for model in (grouped, shared):
        for task in FIRST_TASKS:
            model.observe(task[0], *task[1:3], "cpu", task[3])
    work = JobWork(6000, (1594.0,))
    grouped_off, shared_off = (m.predict(["mobilenet_v3_large"], work, "cpu")[0] / 233.2 for m in (grouped, shared))
    assert 1 < grouped_off < 3.5, grouped_off  # 3.2x: its own offset and elasticity are still to learn
    assert shared_off > 2 * grouped_off  # 7.5x
