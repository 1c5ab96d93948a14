"""Device time per tenant per day or week: the accounting a lab reports to its groups (Qt-free).

A finished task's device seconds are split over the days (or ISO weeks, from Monday) its [started, ended] span
overlaps, in proportion to the overlap; a task that never started counts at its end. Periods are in local time.
Quotas are on all-time use, so each tenant's quota is compared with everything it used, not with the period shown.
"""

from __future__ import annotations

import bisect
import csv
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Literal

from ..store import LabReader
from .errors import LabError, as_lab_error
from .tenants import HOUR

Period = Literal["day", "week"]
PERIODS: tuple[Period, ...] = ("day", "week")
RECENT = {"day": 7, "week": 4}  # periods shown when no start is chosen: a week by day, a month by week
NEARLY_USED = 0.9  # of its quota: the tenant is flagged before the lab stops serving it
ALL_TENANTS = "all tenants"  # the totals row (a space: no tenant can be called that)


@dataclass(frozen=True)
class TenantUsage:
    name: str
    hours: tuple[float, ...]  # per period of the table
    quota_hours: float | None
    used_hours: float  # all time: what the quota is checked against

    @property
    def total_hours(self) -> float:
        return sum(self.hours)

    @property
    def quota_share(self) -> float | None:
        return None if self.quota_hours is None else self.used_hours / self.quota_hours

    @property
    def nearly_used(self) -> bool:
        return self.quota_share is not None and self.quota_share >= NEARLY_USED

    @property
    def over_quota(self) -> bool:
        return self.quota_share is not None and self.quota_share >= 1.0

    @property
    def quota_note(self) -> str:
        """"over quota", "nearly used" or "" (no quota, or well within it)."""
        return "over quota" if self.over_quota else "nearly used" if self.nearly_used else ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "hours": list(self.hours), "total_hours": self.total_hours,
                "quota_hours": self.quota_hours, "used_hours": self.used_hours, "quota_share": self.quota_share,
                "nearly_used": self.nearly_used, "over_quota": self.over_quota}


@dataclass(frozen=True)
class UsageTable:
    by: Period
    starts: tuple[date, ...]  # the first day of each period
    tenants: tuple[TenantUsage, ...]

    @property
    def periods(self) -> tuple[str, ...]:
        """Labels: 2024-05-06 for a day, 2024-W19 for an ISO week."""
        return tuple(period_label(start, self.by) for start in self.starts)

    @property
    def period_totals(self) -> tuple[float, ...]:
        return tuple(sum(column) for column in zip(*(t.hours for t in self.tenants))) or (0.0,) * len(self.starts)

    @property
    def total_hours(self) -> float:
        return sum(self.period_totals)

    def to_json(self) -> dict[str, Any]:
        return {"by": self.by,
                "periods": [{"label": period_label(start, self.by), "first": start.isoformat(),
                             "last": (period_end(start, self.by) - timedelta(days=1)).isoformat()}
                            for start in self.starts],
                "tenants": [t.to_json() for t in self.tenants],
                "period_totals": list(self.period_totals), "total_hours": self.total_hours}

    def to_csv(self, path: Path) -> None:
        """One row per tenant (hours per period, total, quota, all-time use, the flag), then the totals row."""
        with open(path, "w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle)
            out.writerow(["tenant", *self.periods, "total_hours", "quota_hours", "used_hours", "quota"])
            for t in self.tenants:
                out.writerow([t.name, *map(_hours, t.hours), _hours(t.total_hours),
                              "" if t.quota_hours is None else _hours(t.quota_hours), _hours(t.used_hours),
                              t.quota_note])
            out.writerow([ALL_TENANTS, *map(_hours, self.period_totals), _hours(self.total_hours), "", "", ""])


def usage(reader: LabReader, *, by: Period, since: float | None = None, until: float | None = None) -> UsageTable:
    """Hours per tenant per period of finished tasks' device time within [since, until) (epoch seconds; since None:
    from the first task, until None: now). Every current tenant has a row; an archived one only with hours here."""
    if by not in PERIODS:
        raise LabError(f"usage is counted by day or by week, not by {by!r}")
    until = time.time() if until is None else until
    with as_lab_error():
        costs = reader.task_costs()
        current = {t.name for t in reader.tenants()}
        tenants = reader.tenants(include_archived=True)
        used = reader.used_seconds()
    if since is None:
        since = min((_moment(started, ended) for _, started, ended, _ in costs), default=until)
    if since > until:
        raise LabError(f"the period starts ({_day(since)}) after it ends ({_day(until)}); swap the two dates")
    starts = period_starts(since, until, by)
    hours = _split(costs, starts, by, since, until)
    rows = tuple(TenantUsage(t.name, tuple(hours.get(t.name, [0.0] * len(starts))),
                             None if t.quota_seconds is None else t.quota_seconds / HOUR, used.get(t.name, 0.0) / HOUR)
                 for t in tenants if t.name in current or any(hours.get(t.name, ())))
    return UsageTable(by, starts, rows)


# ---- periods (local time) ------------------------------------------------------------------------------------

def period_start(day: date, by: Period) -> date:
    return day - timedelta(days=day.weekday()) if by == "week" else day


def period_end(start: date, by: Period) -> date:
    """The first day after the period that begins on `start`."""
    return start + timedelta(days=7 if by == "week" else 1)


def period_label(start: date, by: Period) -> str:
    if by == "day":
        return start.isoformat()
    year, week, _ = start.isocalendar()
    return f"{year}-W{week:02d}"


def period_starts(since: float, until: float, by: Period) -> tuple[date, ...]:
    """The first day of every period that [since, until) touches (at least the one holding `since`)."""
    start = period_start(date.fromtimestamp(since), by)
    starts = [start]
    while _midnight(start := period_end(start, by)) < until:
        starts.append(start)
    return tuple(starts)


def recent_since(by: Period, now: float) -> date:
    """The first day of the RECENT[by] periods that end with the one holding `now` (the default start)."""
    this = period_start(date.fromtimestamp(now), by)
    return this - (period_end(this, by) - this) * (RECENT[by] - 1)


def day_start(day: date) -> float:
    """Local midnight at the start of `day`, in epoch seconds (the CLI's --since)."""
    return _midnight(day)


def day_end(day: date) -> float:
    """Local midnight after `day` (the CLI's --until takes the whole day)."""
    return _midnight(day + timedelta(days=1))


def _midnight(day: date) -> float:
    # datetime.timestamp() on a naive datetime takes it as local time, daylight saving included.
    return datetime(day.year, day.month, day.day).timestamp()


# ---- splitting tasks over periods ----------------------------------------------------------------------------

def _split(costs: Iterable[tuple[str, float | None, float, float]], starts: tuple[date, ...], by: Period,
           since: float, until: float) -> dict[str, list[float]]:
    """Hours per tenant per period: each task's seconds in proportion to its span's overlap with each period."""
    edges = [_midnight(start) for start in starts] + [_midnight(period_end(starts[-1], by))]
    hours: dict[str, list[float]] = {}
    for tenant, started, ended, seconds in costs:
        row = hours.setdefault(tenant, [0.0] * len(starts))
        for index, share in _shares(_moment(started, ended), ended, edges, since, until):
            row[index] += seconds * share / HOUR
    return hours


def _shares(started: float, ended: float, edges: list[float], since: float,
            until: float) -> Iterable[tuple[int, float]]:
    """(period index, share of the task's seconds) for each period its span overlaps within [since, until)."""
    if ended <= started:  # a point in time: all of it where it ended
        if since <= ended < until:
            yield bisect.bisect_right(edges, ended) - 1, 1.0
        return
    span = ended - started
    first = max(bisect.bisect_right(edges, started) - 1, 0)
    for index in range(first, len(edges) - 1):
        if edges[index] >= ended:
            break
        overlap = min(ended, edges[index + 1], until) - max(started, edges[index], since)
        if overlap > 0:
            yield index, overlap / span


def _moment(started: float | None, ended: float) -> float:
    """Where a task's time begins: its start, or its end for a task that never started."""
    return ended if started is None else started


def _day(moment: float) -> str:
    return date.fromtimestamp(moment).isoformat()


def _hours(value: float) -> str:
    return f"{value:.3f}"
