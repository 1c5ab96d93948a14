"""Arms trained in budget steps (epochs) that can be paused and resumed: what every tenant knows and can do next.

The state the multi-fidelity policies share (engine/early_stopping.py, engine/asha.py): per tenant its arms' runs
(steps done, quality and seconds per step), a GP over its arms' final qualities that sees finished runs exactly and
partly trained ones as noisier observations (a learning-curve model's prediction of their final quality,
engine/curve_model.py), and what each option would cost. Policies decide; this module only keeps the books.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from .acquisition import QUALITY_CEILING, log_expected_improvement
from .curve_model import CurveModel
from .gp import TenantPosterior
from .prior import CostModel, Prior
from .types import Arm, Tenant


class RunState(str, enum.Enum):
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"


@dataclass
class ArmRun:
    """One (tenant, arm) trained step by step: `budgets` is its plan (e.g. epochs 1..E)."""

    task_id: str
    tenant: str
    col: int
    budgets: np.ndarray
    quality: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    state: RunState = RunState.RUNNING
    device: str | None = None
    predicted: tuple[float, float] | None = None  # the curve model's (mean, sd) of its final quality

    @property
    def step(self) -> int:
        return len(self.quality)

    @property
    def steps(self) -> int:
        return int(self.budgets.size)

    @property
    def budget(self) -> int:
        return int(self.budgets[self.step - 1]) if self.step else 0

    @property
    def finished(self) -> bool:
        return self.step == self.steps

    def fractions(self) -> np.ndarray:
        return self.budgets[:self.step] / self.budgets[-1]

    def rate(self) -> float:
        """Seconds per budget unit so far."""
        return sum(self.seconds) / max(self.budget, 1)


@dataclass
class TenantRuns:
    tenant: Tenant
    arms: tuple[Arm, ...]
    prior_index: np.ndarray
    posterior: TenantPosterior  # finished runs only
    plans: list[np.ndarray | None]  # each arm's budgets; None: it cannot run (no curve: failed)
    runs: dict[int, ArmRun] = field(default_factory=dict)
    failed: set[int] = field(default_factory=set)
    best: float = 0.0
    best_arm: int | None = None
    cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # every arm's final (mean, sd), full seconds

    @property
    def name(self) -> str:
        return self.tenant.name

    def untried(self) -> np.ndarray:
        mask = np.array([plan is not None for plan in self.plans])
        mask[list(self.runs)] = False
        mask[list(self.failed)] = False
        return mask


@dataclass(frozen=True)
class Option:
    """Something a device could do for a tenant: start an untried arm, resume a paused run, continue a running one.
    score: log of the weighted expected improvement of the tenant's best per device-second."""

    tenant: str
    col: int
    kind: str  # "start", "resume" or "continue"
    score: float
    mean: float
    sd: float
    reference: float  # the quality it must beat
    seconds: float  # device seconds it still needs


class FidelityState:
    """Every tenant's runs and beliefs; the policies read options from it and tell it what each step returned."""

    def __init__(self, prior: Prior, curve_model: CurveModel, costs: CostModel) -> None:
        self.prior = prior
        self.curve_model = curve_model
        self.costs = costs
        self.tenants: list[TenantRuns] = []
        self.waiting = np.zeros(0, dtype=int)  # per tenant: devices handed out since it last got one
        self.dirty: set[int] = set()  # tenants changed since a policy last read their options
        self._row: dict[str, int] = {}
        self._next_task = 1

    def add_job(self, tenant: Tenant, arms: tuple[Arm, ...], plans: list[np.ndarray | None]) -> None:
        if tenant.name in self._row:
            raise ValueError(f"tenant {tenant.name!r} already has a job")
        index = np.array([arm.index for arm in arms])
        posterior = TenantPosterior(self.prior.mean[index], self.prior.cov[np.ix_(index, index)], self.prior.noise)
        self._row[tenant.name] = len(self.tenants)
        self.tenants.append(TenantRuns(tenant, arms, index, posterior, list(plans)))
        self.waiting = np.append(self.waiting, 0)
        self.dirty.add(len(self.tenants) - 1)

    def changed(self, rec: TenantRuns) -> None:
        rec.cache = None
        self.dirty.add(self._row[rec.name])

    def row(self, tenant: str) -> int:
        return self._row[tenant]

    def record(self, tenant: str) -> TenantRuns:
        return self.tenants[self._row[tenant]]

    # ---- what happened ---------------------------------------------------------------------------------------
    def start(self, tenant: str, col: int, device: str) -> ArmRun | None:
        """A device starts an untried arm; None (and the arm marked failed) when it cannot run."""
        rec = self.record(tenant)
        plan = rec.plans[col]
        if plan is None:
            rec.failed.add(col)
            self.changed(rec)
            return None
        run = ArmRun(f"t{self._next_task:06d}", tenant, col, plan, device=device)
        self._next_task += 1
        rec.runs[col] = run
        self.served(rec)
        return run

    def resume(self, run: ArmRun, device: str) -> None:
        run.state, run.device = RunState.RUNNING, device
        self.served(self.record(run.tenant))

    def pause(self, run: ArmRun) -> None:
        run.state, run.device = RunState.PAUSED, None
        self.changed(self.record(run.tenant))

    def served(self, rec: TenantRuns) -> None:
        """A device went to `rec`: everyone else waited one more hand-out (engine/policies.py's aging)."""
        row = self._row[rec.name]
        self.waiting += 1
        self.waiting[row] = 0
        self.changed(rec)

    def tell_step(self, run: ArmRun, quality: float, seconds: float) -> None:
        """One more budget step of `run` reached `quality` in `seconds`."""
        rec = self.record(run.tenant)
        run.quality.append(float(quality))
        run.seconds.append(float(seconds))
        if run.finished:
            run.state, run.device, run.predicted = RunState.DONE, None, None
            rec.posterior.observe(run.col, run.quality[-1])
        else:
            run.predicted = self.curve_model.predict(run.quality, run.fractions(), rec.arms[run.col].name)
        if quality > rec.best:
            rec.best, rec.best_arm = float(quality), run.col
        self.changed(rec)

    # ---- beliefs ---------------------------------------------------------------------------------------------
    def beliefs(self, rec: TenantRuns) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sd of every arm's final quality: the GP on finished runs, with each partly trained run as a
        noisy observation of its final (the curve model's mean, its variance added to the GP's noise)."""
        if rec.cache is None:
            partial = [r for r in rec.runs.values() if r.predicted is not None]
            mean, var = rec.posterior.conditioned([r.col for r in partial],
                                                  np.array([r.predicted[0] for r in partial]),
                                                  np.array([r.predicted[1] ** 2 for r in partial]),
                                                  rec.posterior.scale)
            rec.cache = (mean, np.sqrt(var), self._full_seconds(rec))
        return rec.cache[0], rec.cache[1]

    def full_seconds(self, rec: TenantRuns) -> np.ndarray:
        self.beliefs(rec)
        return rec.cache[2]

    def _full_seconds(self, rec: TenantRuns) -> np.ndarray:
        """Predicted seconds of every arm's whole budget: the history's, scaled by what this tenant's runs cost
        (a partly trained run counts at its rate so far)."""
        started = [r for r in rec.runs.values() if r.step]
        observed = [r.rate() * r.budgets[-1] for r in started]
        return self.costs.predict(rec.prior_index[[r.col for r in started]], observed)[rec.prior_index]

    def option(self, rec: TenantRuns, col: int) -> Option:
        """Starting, resuming or continuing arm `col` of `rec` (see options())."""
        return self._scored(rec, [col])[0]

    def options(self, rec: TenantRuns, include_running: bool = False) -> list[Option]:
        """Every untried arm and paused run of `rec` (and its running runs, when asked), each scored as today's
        cost-aware EI scores an arm: the expected improvement of what it must beat per device-second it still
        needs (a started run: its remaining budget at its own rate so far; an untried arm: its predicted full cost).
        Its belief comes from the GP, which sees partly trained runs through the learning-curve model, so a run
        falling behind loses its score epoch by epoch and is paused once another option scores higher."""
        cols = [int(c) for c in np.flatnonzero(rec.untried())]
        cols += [r.col for r in rec.runs.values()
                 if r.state is RunState.PAUSED or (include_running and r.state is RunState.RUNNING)]
        return self._scored(rec, cols) if cols else []

    def _scored(self, rec: TenantRuns, cols: list[int]) -> list[Option]:
        mean_all, sd_all = self.beliefs(rec)
        index = np.asarray(cols)
        mean, sd = mean_all[index], sd_all[index]
        reference = self.references(rec, index)
        full = self.full_seconds(rec)
        seconds = np.empty(index.size)
        kinds = []
        for i, col in enumerate(cols):
            run = rec.runs.get(col)
            if run is None:
                seconds[i] = full[col]
                kinds.append("start")
            else:
                seconds[i] = run.rate() * (run.budgets[-1] - run.budget)
                kinds.append("continue" if run.state is RunState.RUNNING else "resume")
        seconds = np.maximum(seconds, 1e-9)
        score = (np.log(rec.tenant.weight) + log_expected_improvement(mean, sd, reference, QUALITY_CEILING)
                 - np.log(seconds))
        return [Option(rec.name, col, kind, float(sc), float(m), float(d), float(ref), float(sec))
                for col, kind, sc, m, d, ref, sec in zip(cols, kinds, score, mean, sd, reference, seconds)]

    def references(self, rec: TenantRuns, cols: np.ndarray) -> np.ndarray:
        """What each arm must beat: the tenant's best so far, or what another of its running arms is expected to
        reach (several devices must not all bet on one tenant)."""
        mean = self.beliefs(rec)[0]
        running = sorted(((mean[r.col], r.col) for r in rec.runs.values() if r.state is RunState.RUNNING),
                         reverse=True)[:2]
        reference = np.full(cols.size, rec.best)
        if running:
            top = np.where(cols == running[0][1], running[1][0] if len(running) > 1 else -np.inf, running[0][0])
            reference = np.maximum(reference, top)
        return reference

    def eligible(self, rec: TenantRuns) -> bool:
        tenant = rec.tenant
        return not tenant.paused and (tenant.quota_seconds is None or self.used_seconds(rec) < tenant.quota_seconds)

    def used_seconds(self, rec: TenantRuns) -> float:
        return sum(sum(r.seconds) for r in rec.runs.values())
