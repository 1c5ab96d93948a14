"""Speed of the engine itself: one decision at lab scale, a whole simulated run, and growth with tenants.

    .venv/bin/python bench/engine_speed.py
Figures are per call (p50/p99 over many calls) and ratios measured in the same run.
"""

from __future__ import annotations

import time

import numpy as np

from easeml_gui.engine.matrix import synthetic
from easeml_gui.engine.policies import get_policy
from easeml_gui.engine.prior import fit_prior
from easeml_gui.engine.selection import ModelSelection
from easeml_gui.engine.simulate import SimulatedExecutor
from easeml_gui.engine.scheduler import Scheduler
from easeml_gui.engine.types import Arm, Job, TaskResult, TaskState, Tenant

ARMS = 179


def lab(tenants: int, observations_each: int, policy: str = "default", seed: int = 0):
    """A selection with `tenants` x ARMS arms and `observations_each` observations per tenant already told."""
    quality, _ = synthetic(rows=tenants + 100, arms=ARMS, seed=seed)
    prior = fit_prior(quality.values[tenants:], quality.arms)
    selection = ModelSelection(prior, get_policy(policy), np.random.default_rng(seed))
    arms = tuple(Arm(name, k) for k, name in enumerate(quality.arms))
    rng = np.random.default_rng(seed)
    for i in range(tenants):
        selection.add_job(Tenant(f"t{i}"), Job(f"t{i}", arms))
        for k in rng.choice(ARMS, size=observations_each, replace=False):
            selection.replay(f"t{i}", arms[k], float(quality.values[i, k]), 1.0, 0.0)
    return selection, quality


def time_decisions(selection: ModelSelection, quality, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Steady state of a busy lab: a task ends (tell) and its device gets the next one (ask)."""
    ask_times, step_times = [], []
    selection.ask("warm", 0.0)  # first call builds the stacked arrays
    pending = None
    for _ in range(steps):
        start = time.perf_counter()
        if pending is not None:
            row = int(pending.tenant[1:])
            selection.tell(
                TaskResult("x", pending.tenant, pending.arm, "d", TaskState.DONE, float(quality.values[row, pending.arm.index]), 1.0),
                0.0,
            )
        mid = time.perf_counter()
        pending = selection.ask("d", 0.0)
        end = time.perf_counter()
        ask_times.append(end - mid)
        step_times.append(end - start)
    return np.array(ask_times) * 1e3, np.array(step_times) * 1e3


def whole_run(policy: str) -> tuple[float, int]:
    quality, _ = synthetic(rows=110, arms=ARMS, seed=3)
    prior = fit_prior(quality.values[10:], quality.arms)
    selection = ModelSelection(prior, get_policy(policy), np.random.default_rng(0))
    arms = tuple(Arm(name, k) for k, name in enumerate(quality.arms))
    for i in range(10):
        selection.add_job(Tenant(f"t{i}"), Job(f"t{i}", arms))
    executor = SimulatedExecutor({f"t{i}": quality.values[i] for i in range(10)}, None, 1)
    scheduler = Scheduler(selection, executor)
    start = time.perf_counter()
    scheduler.run()  # to exhaustion: every arm of every tenant
    return time.perf_counter() - start, scheduler.tasks_finished


def main() -> None:
    print(f"one decision, 100 tenants x {ARMS} arms, 2,000 observations in total (policy default)")
    selection, quality = lab(100, 20)
    ask_ms, step_ms = time_decisions(selection, quality, 400)
    print(f"  ask:         p50 {np.percentile(ask_ms, 50):.2f} ms   p99 {np.percentile(ask_ms, 99):.2f} ms")
    print(f"  tell + ask:  p50 {np.percentile(step_ms, 50):.2f} ms   p99 {np.percentile(step_ms, 99):.2f} ms")

    print(f"\nwhole simulated run, 10 tenants x {ARMS} arms to exhaustion (1,790 tasks)")
    for policy in ("round-robin", "default"):
        seconds, tasks = whole_run(policy)
        print(f"  {policy:12s} {seconds:6.2f} s for {tasks} tasks ({seconds / tasks * 1e3:.2f} ms per task)")

    print("\ncost of a decision (tell + ask, p50) as tenants grow, 20 observations each")
    base = None
    for tenants in (10, 25, 50, 100, 200):
        selection, quality = lab(tenants, 20)
        _, step_ms = time_decisions(selection, quality, 200)
        p50 = float(np.percentile(step_ms, 50))
        base = base or (p50, tenants)
        growth = (p50 / base[0]) / (tenants / base[1])
        print(f"  {tenants:4d} tenants: {p50:6.2f} ms   (x{p50 / base[0]:.2f} the cost for x{tenants / base[1]:.0f} the tenants; "
              f"{growth:.2f} of linear)")


if __name__ == "__main__":
    main()
