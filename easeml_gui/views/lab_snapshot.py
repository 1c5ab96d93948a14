"""What the Lab tab shows, computed off the GUI thread from plain records (pure Python: no Qt, no SQL).

The same builder serves a real store (lab_source.StoreSource) and the simulated demo lab (demo_lab), so both
look alike and the widgets never see where the numbers came from.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..engine.types import Decision, Observation
from ..lab.history import FinishedTask
from ..lab.read_model import DatasetListing, JobSummary, TenantInfo
from ..lab.tenants import HOUR
from .host_rows import HostRow
from .model_beliefs import ModelBelief, lab_beliefs
from .step_series import step_xy, values_at
from .task_progress import EpochProgress

TASK_STATES = ("queued", "running", "done", "failed")


@dataclass(frozen=True)
class TenantRow:
    name: str
    weight: float
    paused: bool
    tasks_done: int
    best_accuracy: float | None  # validation: what selection saw
    best_model: str | None
    best_test_accuracy: float | None = None  # the same model on the test split selection never saw
    used_seconds: float = 0.0  # device time its finished tasks took
    quota_seconds: float | None = None  # device time it may use; None: no quota


@dataclass(frozen=True)
class DatasetRow:
    """A registered dataset as the Datasets tab lists it (from the store's record; no image is read)."""

    name: str
    classes: tuple[str, ...]
    counts: tuple[int, ...]  # images per class, in `classes` order
    path: str
    summary: str  # sizes and colour, one line

    @property
    def images(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class RunningRow:
    """A task on a device now, with the latest progress line its run reported (an epoch's loss and accuracy)."""

    task_id: str
    tenant: str
    model: str
    device: str
    started: float | None  # store clock
    progress: str
    epoch: EpochProgress | None = None  # parsed from `progress` off the GUI thread; None: no epoch ended yet
    curve: tuple[tuple[int, float], ...] = ()  # (epoch, validation accuracy) of every epoch it reported so far

    @property
    def label(self) -> str:
        return f"{self.tenant}/{self.model} ({self.task_id})"


@dataclass(frozen=True)
class TaskSpan:
    """A task's time on its device (store clock) for the device timeline; `ended` None while it runs."""

    task_id: str
    tenant: str
    device: str
    started: float
    ended: float | None
    state: str


@dataclass(frozen=True, eq=False)
class LabSnapshot:
    """One consistent read of the lab. Times in the series are seconds since `t0` (the first task's start)."""

    source: str  # what was read: the store path, or "demo lab (simulated)"
    tenants: tuple[TenantRow, ...]
    counts: Mapping[str, int]  # queued, running, done, failed
    regret_estimate: float
    t0: float
    accuracy: Mapping[str, tuple[np.ndarray, np.ndarray]]  # tenant -> best accuracy step curve
    regret: tuple[np.ndarray, np.ndarray]  # global regret estimate step curve
    decisions: tuple[Decision, ...]  # newest first
    running: tuple[RunningRow, ...] = ()
    fingerprint: tuple = field(default=())  # changes whenever anything shown changes
    datasets: tuple[DatasetRow, ...] = ()
    spans: tuple[TaskSpan, ...] = ()  # every task that started, in start order
    beliefs: Mapping[str, tuple[ModelBelief, ...]] = field(default_factory=dict)  # per tenant
    hosts: tuple[HostRow, ...] = ()
    history: tuple[FinishedTask, ...] = ()  # every finished task, in decision order
    jobs: tuple[JobSummary, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.tenants


def _contribution(weight: float, bound: float, best: float | None) -> float:
    return weight * max(0.0, bound - (best or 0.0))


def _believed_regret(replayed: tuple[list[float], list[float]], believed: Sequence[tuple[float, float | None]],
                     t0: float, latest: float | None, current: float) -> tuple[list[float], list[float]]:
    """The regret curve as it was believed at each moment (`believed` holds at least one estimate).

    From the first decision that kept its estimate on, a step per decision at that estimate (one without, at the
    replay's value then); before it, the replay of the observations, so a store from before the estimates were
    kept draws as it did. Results after the last decision (`latest`, since t0) step to what is believed now."""
    times, values = replayed
    first = next(i for i, (_, estimate) in enumerate(believed) if estimate is not None)
    cut = bisect_left(times, believed[first][0] - t0)
    curve_t, curve_v = times[:cut], values[:cut]
    for time, estimate in believed[first:]:
        curve_t.append(time - t0)
        curve_v.append(float(values_at(times, values, [time - t0])[0]) if estimate is None else estimate)
    if latest is not None and latest > curve_t[-1]:
        curve_t.append(latest)
        curve_v.append(current)
    return curve_t, curve_v


def tenant_row(info: TenantInfo) -> TenantRow:
    return TenantRow(info.name, info.weight, info.paused, info.tasks_done, info.best_accuracy, info.best_model,
                     info.best_test_accuracy, info.used_hours * HOUR,
                     None if info.quota_hours is None else info.quota_hours * HOUR)


def build_snapshot(
    source: str,
    tenants: Sequence[TenantInfo],
    status: Mapping[str, Any],
    observations: Sequence[Observation],
    decisions: Sequence[Decision],
    upper_bounds: Mapping[str, float] | None = None,
    running: Sequence[RunningRow] = (),
    datasets: Sequence[DatasetRow] = (),
    spans: Sequence[TaskSpan] = (),
    belief_decisions: Sequence[Decision] | None = None,
    hosts: Sequence[HostRow] = (),
    finished: Sequence[FinishedTask] = (),
    jobs: Sequence[JobSummary] = (),
    believed: Sequence[tuple[float, float | None]] = (),
) -> LabSnapshot:
    """tenants: the lab's tenants (lab.read_model); status: the `status --json` document, for the task counts and
    the regret; observations in any order; decisions newest first.
    The models' beliefs per tenant come from `belief_decisions` (newest first; default `decisions`): a longer
    history than the decision log shows, so a model weighed a while ago keeps its belief.

    The regret curve is the estimate each decision kept (`believed`: (time, estimate or None) per decision, in
    time order), as it was believed then. Where none was kept, it replays the observations with the estimate
    `status` reports (store.summary): the tenant-weighted mean of max(0, U_i - best_i), U_i = upper_bounds[tenant]
    or 1.0, as the bounds stand now.
    """
    rows = tuple(tenant_row(info) for info in tenants)
    counts = {s: int(status["tasks"].get(s, 0)) for s in TASK_STATES}
    ordered = sorted(observations, key=lambda o: o.time)
    decided = [d.time for d in decisions] + [time for time, _ in believed[:1] + believed[-1:]]
    starts = [o.time - max(o.cost, 0.0) for o in ordered] + decided
    t0 = min(starts) if starts else 0.0
    end = max([o.time for o in ordered] + decided, default=t0) - t0

    # Best accuracy per tenant: a step at each improvement.
    improvements: dict[str, tuple[list[float], list[float]]] = {}
    best: dict[str, float] = {}
    weight = {r.name: r.weight for r in rows}
    bound = {r.name: min(float((upper_bounds or {}).get(r.name, 1.0)), 1.0) for r in rows}
    bound = {name: 1.0 if math.isnan(b) else b for name, b in bound.items()}
    total_weight = sum(weight.values())
    contribution = {name: _contribution(weight[name], bound[name], None) for name in weight}
    total = sum(contribution.values())
    regret_t, regret_v = [0.0], [total / total_weight if total_weight else 0.0]
    for o in ordered:
        if o.tenant in best and o.quality <= best[o.tenant]:
            continue
        best[o.tenant] = o.quality
        times, values = improvements.setdefault(o.tenant, ([], []))
        times.append(o.time - t0)
        values.append(o.quality)
        if o.tenant in weight:  # archived tenants are not part of the lab's regret any more
            new = _contribution(weight[o.tenant], bound[o.tenant], o.quality)
            total += new - contribution[o.tenant]
            contribution[o.tenant] = new
            regret_t.append(o.time - t0)
            regret_v.append(max(total, 0.0) / total_weight if total_weight else 0.0)
    accuracy = {name: step_xy(*improvements[name], end) for name in sorted(improvements) if name in weight}
    current = float(status.get("global_regret_estimate", regret_v[-1]))
    kept = any(estimate is not None for _, estimate in believed)
    if kept:
        latest = ordered[-1].time - t0 if ordered else None
        regret_t, regret_v = _believed_regret((regret_t, regret_v), believed, t0, latest, current)
    regret = step_xy(regret_t, regret_v, end) if ordered or kept else (np.zeros(0), np.zeros(0))

    last = ordered[-1] if ordered else None
    newest = decisions[0] if decisions else None
    fingerprint = (
        source, rows, tuple(sorted(counts.items())), len(ordered),
        None if last is None else (last.tenant, last.arm.name, last.time),
        len(decisions), None if newest is None else (newest.time, newest.device, newest.tenant, newest.arm.name),
        tuple(running), tuple(datasets), tuple(spans), tuple(hosts),
        len(finished), finished[-1] if finished else None,  # a finished task never changes: new ones join
        tuple(jobs),
    )
    history = decisions if belief_decisions is None else belief_decisions
    beliefs = lab_beliefs([row.name for row in rows], history, ordered)
    return LabSnapshot(source, rows, counts, current, t0,
                       accuracy, regret, tuple(decisions), tuple(running), fingerprint, tuple(datasets),
                       tuple(spans), beliefs, tuple(hosts), tuple(finished), tuple(jobs))


def dataset_row(info: DatasetListing) -> DatasetRow:
    """From what registration measured (classes, counts, sizes, channels); no image is read."""
    stats = info.stats
    colour = "grey" if stats.get("channels") == 1 else "colour"
    size = ""
    if "median_width" in stats:
        size = f", median {stats['median_width']:g} x {stats['median_height']:g} px"
    return DatasetRow(info.name, info.class_names, info.counts, info.path,
                      f"{len(info.class_names)} classes, {info.images:,} images, {colour}{size}")
