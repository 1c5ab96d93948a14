"""Replay multi-tenant model selection on quality/cost matrices with D simulated devices."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .curve_replay import replay_curves
from .curves import Curves, one_step_curves
from .matrix import Matrix
from .metrics import TARGETS, RegretTrace, median_time, speedup
from .policies import ALIASES, BASELINES, check_simulator_policy, get_fidelity_policy, get_policy
from .prior import CostModel, fit_prior
from .scheduler import Scheduler, SchedulerHooks
from .selection import ModelSelection
from .types import Arm, Job, Task, TaskLocation, TaskResult, TaskState, Tenant


class SimulatedExecutor:
    """Devices on a virtual clock: a task's quality is its matrix cell, its duration the cost cell."""

    def __init__(self, quality: dict[str, np.ndarray], cost: dict[str, np.ndarray] | None, devices: int) -> None:
        self._quality = quality
        self._cost = cost
        self._devices = tuple(f"sim:{d}" for d in range(devices))
        self._clock = 0.0
        self._events: list[tuple[float, int, Task]] = []
        self._running: dict[str, Task] = {}
        self._cancelled: list[Task] = []
        self._sequence = 0  # ties in time resolve in submission order: deterministic
        self._began: dict[str, float] = {}  # running task -> when it started
        self._spent = 0.0  # device seconds of ended tasks

    def now(self) -> float:
        return self._clock

    def device_seconds(self) -> float:
        """Device seconds spent by now, running tasks' included."""
        return self._spent + sum(self._clock - began for began in self._began.values())

    def devices(self) -> tuple[str, ...]:
        return self._devices

    def free_memory_mib(self, device: str) -> float | None:
        return None  # simulated devices hold any model

    def running(self) -> list[Task]:
        # A cancelled task runs until wait() has reported it, as the Executor protocol says (a loop that saw none
        # running would otherwise stop before its cancellation is recorded).
        return [*self._running.values(), *self._cancelled]

    def submit(self, task: Task) -> None:
        if task.device not in self._devices:
            raise ValueError(f"unknown device {task.device!r}")
        if any(t.device == task.device for t in self._running.values()):
            raise ValueError(f"device {task.device} is busy")
        duration = 1.0 if self._cost is None else float(self._cost[task.tenant][task.arm.index])
        heapq.heappush(self._events, (self._clock + duration, self._sequence, task))
        self._sequence += 1
        self._running[task.task_id] = task
        self._began[task.task_id] = self._clock

    def location(self, task_id: str) -> TaskLocation | None:
        return None  # simulated tasks live in this object only

    def adopt(self, tasks: Sequence[tuple[Task, TaskLocation]]) -> set[str]:
        return set()  # nothing outlives a simulation: every interrupted task runs again

    def events(self, task_id: str, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        return [], offset  # a simulated task has no progress between its start and its end

    def detach(self) -> None:
        pass

    def cancel(self, task_id: str) -> None:
        task = self._running.pop(task_id, None)
        if task is not None:
            self._spent += self._clock - self._began.pop(task_id)
            self._cancelled.append(task)

    def wait(self, timeout: float | None = None) -> list[TaskResult]:
        if self._cancelled:
            cancelled, self._cancelled = self._cancelled, []
            return [TaskResult(t.task_id, t.tenant, t.arm, t.device, TaskState.CANCELLED) for t in cancelled]
        while self._events:
            end, _, task = heapq.heappop(self._events)
            if task.task_id not in self._running:
                continue  # cancelled earlier
            del self._running[task.task_id]
            self._clock = end
            self._spent += self._clock - self._began.pop(task.task_id)
            quality = float(self._quality[task.tenant][task.arm.index])
            cost = 1.0 if self._cost is None else float(self._cost[task.tenant][task.arm.index])
            if np.isnan(quality):
                return [TaskResult(task.task_id, task.tenant, task.arm, task.device, TaskState.FAILED, cost=cost,
                                   error="the run failed in the source matrix")]
            return [TaskResult(task.task_id, task.tenant, task.arm, task.device, TaskState.DONE, quality, cost)]
        return []


@dataclass
class RunTrace:
    policy: str
    seed: int
    regret: RegretTrace
    decisions: list = field(default_factory=list)  # (time, device, tenant, arm name); StepDecision on curves


def split_rows(n_rows: int, tenants: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle the datasets: the first `tenants` become tenants, the rest the prior's history."""
    order = rng.permutation(n_rows)
    return order[:tenants], order[tenants:]


@dataclass
class Replay:
    """A seeded lab built from matrix rows: the selection, its simulated devices and each tenant's q*."""

    selection: ModelSelection
    executor: SimulatedExecutor
    tenants: list[Tenant]
    optimum: dict[str, float]


def build_replay(
    quality: Matrix,
    cost: Matrix | None,
    policy_name: str,
    tenants: int | list[Tenant],
    devices: int,
    seed: int,
    prior_kind: str = "auto",
) -> Replay:
    """Shuffle the rows with `seed`: the first rows become the tenants (named after them unless given),
    the rest the prior's history."""
    given = tenants if isinstance(tenants, list) else None
    count = len(given) if given is not None else int(tenants)
    tenant_rows, history_rows = split_rows(len(quality.rows), count, np.random.default_rng([seed, 0]))
    prior = fit_prior(quality.values[history_rows], quality.arms, prior_kind)
    costs = CostModel.from_history(cost.values[history_rows] if cost is not None else None, len(quality.arms))
    # The policy's own randomness is independent of the split, so policies see identical tenants per seed.
    selection = ModelSelection(prior, get_policy(policy_name), np.random.default_rng([seed, 1]), costs)
    arms = tuple(Arm(name, k) for k, name in enumerate(quality.arms))
    lab = given if given is not None else [Tenant(quality.rows[r]) for r in tenant_rows]
    for tenant in lab:
        selection.add_job(tenant, Job(tenant.name, arms, seed=seed))
    executor = SimulatedExecutor(
        {t.name: quality.values[r] for t, r in zip(lab, tenant_rows)},
        {t.name: cost.values[r] for t, r in zip(lab, tenant_rows)} if cost is not None else None,
        devices,
    )
    optimum = {t.name: float(np.nanmax(quality.values[r])) for t, r in zip(lab, tenant_rows)}
    return Replay(selection, executor, lab, optimum)


def simulate_once(
    quality: Matrix,
    cost: Matrix | None,
    policy_name: str,
    tenants: int,
    devices: int,
    seed: int,
    prior_kind: str = "auto",
    record_decisions: bool = False,
) -> RunTrace:
    """One seeded replay, until every tenant holds its best arm (global regret 0) or all arms ran."""
    replay = build_replay(quality, cost, policy_name, tenants, devices, seed, prior_kind)
    trace = RunTrace(policy_name, seed, RegretTrace(replay.optimum, {t.name: t.weight for t in replay.tenants}))

    def on_decision(decision, task) -> None:
        if record_decisions:
            trace.decisions.append((decision.time, decision.device, decision.tenant, decision.arm.name))

    def on_result(result: TaskResult, observation) -> None:
        if observation is not None:
            trace.regret.observe(observation.tenant, observation.quality, observation.time,
                                 replay.executor.device_seconds())

    scheduler = Scheduler(replay.selection, replay.executor, SchedulerHooks(on_decision=on_decision, on_result=on_result))
    scheduler.run(stop=lambda: trace.regret.current <= 0.0)
    return trace


def simulate_curves_once(curves: Curves, policy_name: str, tenants: int, devices: int, seed: int,
                         prior_kind: str = "auto", record_decisions: bool = False) -> RunTrace:
    """One seeded replay of a multi-fidelity policy on learning curves; the same split of the rows into tenants and
    history as simulate_once, and the curve model learns from the history rows' curves only."""
    policy = get_fidelity_policy(policy_name)
    if policy is None:
        raise ValueError(f"{policy_name!r} is not a multi-fidelity policy")
    tenant_rows, history_rows = split_rows(len(curves.datasets), tenants, np.random.default_rng([seed, 0]))
    regret, decisions = replay_curves(curves, policy.make, tenant_rows, history_rows, devices, prior_kind,
                                      record_decisions)
    return RunTrace(policy_name, seed, regret, decisions)


@dataclass(frozen=True)
class PolicyResult:
    policy: str
    target: float
    median_time: float | None
    reached: int
    device_seconds: float | None = None  # median over seeds of the device seconds spent until the target


@dataclass
class SimulationReport:
    matrix: str
    tenants: int
    devices: int
    seeds: int
    targets: tuple[float, ...]
    results: list[PolicyResult]
    cumulative_regret: dict[str, float]
    traces: dict[str, list[RunTrace]]

    def median(self, policy: str, target: float) -> float | None:
        return next(r.median_time for r in self.results if r.policy == policy and r.target == target)

    def speedups(self, policy: str, baseline: str) -> list[float | None]:
        return [speedup(self.median(baseline, t), self.median(policy, t)) for t in self.targets]

    def to_json(self) -> dict:
        return {
            "matrix": self.matrix,
            "tenants": self.tenants,
            "devices": self.devices,
            "seeds": self.seeds,
            "results": [
                {"policy": r.policy, "target": r.target, "median_time": r.median_time, "reached": r.reached,
                 "device_seconds": r.device_seconds}
                for r in self.results
            ],
            "cumulative_regret": self.cumulative_regret,
        }


def _simulate_job(args: tuple) -> RunTrace:
    source, cost, policy, tenants, devices, seed, prior_kind = args
    if get_fidelity_policy(policy) is not None:
        curves = source if isinstance(source, Curves) else one_step_curves(source, cost)
        return simulate_curves_once(curves, policy, tenants, devices, seed, prior_kind)
    if isinstance(source, Curves):
        source, cost = source.matrices()  # a full-budget policy replays the curves' final results
    return simulate_once(source, cost, policy, tenants, devices, seed, prior_kind)


def _counted(traces: Iterable[RunTrace], total: int, progress: Callable[[int, int], None] | None) -> list[RunTrace]:
    done: list[RunTrace] = []
    if progress is not None:
        progress(0, total)
    for trace in traces:
        done.append(trace)
        if progress is not None:
            progress(len(done), total)
    return done


def simulate(
    quality: Matrix | Curves,
    cost: Matrix | None = None,
    policies: list[str] | None = None,
    tenants: int = 10,
    devices: int = 1,
    seeds: int = 20,
    targets: tuple[float, ...] = TARGETS,
    prior_kind: str = "auto",
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationReport:
    """Replay every policy on `seeds` seeded splits; `workers` > 1 spreads the runs over processes.
    `quality`: a quality matrix (with `cost`, or 1 per task), or learning curves (which bring their costs).
    `progress(done, total)` is told after each replay (one policy on one seed)."""
    policies = policies or [*BASELINES]
    for name in policies:
        check_simulator_policy(name)  # fail before any work on an unknown name
    rows = len(quality.datasets) if isinstance(quality, Curves) else len(quality.rows)
    if not 1 <= tenants < rows:
        raise ValueError(
            f"--tenants {tenants}: the matrix has {rows} datasets; tenants must be between 1 and "
            f"{rows - 1} so at least one row is left as history"
        )
    if devices < 1:
        raise ValueError(f"--devices {devices}: need at least one device")
    # An alias ("default") is replayed once as the policy it stands for, and reported under every name asked for.
    canonical = {p: ALIASES.get(p, p) for p in policies}
    runnable = list(dict.fromkeys(canonical.values()))
    jobs = [(quality, cost, p, tenants, devices, s, prior_kind) for p in runnable for s in range(seeds)]
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            runs = _counted(pool.map(_simulate_job, jobs, chunksize=max(1, len(jobs) // (4 * workers))), len(jobs),
                            progress)
    else:
        runs = _counted(map(_simulate_job, jobs), len(jobs), progress)
    replayed: dict[str, list[RunTrace]] = {p: [] for p in runnable}
    for run in runs:
        replayed[run.policy].append(run)
    traces = {p: replayed[canonical[p]] for p in policies}
    results = []
    for p in policies:
        for target in targets:
            times = [t.regret.time_to(target) for t in traces[p]]
            usage = [t.regret.usage_to(target) for t in traces[p]]
            results.append(PolicyResult(p, target, median_time(times), sum(t is not None for t in times),
                                        median_time(usage)))
    cumulative = {p: float(np.median([t.regret.cumulative() for t in traces[p]])) for p in policies}
    return SimulationReport(quality.name, tenants, devices, seeds, tuple(targets), results, cumulative, traces)
