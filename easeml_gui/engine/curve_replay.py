"""Replay a multi-fidelity policy on learning curves: D simulated devices, one budget step (epoch) at a time.

A step's quality and seconds are its curve's row; at each step's end the policy continues or pauses the run, and a
free device asks it what to start or resume. A tenant's best is the best quality any of its runs delivered so far
(a paused run keeps its best epoch's model); a partial result above every arm's full-budget result counts as that
optimum, so regret stays in [0, 1].
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from .curve_model import CurveModel
from .curves import Curves
from .early_stopping import StepDecision
from .fidelity import ArmRun, FidelityState
from .metrics import RegretTrace
from .prior import CostModel, fit_prior
from .types import Arm, Tenant


class FidelityRule(Protocol):
    name: str

    def next(self, device: str, time: float) -> tuple[ArmRun, StepDecision] | None: ...

    def boundary(self, run: ArmRun, time: float) -> StepDecision: ...


@dataclass
class Devices:
    """The simulated devices' clock and work: steps in flight, and the device seconds spent."""

    names: list[str]
    clock: float = 0.0
    spent: float = 0.0  # seconds of finished steps
    events: list[tuple[float, int, str, ArmRun, float]] = field(default_factory=list)  # (end, order, device, run, s)
    started: dict[str, float] = field(default_factory=dict)  # busy device -> when its step began
    order: int = 0

    def free(self) -> list[str]:
        return [d for d in self.names if d not in self.started]

    def launch(self, device: str, run: ArmRun, seconds: float) -> None:
        heapq.heappush(self.events, (self.clock + seconds, self.order, device, run, seconds))
        self.order += 1  # ties in time resolve in launch order: deterministic
        self.started[device] = self.clock

    def pop(self) -> tuple[str, ArmRun, float]:
        end, _, device, run, seconds = heapq.heappop(self.events)
        self.clock = end
        self.spent += seconds
        del self.started[device]
        return device, run, seconds

    def usage(self) -> float:
        """Device seconds spent by now, steps in flight included."""
        return self.spent + sum(self.clock - start for start in self.started.values())


def fitted_state(curves: Curves, history_rows: np.ndarray, prior_kind: str) -> FidelityState:
    """Prior, cost model and curve model fitted on the history rows' curves only."""
    quality, cost = curves.matrices()
    prior = fit_prior(quality.values[history_rows], quality.arms, prior_kind)
    costs = CostModel.from_history(cost.values[history_rows], len(quality.arms))
    return FidelityState(prior, CurveModel.fit(curves.subset(history_rows)), costs)


def replay_curves(curves: Curves, make_rule: Callable[[FidelityState], FidelityRule], tenant_rows: np.ndarray,
                  history_rows: np.ndarray, devices: int, prior_kind: str = "auto",
                  record: bool = False) -> tuple[RegretTrace, list[StepDecision]]:
    """Replay until every tenant holds its optimum or no work is left; the regret trace and (with `record`) every
    decision."""
    state = fitted_state(curves, history_rows, prior_kind)
    arms = tuple(Arm(name, k) for k, name in enumerate(curves.arms))
    row_of = {curves.datasets[r]: int(r) for r in tenant_rows}
    for name, row in row_of.items():
        plans = [None if (c := curves.curve(row, k)) is None else c.budgets for k in range(len(arms))]
        state.add_job(Tenant(name), arms, plans)
    quality, _ = curves.matrices()
    optimum = {name: float(np.nanmax(quality.values[row])) for name, row in row_of.items()}
    trace = RegretTrace(optimum, {name: 1.0 for name in row_of})
    rule = make_rule(state)
    sim = Devices([f"sim:{d}" for d in range(devices)])
    decisions: list[StepDecision] = []

    def step_seconds(run: ArmRun) -> float:
        return float(curves.curve(row_of[run.tenant], run.col).seconds[run.step])

    def fill() -> None:
        for device in sim.free():
            chosen = rule.next(device, sim.clock)
            if chosen is None:
                return
            run, why = chosen
            if record:
                decisions.append(why)
            sim.launch(device, run, step_seconds(run))

    fill()
    while sim.events and trace.current > 0:
        device, run, seconds = sim.pop()
        quality_now = float(curves.curve(row_of[run.tenant], run.col).quality[run.step])
        state.tell_step(run, quality_now, seconds)
        trace.observe(run.tenant, min(quality_now, optimum[run.tenant]), sim.clock, sim.usage())
        if not run.finished:
            why = rule.boundary(run, sim.clock)
            if record:
                decisions.append(why)
            if why.action == "continue":
                sim.launch(device, run, step_seconds(run))
        fill()
    return trace, decisions
