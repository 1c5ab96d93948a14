"""Tenants as a lab's admin handles them: add, change weight and quota, pause and resume, archive; the lab's
status (best models, task counts, the global regret estimate)."""

from __future__ import annotations

from typing import Any

from ..engine.types import Tenant
from ..live_lab import lab_upper_bounds
from ..store import LabReader, LabStore
from .errors import LabError, as_lab_error

HOUR = 3600.0


def add(store: LabStore, name: str, weight: float = 1.0, quota_hours: float | None = None) -> Tenant:
    _check_positive("weight", weight)
    if quota_hours is not None:
        _check_positive("quota", quota_hours)
    with as_lab_error():
        return store.add_tenant(name, weight, None if quota_hours is None else quota_hours * HOUR)


def change(store: LabStore, name: str, *, weight: float | None = None, quota_hours: float | None = None,
           no_quota: bool = False) -> Tenant:
    """A new weight and/or quota (no_quota: none); a running lab picks them up. Nothing changes on an error."""
    if weight is None and quota_hours is None and not no_quota:
        raise LabError("say what to change: a weight, a quota in hours, or no quota")
    if quota_hours is not None and no_quota:
        raise LabError("give a quota or remove it, not both")
    for what, value in (("weight", weight), ("quota", quota_hours)):
        if value is not None:
            _check_positive(what, value)
    with as_lab_error():
        return store.update_tenant(name, weight=weight, no_quota=no_quota,
                                   quota_seconds=None if quota_hours is None else quota_hours * HOUR)


def set_paused(store: LabStore, name: str, paused: bool) -> Tenant:
    """A paused tenant gets no new tasks (its running ones finish); resumed, it is served again."""
    with as_lab_error():
        return store.update_tenant(name, paused=paused)


def archive(store: LabStore, name: str) -> None:
    """Hide a tenant from the lab; its history (tasks, observations) stays and still teaches later priors."""
    with as_lab_error():
        store.archive_tenant(name)


def status(store: LabReader) -> dict[str, Any]:
    """The CLI.md status shape: tenants with their best models, task counts, the global regret estimate."""
    with as_lab_error():
        return store.status(lab_upper_bounds(store))


def _check_positive(what: str, value: float) -> None:
    if not value > 0:
        raise LabError(f"the {what} must be a positive number, not {value:g}")
