"""The lab as one consistent read (Qt-free): what the window shows and what `tenant/dataset/host list --json`
print come from the same rows, read in one transaction, so the two ways in cannot disagree by construction.

`LabReadModel` keeps a read-only connection and its own change detection: the store's data_version (another
process committed) and the file's identity (a store replaced or restored under it). It is used from one thread
only (the window's poller, or a command); it raises LabUnavailable with a message instead of a store error.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine.types import Decision, Observation, TaskState
from ..live_lab import lab_upper_bounds
from ..store import DatasetRecord, EpochReport, HostRecord, LabReader, LabStore, StoreError, TaskRecord
from ..store.records import JobSummary
from .history import FinishedTask, finished_tasks
from .tenants import HOUR

EMPTY_HINT = "No lab yet: run `easeml-gui demo` or add tenants with `easeml-gui tenant add`"
BOUNDS_REFIT_SECONDS = 5.0
BELIEF_DECISIONS = 200  # how far back the models' beliefs are read (each decision has every tenant's next pick)


class LabUnavailable(Exception):
    """Nothing to read; `empty` = there is simply no lab yet (as opposed to a store that cannot be read)."""

    def __init__(self, message: str, empty: bool) -> None:
        super().__init__(message)
        self.message = message
        self.empty = empty


# ---- the rows both ways in list -----------------------------------------------------------------------------

@dataclass(frozen=True)
class TenantInfo:
    name: str
    weight: float
    quota_hours: float | None
    used_hours: float  # device time its finished tasks took
    paused: bool
    tasks_done: int
    best_accuracy: float | None  # the delivered model's validation accuracy (engine/delivery.py)
    best_model: str | None
    best_test_accuracy: float | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "weight": self.weight, "quota_hours": self.quota_hours,
                "used_hours": self.used_hours, "paused": self.paused, "tasks_done": self.tasks_done,
                "best_accuracy": self.best_accuracy, "best_model": self.best_model,
                "best_test_accuracy": self.best_test_accuracy}


@dataclass(frozen=True)
class DatasetListing:
    name: str
    class_names: tuple[str, ...]
    counts: tuple[int, ...]  # images per class, in class_names order
    content_hash: str
    path: str
    stats: Any  # what registration measured (sizes, channels): the Datasets tab's summary line

    @property
    def images(self) -> int:
        return sum(self.counts)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "classes": len(self.class_names), "images": self.images,
                "hash": self.content_hash, "class_names": list(self.class_names), "path": self.path}


def host_status(host: HostRecord) -> str:
    """The last probe's verdict, "never probed" before one."""
    return str((host.last_probe or {}).get("status", "never probed"))


def host_json(host: HostRecord) -> dict[str, Any]:
    user = f"{host.user}@" if host.user else ""
    return {"name": host.name, "address": f"{user}{host.address}:{host.port}",
            "trusted": host.host_key_fingerprint is not None, "status": host_status(host), "kind": "ssh",
            "ready": bool((host.last_probe or {}).get("ready", False)), "probed": host.probed,
            "python": host.python, "gpus": None if host.gpus is None else list(host.gpus)}


def tenant_infos(reader: LabReader, status: dict[str, Any] | None = None) -> tuple[TenantInfo, ...]:
    """Every tenant that is not archived, by name, with its delivered model (`status`: a status document
    already read in this transaction)."""
    with reader.snapshot():
        registry = reader.tenants()
        used = reader.used_seconds()
        status = reader.status() if status is None else status
    best = {row["name"]: row for row in status["tenants"]}
    return tuple(
        TenantInfo(t.name, t.weight, None if t.quota_seconds is None else t.quota_seconds / HOUR,
                   used.get(t.name, 0.0) / HOUR, t.paused, best.get(t.name, {}).get("tasks_done", 0),
                   best.get(t.name, {}).get("best_accuracy"), best.get(t.name, {}).get("best_model"),
                   best.get(t.name, {}).get("best_test_accuracy"))
        for t in registry)


def dataset_listing(record: DatasetRecord) -> DatasetListing:
    classes = tuple(record.stats.get("classes", ()))
    counts = record.stats.get("counts", {})
    return DatasetListing(record.name, classes, tuple(int(counts.get(c, 0)) for c in classes), record.content_hash,
                       record.path, record.stats)


def dataset_listings(reader: LabReader) -> tuple[DatasetListing, ...]:
    return tuple(dataset_listing(d) for d in reader.datasets())


# ---- the whole lab, for the window ----------------------------------------------------------------------------

@dataclass(frozen=True)
class LabState:
    """One consistent read of the lab (one read transaction)."""

    path: str
    tenants: tuple[TenantInfo, ...]
    datasets: tuple[DatasetListing, ...]
    hosts: tuple[HostRecord, ...]
    status: dict[str, Any]  # the `status --json` document
    observations: tuple[Observation, ...]  # in the order they were recorded
    decisions: tuple[Decision, ...]  # newest first, at most BELIEF_DECISIONS
    believed_regret: tuple[tuple[float, float | None], ...]  # (time, estimate) of every decision, in time order
    running: tuple[TaskRecord, ...]
    curves: dict[str, list[EpochReport]]  # running task -> its epochs so far
    spans: tuple[tuple[str, str, str, float, float | None, str], ...]  # reader.task_times()
    upper_bounds: dict[str, float]
    jobs: tuple[JobSummary, ...]  # every job, oldest first (`job list`'s rows)
    history: tuple[FinishedTask, ...]  # every finished task, in decision order
    read_at: float  # wall clock of the read


class BelievedRegret:
    """Every decision's kept regret estimate, in time order, read incrementally: a lab that ran for weeks has
    tens of thousands of decisions, and only the new ones are read at each poll."""

    def __init__(self) -> None:
        self._rows: list[tuple[float, int, float | None]] = []  # (time, id, estimate): sorted as the curve needs
        self._last_id = 0

    def read(self, reader: LabReader) -> list[tuple[float, float | None]]:
        new = [(time, id_, estimate) for id_, time, estimate in reader.believed_regret_after(self._last_id)]
        if new:
            self._last_id = new[-1][1]
            start = max(len(self._rows) - 1, 0)
            self._rows.extend(new)
            if any(a > b for a, b in zip(self._rows[start:], self._rows[start + 1:])):
                self._rows.sort()  # a clock set back between two decisions: rare
        return [(time, estimate) for time, _, estimate in self._rows]


class LabReadModel:
    """The lab in a store file, through a read-only connection opened when the file appears."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._reader: LabReader | None = None
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file the reader opened
        # The GP bounds cost a prior fit and a replay (50 ms for 50 tenants, ~0.5 s for 100): refit only when
        # results or jobs changed, and while they keep changing at most every BOUNDS_REFIT_SECONDS.
        self._bounds: dict[str, float] = {}
        self._bounds_key: tuple[int, ...] | None = None
        self._bounds_at = 0.0
        self._believed = BelievedRegret()
        self._last: tuple[int, LabState] | None = None  # (data_version, state) of the last complete read
        # The finished tasks (the History tab) cost ~60 us each to list: re-listed only when one ended or changed.
        self._history: tuple[tuple[int, float, int] | None, tuple[FinishedTask, ...]] = (None, ())

    def read(self, force: bool = False) -> LabState:
        """The lab now; an unchanged store (same data_version, same file) returns the last state without reading
        it again, unless `force`."""
        reader = self._open()
        try:
            with reader.snapshot():
                version = reader.data_version()
                if not force and self._last is not None and self._last[0] == version:
                    return self._last[1]
                state, complete = self._read(reader)
        except StoreError as exc:
            self.close()  # reopen on the next read: the file may have been replaced or restored
            raise LabUnavailable(str(exc), empty=False) from None
        self._last = (version, state) if complete else None  # stale bounds: refit at a later read
        return state

    def _open(self) -> LabReader:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self.close()
            raise LabUnavailable(EMPTY_HINT, empty=True) from None
        if stat.st_size == 0 and not os.path.isdir(self.path):
            self.close()
            raise LabUnavailable(EMPTY_HINT, empty=True)
        if self._reader is not None and self._identity != (stat.st_dev, stat.st_ino):
            self.close()  # another file now stands at the path (a restored backup): never show the old one
        if self._reader is None:
            try:
                self._reader = LabStore.open_readonly(self.path)
            except StoreError as exc:
                raise LabUnavailable(str(exc), empty=False) from None
            self._identity = (stat.st_dev, stat.st_ino)
        return self._reader

    def _read(self, reader: LabReader) -> tuple[LabState, bool]:
        """Everything, inside the caller's read transaction; complete = False while the GP bounds are stale."""
        observations = reader.observations()
        key = (len(observations), len(reader.tasks(TaskState.FAILED)), len(reader.jobs()), len(reader.tenants()))
        complete = key == self._bounds_key
        if not complete and (self._bounds_key is None or time.monotonic() - self._bounds_at >= BOUNDS_REFIT_SECONDS):
            self._bounds, self._bounds_key, self._bounds_at = lab_upper_bounds(reader), key, time.monotonic()
            complete = True
        status = reader.status(self._bounds)
        running = tuple(reader.tasks(TaskState.RUNNING))
        spans = tuple(reader.task_times())
        state = LabState(
            path=str(self.path), tenants=tenant_infos(reader, status), datasets=dataset_listings(reader),
            hosts=tuple(reader.hosts()), status=status, observations=tuple(observations),
            decisions=tuple(reader.decisions(limit=BELIEF_DECISIONS)),
            believed_regret=tuple(self._believed.read(reader)),
            running=running, curves=reader.epoch_curves([t.task_id for t in running]),
            spans=spans, upper_bounds=dict(self._bounds),
            jobs=tuple(reader.job_summaries()), history=self._finished(reader),
            read_at=time.time())
        return state, complete

    def _finished(self, reader: LabReader) -> tuple[FinishedTask, ...]:
        key = reader.finished_version()
        if key != self._history[0]:
            self._history = (key, finished_tasks(reader))
        return self._history[1]

    def close(self) -> None:
        self._history = (None, ())
        self._last = None  # a reopened file's data_version starts afresh
        self._believed = BelievedRegret()  # and may hold other decisions (a restored backup)
        self._identity = None
        if self._reader is not None:
            try:
                self._reader.close()
            finally:
                self._reader = None
