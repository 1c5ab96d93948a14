"""The peers' multi-fidelity rule, asynchronous successive halving (ASHA, Li et al. 2018), for many tenants.

An arm's budget is cut into rungs eta^-k of its full budget (12 epochs, eta 3: epochs 2, 4 and 12). A run pauses
at each rung; a free device promotes (resumes up to the next rung) a paused run in the top 1/eta of those that
reached its rung, highest rung first, else starts a new arm at the lowest rung. Arms are finite here: with none
left to start, the best paused run of the highest rung is promoted anyway, so every search can finish.
`asha-round-robin`: one ASHA per tenant, the tenants served in turn. `asha-pooled`: one ASHA over all tenants'
runs (promotions compare them all), new arms started for the tenants in turn. Each tenant chooses the arm it starts
as the default policy does (expected improvement per predicted second, on the GP that sees partial runs).
"""

from __future__ import annotations

import math

import numpy as np

from .acquisition import QUALITY_CEILING, log_expected_improvement
from .early_stopping import StepDecision, decision
from .fidelity import ArmRun, FidelityState, RunState, TenantRuns

ETA = 3


def rungs(budgets: np.ndarray, eta: int = ETA) -> list[int]:
    """The steps (1-based) at which a run with these budgets pauses, the last its full budget."""
    full = float(budgets[-1])
    levels = int(math.floor(math.log(full / float(budgets[0]), eta) + 1e-9))
    steps = {int(np.searchsorted(budgets, full / eta**k - 1e-9)) + 1 for k in range(levels, -1, -1)}
    return sorted(steps)


class Asha:
    def __init__(self, state: FidelityState, name: str, pooled: bool, eta: int = ETA) -> None:
        self.state = state
        self.name = name
        self.pooled = pooled
        self.eta = eta
        self._target: dict[str, int] = {}  # task id -> the step it pauses at next
        self._promoted: set[tuple[str, int]] = set()  # (task id, step) promoted from
        self._turn = -1  # the tenant served last

    def boundary(self, run: ArmRun, time: float) -> StepDecision:
        rec = self.state.record(run.tenant)
        option = self.state.option(rec, run.col)
        if run.step < self._target[run.task_id] and self.state.eligible(rec):
            return decision(self.state, run, "continue", option, time, run.device or "")
        device = run.device or ""
        self.state.pause(run)
        return decision(self.state, run, "pause", option, time, device, "the next promotion or new arm")

    def next(self, device: str, time: float) -> tuple[ArmRun, StepDecision] | None:
        tenants = self.state.tenants
        order = [tenants[(self._turn + 1 + i) % len(tenants)] for i in range(len(tenants))]
        order = [rec for rec in order if self.state.eligible(rec)]
        if not self.pooled:  # each tenant's own ASHA, in turn
            for rec in order:
                run = self._promotion([rec])
                if run is not None:
                    return self._resume(run, device, time)
                started = self._start(rec, device, time)
                if started is not None:
                    return started
                run = self._finishing([rec])
                if run is not None:
                    return self._resume(run, device, time)
            return None
        run = self._promotion(order)
        if run is not None:
            return self._resume(run, device, time)
        for rec in order:
            started = self._start(rec, device, time)
            if started is not None:
                return started
        run = self._finishing(order)
        return None if run is None else self._resume(run, device, time)

    def _served(self, rec: TenantRuns) -> None:
        self._turn = self.state.tenants.index(rec)

    def _resume(self, run: ArmRun, device: str, time: float) -> tuple[ArmRun, StepDecision]:
        rec = self.state.record(run.tenant)
        self._promoted.add((run.task_id, run.step))
        self._target[run.task_id] = next(s for s in rungs(run.budgets, self.eta) if s > run.step)
        self.state.resume(run, device)
        self._served(rec)
        option = self.state.option(rec, run.col)
        return run, decision(self.state, run, "resume", option, time, device)

    def _start(self, rec: TenantRuns, device: str, time: float) -> tuple[ArmRun, StepDecision] | None:
        while True:
            untried = np.flatnonzero(rec.untried())
            if untried.size == 0:
                return None
            mean, sd = self.state.beliefs(rec)
            score = (log_expected_improvement(mean[untried], sd[untried], rec.best, QUALITY_CEILING)
                     - np.log(self.state.full_seconds(rec)[untried]))
            col = int(untried[int(np.argmax(score))])
            option = self.state.option(rec, col)
            run = self.state.start(rec.name, col, device)
            if run is None:
                continue  # it failed at once: the next arm
            self._target[run.task_id] = rungs(run.budgets, self.eta)[0]
            self._served(rec)
            return run, decision(self.state, run, "start", option, time, device)

    def _promotion(self, recs: list[TenantRuns]) -> ArmRun | None:
        """A paused run in the top 1/eta of its rung, the highest rung first (rungs counted down from the top)."""
        reached: dict[int, list[tuple[float, ArmRun]]] = {}
        for rec in recs:
            for run in rec.runs.values():
                steps = rungs(run.budgets, self.eta)
                for depth, step in enumerate(reversed(steps)):
                    if depth and run.step >= step:
                        reached.setdefault(depth, []).append((run.quality[step - 1], run))
        for depth in sorted(reached):
            ranked = sorted(reached[depth], key=lambda item: -item[0])
            for quality, run in ranked[:len(ranked) // self.eta]:
                step = rungs(run.budgets, self.eta)[-1 - depth]
                if run.state is RunState.PAUSED and run.step == step and (run.task_id, step) not in self._promoted:
                    return run
        return None

    def _finishing(self, recs: list[TenantRuns]) -> ArmRun | None:
        """With no arm left to start: the best paused run of the highest rung reached."""
        paused = [r for rec in recs for r in rec.runs.values() if r.state is RunState.PAUSED]
        if not paused:
            return None
        return max(paused, key=lambda r: (r.step / r.steps, r.quality[-1]))
