"""The ask/tell core: every tenant's posterior, what is tried or pending, and who is eligible.

State is kept as stacked (tenants x arms) arrays so a policy scores every (tenant, arm) pair in a few
numpy operations; only the row of the tenant just served or just observed changes per step.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .delivery import Run
from .gp import TenantPosterior
from .prior import CostModel, JobWork, Prior, WorkCostModel, device_kind
from .types import MAX_RETRIES, Arm, Decision, Job, Observation, TaskResult, TaskState, Tenant, TenantScore


@dataclass
class TenantRecord:
    tenant: Tenant
    job: Job
    prior_index: np.ndarray  # the job's arms as columns of the prior
    posterior: TenantPosterior
    cost_arms: list[int]
    cost_values: list[float]
    pending: list[int]
    failed: list[int]
    work: JobWork | None = None  # what its arms train; None: priced from the history's costs
    best: float = 0.0
    best_arm: int | None = None
    runs: list[Run] = field(default_factory=list)  # its finished runs, oldest first: which model it gets (delivery)
    started: int = 0  # tasks handed out, for UCB's t
    used_seconds: float = 0.0
    retries: dict[int, int] = field(default_factory=dict)  # arm column -> times handed out again after a kill
    retired: bool = False  # its job was cancelled: never served again, its untried arms are no work left

    def __post_init__(self) -> None:
        self.columns = {arm.name: col for col, arm in enumerate(self.job.arms)}

    @property
    def n_arms(self) -> int:
        return len(self.job.arms)


@dataclass
class Snapshot:
    """The stacked arrays a policy reads (tenants x padded arms). Unavailable cells are masked."""

    mean: np.ndarray  # (N, K)
    sigma: np.ndarray  # (N, K), conditioned on pending arms
    cost: np.ndarray  # (N, K) predicted seconds
    available: np.ndarray  # (N, K) bool: an arm of the job, untried, not pending
    best: np.ndarray  # (N,) best quality so far (0 before the first observation)
    believed_best: np.ndarray  # (N,) best, counting pending arms as if they returned their mean
    weight: np.ndarray  # (N,)
    eligible: np.ndarray  # (N,) bool: has an available arm, not paused, within quota
    started: np.ndarray  # (N,) tasks handed out so far
    n_arms: np.ndarray  # (N,) arms of each job
    last_served: int  # tenant row served last, -1 before the first decision
    waiting: np.ndarray  # (N,) decisions since the tenant was last served (since its arrival if never)


class ModelSelection:
    """Ask which (tenant, arm) a free device should run next; tell what a task returned."""

    def __init__(self, prior: Prior, policy: "Policy", rng: np.random.Generator, costs: CostModel | None = None,
                 work_costs: WorkCostModel | None = None):
        self.prior = prior
        self.policy = policy
        self.rng = rng
        self.costs = costs or CostModel.from_history(None, prior.n_arms)  # jobs without work figures
        self.work_costs = work_costs or WorkCostModel()  # jobs with them: learned from every tenant's tasks
        self._device = "cpu"  # the device the snapshot's costs are predicted for: the one asked for last
        self.records: list[TenantRecord] = []
        self._row: dict[str, int] = {}
        self._last_served = -1
        self._snapshot: Snapshot | None = None
        self._dirty: set[int] = set()
        self._proposed = np.zeros(0, dtype=int)  # each tenant's next arm, refreshed for changed rows only
        self._waiting: list[int] = []  # decisions since each tenant was last served

    # ---- tenants and jobs -------------------------------------------------------------------------
    def add_job(self, tenant: Tenant, job: Job, work: JobWork | None = None) -> None:
        """`work`: what the job's arms train, what their seconds are predicted from; without it, the history's
        cost of each arm, scaled by what the tenant's own tasks cost."""
        if tenant.name in self._row:
            raise ValueError(f"tenant {tenant.name!r} already has a job in this selection")
        if not job.arms:
            raise ValueError(f"the job of tenant {tenant.name!r} has no candidate arms")
        if work is not None and len(work.gflop) != len(job.arms):
            raise ValueError(f"the job of tenant {tenant.name!r} has {len(job.arms)} arms but "
                             f"{len(work.gflop)} work figures")
        index = np.array([arm.index for arm in job.arms])
        posterior = TenantPosterior(
            self.prior.mean[index], self.prior.cov[np.ix_(index, index)], self.prior.noise
        )
        self._row[tenant.name] = len(self.records)
        self.records.append(TenantRecord(tenant, job, index, posterior, [], [], [], [], work))
        self._waiting.append(0)
        self._snapshot = None

    def update_tenant(self, tenant: Tenant) -> None:
        """Weight, quota or pause changed (the admin edited the tenant while the lab runs)."""
        row = self._row[tenant.name]
        self.records[row].tenant = tenant
        self._dirty.add(row)

    def retire(self, tenant: str) -> None:
        """The tenant's job was cancelled: it is never served again (its running tasks still report back)."""
        row = self._row[tenant]
        self.records[row].retired = True
        self._dirty.add(row)

    def record(self, tenant: str) -> TenantRecord:
        return self.records[self._row[tenant]]

    @property
    def tenants(self) -> list[str]:
        return [r.tenant.name for r in self.records]

    # ---- the snapshot policies read ---------------------------------------------------------------
    def _fill_row(self, snap: Snapshot, row: int) -> None:
        rec = self.records[row]
        k = rec.n_arms
        post = rec.posterior
        snap.mean[row, :k] = post.mean
        snap.sigma[row, :k] = np.sqrt(post.var_given_pending(rec.pending) * post.scale)
        snap.cost[row, :k] = self._predicted_costs(rec)
        avail = np.zeros(snap.available.shape[1], dtype=bool)
        avail[:k] = True
        avail[post.arms] = False
        avail[rec.pending] = False
        avail[rec.failed] = False
        snap.available[row] = avail
        snap.best[row] = rec.best
        believed = post.mean[rec.pending].max() if rec.pending else -np.inf
        snap.believed_best[row] = max(rec.best, believed)
        snap.weight[row] = rec.tenant.weight
        within_quota = rec.tenant.quota_seconds is None or rec.used_seconds < rec.tenant.quota_seconds
        snap.eligible[row] = bool(avail.any()) and not rec.tenant.paused and within_quota and not rec.retired
        snap.started[row] = rec.started

    def _predicted_costs(self, rec: TenantRecord) -> np.ndarray:
        if rec.work is None:
            return self.costs.predict(rec.prior_index[rec.cost_arms], rec.cost_values)[rec.prior_index]
        return self.work_costs.predict([arm.name for arm in rec.job.arms], rec.work, self._device)

    def _reprice(self) -> None:
        """The work cost model learned from a task: every job it prices has new costs."""
        self._dirty.update(row for row, rec in enumerate(self.records) if rec.work is not None)

    def snapshot(self) -> Snapshot:
        if self._snapshot is None:
            n = len(self.records)
            k = max((r.n_arms for r in self.records), default=0)
            self._snapshot = Snapshot(
                mean=np.zeros((n, k)),
                sigma=np.zeros((n, k)),
                cost=np.ones((n, k)),
                available=np.zeros((n, k), dtype=bool),
                best=np.zeros(n),
                believed_best=np.zeros(n),
                weight=np.ones(n),
                eligible=np.zeros(n, dtype=bool),
                started=np.zeros(n, dtype=int),
                n_arms=np.array([r.n_arms for r in self.records], dtype=int),
                last_served=self._last_served,
                waiting=np.zeros(n, dtype=int),
            )
            self._dirty = set(range(n))
            self._proposed = np.zeros(n, dtype=int)
        snap = self._snapshot
        if self._dirty:
            changed = np.array(sorted(self._dirty))
            for row in changed:
                self._fill_row(snap, row)
            self._proposed[changed] = self.policy.propose_arms(snap, changed)
        self._dirty.clear()
        snap.last_served = self._last_served
        snap.waiting[:] = self._waiting
        return snap

    # ---- ask / tell -------------------------------------------------------------------------------
    def ask(self, device: str, now: float, free_memory_mib: float | None = None) -> Decision | None:
        """The (tenant, arm) `device` should run next, or None when no tenant has work it may get. With
        `free_memory_mib`, only arms whose estimated memory need fits in it (JobWork.memory_mib) are considered."""
        if device_kind(device) != device_kind(self._device):
            self._reprice()  # a lab of CPUs and GPUs: the costs are the free device's
        self._device = device
        snap, proposed = self.snapshot(), self._proposed
        if free_memory_mib is not None:
            snap, proposed = self._fitting(snap, free_memory_mib)
        if not snap.eligible.any():
            return None
        choice = self.policy.choose(snap, proposed, self.rng)
        row, col = choice.tenant_row, choice.arm_col
        rec = self.records[row]
        rec.pending.append(col)
        self._served(row)
        scores = tuple(
            TenantScore(
                tenant=r.tenant.name,
                arm=r.job.arms[int(choice.arm_cols[i])].name if snap.eligible[i] else "",
                mean=float(snap.mean[i, choice.arm_cols[i]]) if snap.eligible[i] else float("nan"),
                sigma=float(snap.sigma[i, choice.arm_cols[i]]) if snap.eligible[i] else float("nan"),
                acquisition=float(choice.tenant_scores[i]),
                predicted_cost=float(snap.cost[i, choice.arm_cols[i]]) if snap.eligible[i] else float("nan"),
                weight=float(snap.weight[i]),
                best=float(snap.best[i]),
            )
            for i, r in enumerate(self.records)
        )
        return Decision(now, device, rec.tenant.name, rec.job.arms[col], self.policy.name, scores)

    def _fitting(self, snap: Snapshot, free_mib: float) -> tuple[Snapshot, np.ndarray]:
        """The snapshot without the arms too big for a device with `free_mib` free, and each tenant's next arm
        among those left (re-proposed only for the tenants whose next arm did not fit)."""
        too_big = np.zeros_like(snap.available)
        for row, rec in enumerate(self.records):
            if rec.work is not None and rec.work.memory_mib is not None:
                too_big[row, :rec.n_arms] = np.asarray(rec.work.memory_mib) > free_mib
        if not (too_big & snap.available).any():
            return snap, self._proposed
        available = snap.available & ~too_big
        fitting = replace(snap, available=available, eligible=snap.eligible & available.any(axis=1))
        proposed = self._proposed.copy()
        rows = np.flatnonzero(too_big[np.arange(len(self.records)), proposed])
        if rows.size:
            proposed[rows] = self.policy.propose_arms(fitting, rows)
        return fitting, proposed

    def _served(self, row: int) -> None:
        """A task was handed to tenant `row`: its UCB step, the round-robin pointer and everyone's waiting."""
        self.records[row].started += 1
        self._last_served = row
        self._waiting = [w + 1 for w in self._waiting]
        self._waiting[row] = 0
        self._dirty.add(row)

    def _column(self, rec: TenantRecord, arm: Arm) -> int:
        try:
            return rec.columns[arm.name]
        except KeyError:
            raise ValueError(f"arm {arm.name!r} is not a candidate of tenant {rec.tenant.name!r}") from None

    # ---- resuming: replay, in decision order, what an earlier run decided -------------------------------------
    def restore_pending(self, tenant: str, arm: Arm) -> None:
        """A task decided before a restart that has not ended: condition on it as on any pending task."""
        rec = self.record(tenant)
        rec.pending.append(self._column(rec, arm))
        self._served(self._row[tenant])

    def tell(self, result: TaskResult, now: float) -> Observation | None:
        """Account for a finished task. Only DONE yields an observation; FAILED retires the arm, unless its
        worker was killed from outside (retryable) and the arm has retries left: then it may be handed out again."""
        row = self._row[result.tenant]
        rec = self.records[row]
        col = self._column(rec, result.arm)
        if col in rec.pending:
            rec.pending.remove(col)
        rec.used_seconds += result.cost
        self._dirty.add(row)
        if result.state is TaskState.CANCELLED:
            rec.started -= 1  # it may be handed out again
            return None
        if result.state is TaskState.FAILED or result.quality is None:
            self._failed(rec, col, result.retryable)
            return None
        return self._observe(rec, col, result.quality, result.cost, now, result.device, result.selection_seconds)

    def _failed(self, rec: TenantRecord, col: int, retryable: bool) -> None:
        if retryable and rec.retries.get(col, 0) < MAX_RETRIES:
            rec.retries[col] = rec.retries.get(col, 0) + 1
            rec.started -= 1
        else:
            rec.failed.append(col)

    def replay(self, tenant: str, arm: Arm, quality: float, cost: float, now: float,
               device: str | None = None, refit_seconds: float = 0.0) -> Observation:
        """An observation recorded before a restart: apply it without re-running the task. `device`: where it
        ran, so its seconds teach the work cost model as they did when it ended (None: they teach nothing);
        `refit_seconds`: what of `cost` its refit took (TaskResult.selection_seconds)."""
        rec = self.record(tenant)
        rec.used_seconds += cost
        self._served(self._row[tenant])
        return self._observe(rec, self._column(rec, arm), quality, cost, now, device, cost - refit_seconds)

    def replay_failure(self, tenant: str, arm: Arm, cost: float, retryable: bool = False) -> None:
        rec = self.record(tenant)
        rec.used_seconds += cost
        self._served(self._row[tenant])
        self._failed(rec, self._column(rec, arm), retryable)

    def replay_cancelled(self, tenant: str) -> None:
        """A task decided and then cancelled before a restart: it was served (the others waited), then handed back."""
        self._served(self._row[tenant])
        self.record(tenant).started -= 1

    def replay_elsewhere(self) -> None:
        """A decision before a restart for a tenant not in this selection (its job ended or was replaced): the
        tenants here waited for it all the same, and the aging policies count that."""
        self._waiting = [w + 1 for w in self._waiting]

    def observe_cost(self, arm: str, samples: float, gflop: float, device: str, seconds: float) -> None:
        """A task outside this selection's jobs trained `arm` (`gflop` over `samples`) in `seconds` on `device` (an
        earlier job's, replayed at a restart): the work cost model learns from it as from this selection's own."""
        self.work_costs.observe(arm, samples, gflop, device, seconds)
        self._reprice()

    def _observe(self, rec: TenantRecord, col: int, quality: float, cost: float, now: float,
                 device: str | None, selection_seconds: float) -> Observation:
        rec.posterior.observe(col, quality)
        rec.runs.append(Run(quality, selection_seconds))
        if cost > 0:
            rec.cost_arms.append(col)
            rec.cost_values.append(cost)
            if rec.work is not None and device is not None:
                self.observe_cost(rec.job.arms[col].name, rec.work.samples, rec.work.gflop[col], device, cost)
        if rec.best_arm is None or quality > rec.best:
            rec.best, rec.best_arm = quality, col
        return Observation(rec.tenant.name, rec.job.arms[col], quality, cost, now)

    def has_work(self) -> bool:
        """Some tenant could still be served (ignoring pause and quota, which can change)."""
        return any(
            not r.retired and len(r.posterior.arms) + len(r.failed) + len(r.pending) < r.n_arms for r in self.records
        )

    def optimistic_regret(self, tenant: str, beta: float = 4.0) -> float:
        """Live estimate of a tenant's regret: how far the GP's upper bound on untried arms lies above best."""
        rec = self.record(tenant)
        untried = np.ones(rec.n_arms, dtype=bool)
        untried[rec.posterior.arms] = False
        untried[rec.failed] = False
        if not untried.any():
            return 0.0
        upper = rec.posterior.mean[untried] + np.sqrt(beta) * rec.posterior.sigma[untried]
        return float(max(0.0, min(1.0, upper.max()) - rec.best))

