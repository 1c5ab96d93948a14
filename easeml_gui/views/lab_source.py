"""Where the Lab tab's numbers come from: the store file, read-only (pure Python: no Qt).

A source is read from the poller's thread, never from the GUI thread; it raises LabUnavailable with a message
for the user instead of letting a store error escape.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

from ..engine.types import TaskState
from ..live_lab import lab_upper_bounds
from ..store import LabReader, LabStore, StoreError
from .host_rows import host_row
from .lab_snapshot import LabSnapshot, RunningRow, TaskSpan, build_snapshot, dataset_row
from .task_progress import parse_progress

EMPTY_HINT = "No lab yet: run `easeml-gui demo` or add tenants with `easeml-gui tenant add`"
RECENT_DECISIONS = 20
BOUNDS_REFIT_SECONDS = 5.0
BELIEF_DECISIONS = 200  # how far back the models' beliefs are read (each decision has every tenant's next pick)


class LabUnavailable(Exception):
    """Nothing to show; `empty` = there is simply no lab yet (as opposed to a store that cannot be read)."""

    def __init__(self, message: str, empty: bool) -> None:
        super().__init__(message)
        self.message = message
        self.empty = empty


class LabSource(Protocol):
    def read(self) -> LabSnapshot: ...

    def close(self) -> None: ...


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


class StoreSource:
    """The lab in a store file, through a read-only connection opened when the file appears."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._reader: LabReader | None = None
        # The GP bounds cost a prior fit and a replay (50 ms for 50 tenants, ~0.5 s for 100): refit only when
        # results or jobs changed, and while they keep changing at most every BOUNDS_REFIT_SECONDS (the poller's
        # thread shares the GIL with the window, and the bounds move slowly).
        self._bounds: dict[str, float] = {}
        self._bounds_key: tuple[int, ...] | None = None
        self._bounds_at = 0.0
        self._believed = BelievedRegret()
        # An idle lab is not re-read every second: the last snapshot stands while the file's data_version stays.
        self._read_at_version: tuple[int, LabSnapshot] | None = None

    def read(self) -> LabSnapshot:
        if self._reader is None:
            if not self.path.exists() or (self.path.is_file() and self.path.stat().st_size == 0):
                raise LabUnavailable(EMPTY_HINT, empty=True)
            try:
                self._reader = LabStore.open_readonly(self.path)
            except StoreError as exc:
                raise LabUnavailable(str(exc), empty=False) from None
        reader = self._reader
        try:
            version = reader.data_version()  # before the reads: a commit during them is read at the next poll
            if self._read_at_version is not None and self._read_at_version[0] == version:
                return self._read_at_version[1]
            tenants = reader.tenants()
            observations = reader.observations()
            key = (len(observations), len(reader.tasks(TaskState.FAILED)), len(reader.jobs()), len(tenants))
            stale = key != self._bounds_key
            if stale and (self._bounds_key is None or time.monotonic() - self._bounds_at >= BOUNDS_REFIT_SECONDS):
                self._bounds, self._bounds_key, self._bounds_at = lab_upper_bounds(reader), key, time.monotonic()
                stale = False
            status = reader.status(self._bounds)
            history = reader.decisions(limit=BELIEF_DECISIONS)
            believed = self._believed.read(reader)
            on_devices = reader.tasks(TaskState.RUNNING)
            curves = reader.epoch_curves([t.task_id for t in on_devices])
            running = [RunningRow(t.task_id, t.tenant, t.arm.name, t.device, t.started, t.log_tail or "starting",
                                  parse_progress(t.log_tail),
                                  tuple((e.epoch, e.val_accuracy) for e in curves.get(t.task_id, ())))
                       for t in on_devices]
            spans = [TaskSpan(*times) for times in reader.task_times()]
            used = reader.used_seconds()
            datasets = [dataset_row(d.name, d.path, d.stats) for d in reader.datasets()]
            hosts = [host_row(h) for h in reader.hosts()]
        except StoreError as exc:
            self.close()  # reopen on the next read: the file may have been replaced or restored
            raise LabUnavailable(str(exc), empty=False) from None
        # No tenants yet is still a snapshot (an empty one): the datasets already registered are shown.
        snapshot = build_snapshot(str(self.path), tenants, status, observations, history[:RECENT_DECISIONS],
                                  upper_bounds=self._bounds, running=running, used_seconds=used, datasets=datasets,
                                  spans=spans, belief_decisions=history, hosts=hosts, believed=believed)
        self._read_at_version = None if stale else (version, snapshot)  # stale bounds: refit at a later poll
        return snapshot

    def close(self) -> None:
        self._read_at_version = None  # a reopened file's data_version starts afresh
        self._believed = BelievedRegret()  # and may hold other decisions (a restored backup)
        if self._reader is not None:
            try:
                self._reader.close()
            finally:
                self._reader = None
