"""The curve-aware policy: at every epoch boundary and device free-up, across all tenants, the option with the
largest expected fall of the weighted regret per device-second.

Options (engine/fidelity.py scores them): start an untried (tenant, arm), resume a paused run, continue a running
one, each by today's cost-aware EI (the weighted expected improvement of the tenant's best per device-second still
needed). A partly trained arm's belief is the GP's, which reads its curve through the learning-curve model. A free
device takes the best start or resume, each tenant's score aged as the default ages it (engine/policies.py's
`aged`: log(1 + hand-outs it waited)); at a running task's epoch boundary the task continues while its own score is
at least that of the best other option, else it is paused and its device takes that option. Nothing is stopped for ever: a paused run stays
an option, and resumes when it becomes the best one again (its tenant's other arms disappointed). On one-step arms
(a matrix) this is the default policy's rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fidelity import ArmRun, FidelityState, Option


@dataclass(frozen=True)
class StepDecision:
    """One decision with its numbers (the "Why?" contract)."""

    time: float
    device: str
    action: str  # "start", "resume", "continue", "pause", "done"
    tenant: str
    arm: str
    task_id: str
    budget: int  # where the run stands (0 before its first step)
    budgets: int  # its full budget
    mean: float  # predicted final quality
    sd: float
    best: float  # the tenant's best so far
    score: float
    then: str = ""  # for a pause: who gets the device instead, "tenant/arm"

    def explain(self) -> str:
        numbers = f"predicted final {self.mean:.2f} ± {self.sd:.2f}, tenant best {self.best:.2f}"
        at = f"at epoch {self.budget} of {self.budgets}"
        if self.action == "pause":
            return f"paused {self.task_id} {at}: {numbers}; device to {self.then}"
        if self.action == "continue":
            return f"continued {self.task_id} {at}: {numbers}"
        if self.action == "resume":
            return f"resumed {self.task_id} {self.tenant}/{self.arm} {at} on {self.device}: {numbers}"
        return f"started {self.task_id} {self.tenant}/{self.arm} on {self.device} ({self.budgets} epochs): {numbers}"


def decision(state: FidelityState, run: ArmRun, action: str, option: Option, time: float, device: str,
             then: str = "") -> StepDecision:
    rec = state.record(run.tenant)
    return StepDecision(time, device, action, run.tenant, rec.arms[run.col].name, run.task_id, run.budget,
                        int(run.budgets[-1]), option.mean, option.sd, rec.best, option.score, then)


class EarlyStopping:
    """Decides for a FidelityState. `aging` adds log(1 + hand-outs waited) to each tenant's scores when a device is
    free, as the default policy does; a running task is preempted on value alone (fairness decides who gets a free
    device, not who loses one), and its device goes to the option that outscored it."""

    def __init__(self, state: FidelityState, name: str = "early-stopping", aging: bool = True) -> None:
        self.state = state
        self.name = name
        self.aging = aging
        self._best: list[Option | None] = []  # per tenant: its best start or resume
        self._score = np.zeros(0)  # its score, -inf when it has none or may not be served
        self._handoff: Option | None = None  # what a task was paused for: the next free device takes it

    def _scores(self) -> np.ndarray:
        """Every tenant's best start or resume score (without aging); only changed tenants are scored again."""
        state = self.state
        if len(self._best) < len(state.tenants):
            grow = len(state.tenants) - len(self._best)
            self._best += [None] * grow
            self._score = np.append(self._score, np.full(grow, -np.inf))
        for row in state.dirty:
            rec = state.tenants[row]
            options = state.options(rec) if state.eligible(rec) else []
            self._best[row] = max(options, key=lambda o: o.score) if options else None
            self._score[row] = self._best[row].score if options else -np.inf
        state.dirty.clear()
        return self._score

    def next(self, device: str, time: float) -> tuple[ArmRun, StepDecision] | None:
        """What a free device does next: the option a task was just paused for, else the best start or resume of
        any tenant (aged), or None when none is left."""
        while True:
            option, self._handoff = self._handoff, None
            if option is None:
                scores = self._scores() + (np.log1p(self.state.waiting) if self.aging else 0.0)
                row = int(np.argmax(scores)) if scores.size else 0
                if not scores.size or scores[row] == -np.inf:
                    return None
                option = self._best[row]
            rec = self.state.record(option.tenant)
            if option.kind == "resume":
                run = rec.runs[option.col]
                self.state.resume(run, device)
                return run, decision(self.state, run, "resume", option, time, device)
            run = self.state.start(option.tenant, option.col, device)
            if run is not None:
                return run, decision(self.state, run, "start", option, time, device)
            # the arm could not run (it failed at once): choose again

    def boundary(self, run: ArmRun, time: float) -> StepDecision:
        """At a running task's epoch boundary: continue, or pause it for a better start or resume (which its device
        then takes). The other options never include the run itself: a running arm is no start or resume."""
        rec = self.state.record(run.tenant)
        own = self.state.option(rec, run.col)
        scores = self._scores()
        other = int(np.argmax(scores))
        device = run.device or ""
        if self.state.eligible(rec) and (scores[other] == -np.inf or own.score >= scores[other]):
            return decision(self.state, run, "continue", own, time, device)
        self.state.pause(run)  # a tenant paused or over its quota stops here too
        self._handoff = self._best[other] if scores[other] > -np.inf else None
        chosen = self._handoff
        then = f"{chosen.tenant}/{self.state.record(chosen.tenant).arms[chosen.col].name}" if chosen else "nobody"
        return decision(self.state, run, "pause", own, time, device, then)
