"""A model is not placed on a GPU whose free memory is below its estimated need: the engine offers such a device
only the arms that fit (JobWork.memory_mib against Executor.free_memory_mib), a GPU too full for every arm left
gets nothing while the other devices go on, and an SSH host's free memory is what nvidia-smi last said."""

from __future__ import annotations

import numpy as np
import pytest
from test_ssh_executor import PROBE, smi

from easeml_gui.engine.policies import get_policy
from easeml_gui.engine.prior import JobWork, fit_prior
from easeml_gui.engine.scheduler import Scheduler, SchedulerHooks
from easeml_gui.engine.selection import ModelSelection
from easeml_gui.engine.simulate import SimulatedExecutor
from easeml_gui.engine.types import Arm, Job, Tenant
from easeml_gui.remote.placement import Placement
from easeml_gui.training.arms import arm_spec, training_memory_mib
from easeml_gui.training.catalogue import Schema

NAMES = ("small", "medium", "large")
ARMS = tuple(Arm(name, k) for k, name in enumerate(NAMES))
NEEDS = (1_000.0, 6_000.0, 30_000.0)  # MiB each arm is estimated to need
WORK = JobWork(1000, (10.0, 50.0, 400.0), NEEDS)


class GPUs(SimulatedExecutor):
    """Simulated devices named as GPUs, each with the free memory given."""

    def __init__(self, free: dict[str, float | None], tenants: list[str]) -> None:
        quality = {t: np.array([0.5, 0.7, 0.9]) for t in tenants}
        super().__init__(quality, {t: np.array([1.0, 2.0, 3.0]) for t in tenants}, len(free))
        self._devices = tuple(free)
        self.free = free

    def free_memory_mib(self, device: str) -> float | None:
        return self.free[device]


def selection(tenants: list[str]) -> ModelSelection:
    sel = ModelSelection(fit_prior(np.zeros((0, len(NAMES))), NAMES), get_policy("default"), np.random.default_rng(0))
    for tenant in tenants:
        sel.add_job(Tenant(tenant), Job(tenant, ARMS), WORK)
    return sel


def test_a_device_is_offered_only_the_arms_that_fit_its_free_memory():
    for free, fitting in ((None, set(NAMES)), (50_000.0, set(NAMES)), (8_000.0, {"small", "medium"}),
                          (2_000.0, {"small"})):
        sel = selection(["alice", "bob"])
        asked = [sel.ask("cuda:0", 0.0, free) for _ in range(2 * len(fitting) + 1)]
        chosen = [d.arm.name for d in asked if d is not None]
        assert sorted(chosen) == sorted(list(fitting) * 2)  # every fitting arm of both tenants, nothing else
        assert asked[-1] is None  # then nothing is left that fits
    assert selection(["alice"]).ask("cuda:0", 0.0, 500.0) is None  # nothing fits half a GiB


def test_a_gpu_too_full_for_every_arm_gets_nothing_and_the_others_go_on():
    tenants = ["alice", "bob"]
    executor = GPUs({"cuda:0": 500.0, "cuda:1": 2_000.0, "cuda:2": None}, tenants)  # cuda:2: no limit known
    placed: list[tuple[str, str]] = []
    hooks = SchedulerHooks(on_decision=lambda decision, task: placed.append((task.device, task.arm.name)))
    scheduler = Scheduler(selection(tenants), executor, hooks)
    first = dict(placed) if scheduler.fill_devices() else {}
    assert "cuda:0" not in first and first["cuda:1"] == "small" and "cuda:2" in first
    scheduler.run()  # to the end: every arm of both tenants ran, each only where it fits
    assert sorted(arm for _, arm in placed) == sorted(NAMES * 2)
    assert not any(device == "cuda:0" for device, _ in placed)
    assert {arm for device, arm in placed if device == "cuda:1"} <= {"small"}


def test_work_figures_carry_one_memory_need_per_arm():
    with pytest.raises(ValueError, match="one memory need"):
        JobWork(1000, (10.0, 50.0), (1.0,))


def test_the_estimate_grows_with_the_model_and_the_image_size_and_a_classical_learner_needs_no_gpu():
    small, large = Schema(3, 32, 10), Schema(3, 224, 10)
    resnet18, resnet50 = arm_spec("resnet18"), arm_spec("resnet50")
    assert training_memory_mib(resnet18, small, 5000, 10) < training_memory_mib(resnet18, large, 5000, 10)
    assert training_memory_mib(resnet18, large, 5000, 10) < training_memory_mib(resnet50, large, 5000, 10)
    probe = arm_spec("resnet18@imagenet-probe")
    assert training_memory_mib(probe, large, 5000, 10) < training_memory_mib(resnet18, large, 5000, 10)
    assert training_memory_mib(arm_spec("svc"), large, 5000, 10) == 0.0
    # Orders of magnitude a user would recognise: resnet50 at 224 px, batch 64, under autocast: several GiB.
    assert 4_000 < training_memory_mib(resnet50, large, 5000, 10) < 16_000


def test_an_ssh_hosts_free_memory_is_nvidia_smis_latest_view():
    placement = Placement(PROBE)
    now = smi((100, []), (30000, []), (39500, []))
    assert [placement.free_mib(now, f"cuda:{i}") for i in range(3)] == [40860.0, 10960.0, 1460.0]
    assert placement.free_mib(None, "cuda:1") == 40000.0  # before nvidia-smi answered: the probe's figure
    assert placement.free_mib(now, "cpu") is None and placement.free_mib(now, "cuda:7") is None
