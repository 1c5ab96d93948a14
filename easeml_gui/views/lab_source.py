"""Where the Lab tab's numbers come from: the lab layer's read model of the store file (pure Python: no Qt).

A source is read from the poller's thread, never from the GUI thread; it raises LabUnavailable with a message
for the user instead of letting a store error escape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..lab.read_model import LabReadModel, LabState, LabUnavailable
from .host_rows import host_row
from .lab_snapshot import LabSnapshot, RunningRow, TaskSpan, build_snapshot, dataset_row
from .task_progress import parse_progress

RECENT_DECISIONS = 20

__all__ = ["LabSource", "LabUnavailable", "StoreSource"]


class LabSource(Protocol):
    def read(self, force: bool = False) -> LabSnapshot: ...

    def close(self) -> None: ...


def snapshot_of(state: LabState) -> LabSnapshot:
    """What the Lab, Datasets and Hosts tabs show of one read of the lab."""
    running = [RunningRow(t.task_id, t.tenant, t.arm.name, t.device, t.started, t.log_tail or "starting",
                          parse_progress(t.log_tail),
                          tuple((e.epoch, e.val_accuracy) for e in state.curves.get(t.task_id, ())))
               for t in state.running]
    return build_snapshot(state.path, state.tenants, state.status, state.observations,
                          state.decisions[:RECENT_DECISIONS], upper_bounds=state.upper_bounds, running=running,
                          datasets=[dataset_row(d) for d in state.datasets],
                          spans=[TaskSpan(*times) for times in state.spans], belief_decisions=state.decisions,
                          hosts=[host_row(h) for h in state.hosts], believed=state.believed_regret,
                          finished=state.history, jobs=state.jobs)


class StoreSource:
    """The lab in a store file, through the lab layer's read model; a snapshot is built only for a new read."""

    def __init__(self, path: Path) -> None:
        self.model = LabReadModel(path)
        self._shown: tuple[LabState, LabSnapshot] | None = None

    def read(self, force: bool = False) -> LabSnapshot:
        state = self.model.read(force)
        if self._shown is None or self._shown[0] is not state:
            self._shown = (state, snapshot_of(state))
        return self._shown[1]

    def close(self) -> None:
        self._shown = None
        self.model.close()
