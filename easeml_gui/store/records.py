"""What the store's queries return: frozen records built from rows (engine types where the engine has one)."""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, Mapping

import numpy as np

from ..engine.types import Arm, Job, Task, TaskLocation, TaskState, Tenant, TenantScore

# Keys of Task.config / Job.config the store reads: the job a task belongs to, and the SSH host it runs on.
JOB_KEY = "job"
HOST_KEY = "host"


class JobState(str, enum.Enum):
    ACTIVE = "active"
    DONE = "done"
    CANCELLED = "cancelled"


def to_json(value: Any) -> str:
    """JSON for a column; values JSON lacks (paths, numpy scalars) are stored as their text."""
    return json.dumps(value, default=str)


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


_SCORE_FIELDS = tuple(f.name for f in fields(TenantScore))


def scores_to_json(scores: tuple[TenantScore, ...]) -> str:
    """A decision's per-tenant numbers, column by column: with 200 tenants per decision, this is ~40x faster
    than dataclasses.asdict and a third smaller than one object per tenant."""
    # A tenant that could not be served has no mean/sigma (NaN) and a score of -inf: JSON has neither, so null.
    return json.dumps({name: [_finite(getattr(s, name)) for s in scores] for name in _SCORE_FIELDS})


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


# A decision never changes: the window's poller re-reads the latest 200 every second. No more kept than that: with
# 50 tenants each entry holds 50 objects, which every full garbage collection on the GUI thread walks.
@lru_cache(maxsize=256)
def scores_from_json(text: str) -> tuple[TenantScore, ...]:
    columns = json.loads(text)
    return tuple(
        TenantScore(**{k: (math.nan if v is None and k != "arm" else v) for k, v in zip(columns, values)})
        for values in zip(*columns.values())
    )


def chosen_prediction(explanation: str, tenant: str) -> tuple[float | None, float | None, float | None]:
    """What a decision expected of the tenant it served: (mean, sigma, predicted seconds), None where unknown.
    Reads the three columns it needs, not every tenant's TenantScore (a log has many decisions of many tenants)."""
    columns = json.loads(explanation)
    if tenant not in columns.get("tenant", ()):
        return None, None, None
    i = columns["tenant"].index(tenant)
    return columns["mean"][i], columns["sigma"][i], columns["predicted_cost"][i]


def tenant_from_row(row: Mapping[str, Any]) -> Tenant:
    return Tenant(
        name=row["name"], weight=row["weight"], quota_seconds=row["quota_seconds"], paused=bool(row["paused"])
    )


@dataclass(frozen=True)
class DatasetRecord:
    name: str
    path: str
    content_hash: str
    manifest: Mapping[str, Any]
    stats: Mapping[str, Any]  # classes, counts, image sizes, channels
    split: Mapping[str, Any]
    created: float
    archived: float | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "DatasetRecord":
        return cls(
            name=row["name"], path=row["path"], content_hash=row["content_hash"], manifest=_json(row["manifest"]),
            stats=_json(row["stats"]), split=_json(row["split"]), created=row["created"], archived=row["archived"],
        )


@dataclass(frozen=True)
class JobRecord:
    id: int
    tenant: str
    dataset: str
    arms: tuple[Arm, ...]
    epochs: int
    image_size: int
    seed: int
    schema: Mapping[str, Any]
    config: Mapping[str, Any]
    state: JobState
    created: float
    ended: float | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "JobRecord":
        return cls(
            id=row["id"], tenant=row["tenant"], dataset=row["dataset"],
            arms=tuple(Arm(a["name"], a["index"]) for a in _json(row["arms"])), epochs=row["epochs"],
            image_size=row["image_size"], seed=row["seed"], schema=_json(row["schema"]), config=_json(row["config"]),
            state=JobState(row["state"]), created=row["created"], ended=row["ended"],
        )

    def to_job(self) -> Job:
        """The engine's view; its config carries the job id (JOB_KEY), so tasks made from it find their job."""
        config = {**self.config, JOB_KEY: self.id, "dataset": self.dataset, "epochs": self.epochs,
                  "image_size": self.image_size}
        return Job(tenant=self.tenant, arms=self.arms, seed=self.seed, config=config)


@dataclass(frozen=True)
class JobSummary:
    """A job at a glance (`job list`, the window's Jobs view): what became of its models and what it cost."""

    id: int
    tenant: str
    dataset: str
    state: JobState
    models_done: int  # models with a done task
    models_left: int  # the rest: not tried yet, running, queued, cancelled, or failed with a retry left
    models_failed: int  # models whose tasks failed with no retry left and none done
    device_seconds: float  # what its ended tasks cost
    best_accuracy: float | None  # the best validation accuracy it observed; None before its first result
    running: int  # its tasks running now
    created: float
    ended: float | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "JobSummary":
        done, failed = int(row["models_done"]), int(row["models_failed"])
        return cls(
            id=row["id"], tenant=row["tenant"], dataset=row["dataset"], state=JobState(row["state"]),
            models_done=done, models_left=max(0, int(row["models"]) - done - failed), models_failed=failed,
            device_seconds=float(row["device_seconds"]), best_accuracy=row["best_accuracy"],
            running=int(row["running"]), created=row["created"], ended=row["ended"],
        )

    def to_json(self) -> dict[str, Any]:
        """The `job list --json` object (CLI.md's keys, with running, created and ended joining them)."""
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "state": self.state.value}


@dataclass(frozen=True)
class JobCancellation:
    """What cancelling a job did: the job as it is now, and its tasks that had not ended."""

    job: JobRecord
    running: int  # its tasks running then: the lab's run cancels them
    queued: int  # its queued tasks: dropped, now or by the run that holds them
    dropped_now: bool  # False: a run held the lab, and drops them from its backlog itself


@dataclass(frozen=True)
class HostRecord:
    name: str
    address: str
    user: str | None
    port: int
    key_path: str | None
    host_key_fingerprint: str | None  # SHA256 fingerprint the admin accepted last; None = not trusted yet
    last_probe: Mapping[str, Any] | None
    probed: float | None
    created: float
    archived: float | None
    python: str = "python3"  # the interpreter that runs the worker on the host (a path or a name on its PATH)
    gpus: tuple[int, ...] | None = None  # the GPUs (nvidia-smi indexes) tasks may use, in order; None = all
    share_busy_gpus: bool = False  # whether a GPU that other users' processes hold may still get a task
    ssh_alias: str | None = None  # the ~/.ssh/config alias `address` was resolved from

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "HostRecord":
        gpus = _json(row["gpus"])
        return cls(
            name=row["name"], address=row["address"], user=row["user"], port=row["port"], key_path=row["key_path"],
            host_key_fingerprint=row["host_key_fingerprint"], last_probe=_json(row["last_probe"]),
            probed=row["probed"], created=row["created"], archived=row["archived"], python=row["python"],
            gpus=None if gpus is None else tuple(gpus), share_busy_gpus=bool(row["share_busy_gpus"]),
            ssh_alias=row["ssh_alias"],
        )


class KeySource(str, enum.Enum):
    ACCEPTED = "accepted"  # the admin saw its fingerprint and accepted it
    KNOWN_HOSTS = "known_hosts"  # the user's ~/.ssh/known_hosts already held it


@dataclass(frozen=True)
class PinnedKey:
    """A host public key trusted for one host: the key itself (type + base64 blob, as known_hosts writes it)."""

    host: str
    key_type: str  # e.g. ssh-ed25519
    key_base64: str
    fingerprint: str  # SHA256:..., as ssh-keygen -lf prints it
    source: KeySource
    trusted: float

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "PinnedKey":
        return cls(host=row["host"], key_type=row["key_type"], key_base64=row["key_base64"],
                   fingerprint=row["fingerprint"], source=KeySource(row["source"]), trusted=row["trusted"])


@dataclass(frozen=True)
class TaskRecord:
    task_id: str
    job: int | None
    tenant: str
    arm: Arm
    state: TaskState
    device: str
    host: str | None
    seed: int
    config: Mapping[str, Any]
    created: float
    started: float | None
    ended: float | None
    attempt: int
    worker_pid: int | None  # of the latest attempt (TaskLocation.pid)
    remote_dir: str | None  # the latest attempt's task folder on its host (TaskLocation.folder; local ones too)
    log_tail: str | None
    error: str | None
    cost: float
    details: Mapping[str, Any]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "TaskRecord":
        return cls(
            task_id=row["task_id"], job=row["job"], tenant=row["tenant"], arm=Arm(row["arm"], row["arm_index"]),
            state=TaskState(row["state"]), device=row["device"], host=row["host"], seed=row["seed"],
            config=_json(row["config"]), created=row["created"], started=row["started"], ended=row["ended"],
            attempt=row["attempt"], worker_pid=row["worker_pid"], remote_dir=row["remote_dir"],
            log_tail=row["log_tail"], error=row["error"], cost=row["cost"], details=_json(row["details"]),
        )

    @property
    def location(self) -> TaskLocation | None:
        """Where the latest attempt lives (recorded when it started), None when it never said."""
        if self.remote_dir is None:
            return None
        return TaskLocation(folder=self.remote_dir, host=self.host, pid=self.worker_pid)

    def to_task(self) -> Task:
        """The task to submit again (e.g. after recover()), with its stored attempt number."""
        return Task(task_id=self.task_id, tenant=self.tenant, arm=self.arm, device=self.device,
                    attempt=self.attempt, seed=self.seed, config=self.config)


_TASK_STATES = {state.value: state for state in TaskState}  # a tenth of what TaskState(value) costs, per row


@dataclass(frozen=True)
class ReplayedTask:
    """A task as the engine's replay of the store reads it (live_lab.replay_tasks): what became of it, where, at
    what cost."""

    task_id: str
    job: int | None
    tenant: str
    arm: Arm
    state: TaskState
    device: str
    cost: float
    refit_seconds: float  # what of `cost` a refit of its model took (TaskResult.selection_seconds)
    retryable: bool  # a failure of its worker's surroundings, not of its model (TaskResult.retryable)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "ReplayedTask":
        return cls(task_id=row["task_id"], job=row["job"], tenant=row["tenant"], arm=Arm(row["arm"], row["arm_index"]),
                   state=_TASK_STATES[row["state"]], device=row["device"], cost=row["cost"],
                   refit_seconds=float(row["refit_seconds"] or 0.0), retryable=bool(row["retryable"]))


@dataclass(frozen=True)
class EpochReport:
    """One epoch a running task's worker reported: its epoch progress event (training/wire.py's Epoch)."""

    epoch: int
    epochs: int
    val_accuracy: float
    loss: float | None = None  # none for a classical fit
    images_per_second: float | None = None


@dataclass(frozen=True)
class HistoryMatrix:
    """Finished jobs as the engine's prior wants them: rows = datasets, columns = arms.

    quality[i, j]: best quality arm j reached on dataset i; cost[i, j]: mean seconds of its runs there.
    NaN where the arm was never observed on that dataset. Rows are keyed by content hash, so one dataset
    registered under two names is one row (labelled with its alphabetically first name).
    """

    datasets: tuple[str, ...]
    arms: tuple[str, ...]
    quality: np.ndarray
    cost: np.ndarray


@dataclass(frozen=True)
class Member:
    """A model of a tenant's delivery: its task, its arm and its count (its weight is count / the members' total)."""

    task_id: str
    arm: str
    count: int


@dataclass(frozen=True)
class TenantDelivery:
    """What a tenant receives, as recorded with its latest result (schema v7): one member, or an ensemble of several
    (engine/ensemble.py)."""

    tenant: str
    members: tuple[Member, ...]
    val_accuracy: float  # cross-fitted for an ensemble
    test_accuracy: float | None
    images: int  # the validation images the choice was made on

    @property
    def is_ensemble(self) -> bool:
        return len(self.members) > 1

    def label(self) -> str:
        """"svc", or "ensemble: svc x2 + resnet18 x1" (heaviest first): what status and the window call it."""
        if not self.is_ensemble:
            return self.members[0].arm
        ranked = sorted(self.members, key=lambda m: -m.count)
        return "ensemble: " + " + ".join(f"{m.arm} x{m.count}" for m in ranked)

    def members_json(self) -> str:
        return json.dumps([{"task_id": m.task_id, "arm": m.arm, "count": m.count} for m in self.members])

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "TenantDelivery":
        members = tuple(Member(str(m["task_id"]), str(m["arm"]), int(m["count"])) for m in json.loads(row["members"]))
        return cls(row["tenant"], members, row["val_accuracy"], row["test_accuracy"], row["images"])


@dataclass(frozen=True)
class DeliveredModel:
    """The model a tenant gets (engine/delivery.py: the cheapest within one standard error of its best), or the
    ensemble it gets (engine/ensemble.py: then task_id and arm are its heaviest member's, label() names them all)."""

    task_id: str
    arm: str
    quality: float  # its validation accuracy (pooled over folds where it cross-validated; cross-fitted: ensemble)
    test_accuracy: float | None  # on the test split selection never saw; None without one
    top_quality: float  # the best validation accuracy any of the tenant's models reached (what regret counts)
    ensemble: TenantDelivery | None = None

    def label(self) -> str:
        return self.ensemble.label() if self.ensemble else self.arm

    def members(self) -> list[dict[str, Any]]:
        """status --json's best_members: [{"model", "task_id", "weight"}], one of weight 1 for a single model."""
        if self.ensemble is None:
            return [{"model": self.arm, "task_id": self.task_id, "weight": 1.0}]
        total = sum(m.count for m in self.ensemble.members)
        return [{"model": m.arm, "task_id": m.task_id, "weight": m.count / total} for m in self.ensemble.members]


@dataclass(frozen=True)
class DecisionLogEntry:
    """One decision with what it predicted and what its task then did (`easeml-gui log`); the outcome fields are
    None while unknown: no linked task, a task still running, a figure the worker did not report."""

    task_id: str | None
    time: float
    device: str
    host: str | None  # the SSH host the task ran on, "local" for this machine; None without a task
    tenant: str
    model: str
    predicted_quality: float | None
    predicted_sigma: float | None
    predicted_seconds: float | None
    state: str | None  # the task's state
    accuracy: float | None  # validation accuracy
    test_accuracy: float | None
    seconds: float | None  # device seconds the task took, once it ended
    error: str | None  # why a task failed (text output only: not in the JSON contract)

    def to_json(self) -> dict[str, Any]:
        """The `log --json` object (CLI.md), exactly its keys."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "error"}
