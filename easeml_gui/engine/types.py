"""Frozen records the engine, executors, store and views exchange."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Mapping


class TaskState(str, enum.Enum):
    """A task's lifecycle; the store persists each state before the transition happens."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (TaskState.DONE, TaskState.FAILED, TaskState.CANCELLED)


@dataclass(frozen=True)
class Tenant:
    name: str
    weight: float = 1.0
    quota_seconds: float | None = None  # device seconds; None = unlimited
    paused: bool = False


@dataclass(frozen=True)
class Arm:
    """One candidate model of a job (a catalogue architecture, or a matrix column in simulation)."""

    name: str
    index: int  # column in the prior's history matrix


@dataclass(frozen=True)
class Job:
    """One tenant's model-selection job: which arms it may try, with what it trains them."""

    tenant: str
    arms: tuple[Arm, ...]
    seed: int = 0
    config: Mapping[str, Any] = field(default_factory=dict)  # executor-specific: dataset path, epochs, ...


@dataclass(frozen=True)
class Task:
    """One (tenant, arm) training run on one device."""

    task_id: str
    tenant: str
    arm: Arm
    device: str
    attempt: int = 1
    seed: int = 0
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskLocation:
    """Where a started task lives, recorded in the store when it starts, so that a later run (or the same run
    after a dropped connection) finds it again, and can re-attach to it or stop it."""

    folder: str  # the task folder on its host (the wire contract's files: training/wire.py)
    host: str | None = None  # a registered host's name; None: this machine
    pid: int | None = None  # the worker's pid there, which leads its own process group


# The Task.config key the scheduler sets: the tenant's finished runs when the task was decided, as [quality,
# seconds] pairs (engine/delivery.py Run). The worker refits its model on train + validation when, among them, it is
# the one the tenant gets (delivery.delivered).
TENANT_RUNS = "tenant_runs"
# The TaskResult.details key a worker sets to the seconds of that refit: the run's selection took the rest.
REFIT_SECONDS = "refit_seconds"
RETRYABLE = "retryable"  # the TaskResult.details key executors set (and the store keeps) for such a failure
# A model whose worker keeps being killed (it may be what exhausts the memory) is retired after this many retries
# rather than handed out for ever.
MAX_RETRIES = 2


@dataclass(frozen=True)
class TaskResult:
    """What an executor reports when a task ends. quality is None unless state is DONE."""

    task_id: str
    tenant: str
    arm: Arm
    device: str
    state: TaskState
    quality: float | None = None
    cost: float = 0.0  # seconds of device time
    error: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)  # result.json extras: peak memory, versions, ...

    @property
    def selection_seconds(self) -> float:
        """The seconds its model's selection took: its cost less a refit of the delivered model (delivery.Run)."""
        return self.cost - float(self.details.get(REFIT_SECONDS) or 0.0)

    @property
    def retryable(self) -> bool:
        """A FAILED task whose worker was killed from outside (the OOM killer, a reboot, a colleague's kill):
        not the model's fault, so its model is handed out again (MAX_RETRIES times at most)."""
        return self.state is TaskState.FAILED and bool(self.details.get(RETRYABLE))


@dataclass(frozen=True)
class Observation:
    tenant: str
    arm: Arm
    quality: float
    cost: float
    time: float  # clock time at which it was observed


@dataclass(frozen=True)
class TenantScore:
    """Why a tenant was (or was not) served: the numbers behind one decision, per tenant."""

    tenant: str
    arm: str  # the arm this tenant would train next
    mean: float
    sigma: float
    acquisition: float  # the policy's score for this tenant (higher = served first)
    predicted_cost: float
    weight: float
    best: float  # best quality so far


@dataclass(frozen=True)
class Decision:
    """One choice of (tenant, arm) for a free device, with its explanation."""

    time: float
    device: str
    tenant: str
    arm: Arm
    policy: str
    scores: tuple[TenantScore, ...]

    def explain(self) -> str:
        chosen = next(s for s in self.scores if s.tenant == self.tenant)
        return (
            f"{self.policy}: served {self.tenant} with {self.arm.name} on {self.device} "
            f"(mean {chosen.mean:.3f}, sigma {chosen.sigma:.3f}, score {chosen.acquisition:.4g}, "
            f"cost {chosen.predicted_cost:.3g}s, best so far {chosen.best:.3f})"
        )
