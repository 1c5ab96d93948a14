"""A simulated lab for `--demo` without a store: the engine's live loop on a synthetic matrix, kept in memory
(pure Python: no Qt, nothing written). Tenants and models get lab-like names so the screen reads naturally."""

from __future__ import annotations

from dataclasses import replace

from ..engine.matrix import Matrix, synthetic
from ..engine.policies import DEFAULT_POLICY
from ..engine.scheduler import Scheduler, SchedulerHooks
from ..engine.simulate import build_replay
from ..engine.types import Decision, Observation, TaskResult, TaskState, Tenant
from ..lab.read_model import TenantInfo
from ..lab.tenants import HOUR
from .lab_snapshot import LabSnapshot, RunningRow, TaskSpan, build_snapshot

DEMO_SOURCE = "demo lab (simulated, nothing is saved)"
DEMO_TENANTS = ("radiology", "plankton", "birdsong", "retina", "satellite", "leaf-disease", "traffic-signs",
                "microscopy")
DEMO_WEIGHTS = (1.0, 1.0, 2.0, 1.0, 0.5, 1.0, 1.0, 1.0)
# In order of cost (the synthetic matrix sorts arms by capacity, and cost grows with it).
DEMO_MODELS = ("squeezenet1_1", "shufflenet_v2_x0_5", "mobilenet_v3_small", "shufflenet_v2_x1_0", "mnasnet1_0",
               "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "regnet_y_400mf", "resnet18",
               "efficientnet_b1", "densenet121", "resnet34", "efficientnet_b2", "resnet50", "convnext_tiny",
               "densenet169", "wide_resnet50_2", "vgg11", "vgg16")


def _named(matrix: Matrix) -> Matrix:
    return replace(matrix, arms=DEMO_MODELS[: len(matrix.arms)])


def run_demo_lab(seed: int = 3, devices: int = 3, stop_after: int = 52, pause_after: int = 36) -> LabSnapshot:
    """Run the default policy until `stop_after` tasks ended (some still running), pausing one tenant midway."""
    quality, cost = (_named(m) for m in synthetic(rows=40, arms=len(DEMO_MODELS), seed=seed))
    tenants = [Tenant(name, weight) for name, weight in zip(DEMO_TENANTS, DEMO_WEIGHTS)]
    replay = build_replay(quality, cost, DEFAULT_POLICY, tenants, devices, seed)
    selection, executor, optimum = replay.selection, replay.executor, replay.optimum
    decisions: list[Decision] = []
    observations: list[Observation] = []
    ended: dict[str, dict[str, int]] = {t.name: {"done": 0, "failed": 0} for t in tenants}

    started: dict[str, float] = {}
    spans: list[TaskSpan] = []  # the finished tasks (the simulation's clock is not the wall clock "now" is read on)

    def on_decision(decision: Decision, task) -> None:
        decisions.append(decision)
        started[task.task_id] = decision.time

    def on_result(result: TaskResult, observation: Observation | None) -> None:
        if result.state in (TaskState.DONE, TaskState.FAILED):
            ended[result.tenant][result.state.value] += 1
        begin = started.pop(result.task_id, None)
        if begin is not None:
            spans.append(TaskSpan(result.task_id, result.tenant, result.device, begin, begin + result.cost,
                                  result.state.value))
        if observation is not None:
            observations.append(observation)

    paused = tenants[-1]

    def stop() -> bool:
        finished = sum(e["done"] + e["failed"] for e in ended.values())
        if finished >= pause_after and not selection.record(paused.name).tenant.paused:
            selection.update_tenant(replace(paused, paused=True))  # the admin paused it while the lab ran
        return finished >= stop_after

    Scheduler(selection, executor, SchedulerHooks(on_decision=on_decision, on_result=on_result)).run(stop=stop)
    tenants = [selection.record(t.name).tenant for t in tenants]

    best: dict[str, Observation] = {}
    for o in observations:
        if o.tenant not in best or o.quality > best[o.tenant].quality:
            best[o.tenant] = o
    rows = [
        {"name": t.name, "weight": t.weight, "tasks_done": ended[t.name]["done"],
         "best_accuracy": best[t.name].quality if t.name in best else None,
         "best_model": best[t.name].arm.name if t.name in best else None}
        for t in sorted(tenants, key=lambda t: t.name)
    ]
    regret = sum(t.weight * max(0.0, optimum[t.name] - (best[t.name].quality if t.name in best else 0.0))
                 for t in tenants) / sum(t.weight for t in tenants)
    status = {
        "tenants": rows,
        "tasks": {"queued": 0, "running": len(executor.running()),
                  "done": sum(e["done"] for e in ended.values()), "failed": sum(e["failed"] for e in ended.values())},
        "global_regret_estimate": regret,
    }
    running = [RunningRow(t.task_id, t.tenant, t.arm.name, t.device, None, "simulated: no epochs to report")
               for t in executor.running()]
    used: dict[str, float] = {}
    for o in observations:  # device time per tenant, as the store sums its finished tasks' costs
        used[o.tenant] = used.get(o.tenant, 0.0) + o.cost
    is_paused = {t.name: t.paused for t in tenants}
    infos = [TenantInfo(r["name"], r["weight"], None, used.get(r["name"], 0.0) / HOUR, is_paused[r["name"]],
                        r["tasks_done"], r["best_accuracy"], r["best_model"], None) for r in rows]
    return build_snapshot(DEMO_SOURCE, infos, status, observations, decisions[::-1][:20], upper_bounds=optimum,
                          running=running, spans=spans, belief_decisions=decisions[::-1])


class DemoSource:
    """The demo lab as a Lab tab source: simulated once (in the poller's thread), then unchanged."""

    def __init__(self) -> None:
        self._snapshot: LabSnapshot | None = None

    def read(self, force: bool = False) -> LabSnapshot:
        if self._snapshot is None:
            self._snapshot = run_demo_lab()
        return self._snapshot

    def close(self) -> None:
        pass
