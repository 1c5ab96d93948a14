"""What the store keeps for ensembles (schema v7): each done task's class probabilities, and per tenant the model or
ensemble it receives. The numbers are the engine's (engine/ensemble.py); the store only keeps them consistent."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..engine.types import REFIT_SECONDS
from .reader import LabReader


@dataclass(frozen=True)
class Member:
    task_id: str
    arm: str
    count: int  # its weight is count / the members' total


@dataclass(frozen=True)
class TenantDelivery:
    """What a tenant receives, as recorded with its latest result: one member, or an ensemble of several."""

    tenant: str
    members: tuple[Member, ...]
    val_accuracy: float  # cross-fitted for an ensemble (engine/ensemble.py)
    test_accuracy: float | None
    images: int  # the validation images the choice was made on

    @property
    def is_ensemble(self) -> bool:
        return len(self.members) > 1

    def members_json(self) -> str:
        return json.dumps([{"task_id": m.task_id, "arm": m.arm, "count": m.count} for m in self.members])

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "TenantDelivery":
        members = tuple(Member(str(m["task_id"]), str(m["arm"]), int(m["count"])) for m in json.loads(row["members"]))
        return cls(row["tenant"], members, row["val_accuracy"], row["test_accuracy"],
                   row["images"])


@dataclass(frozen=True)
class PredictedRun:
    """A done task of a tenant with the probabilities it recorded (training/predictions.py's bytes)."""

    task_id: str
    arm: str
    quality: float
    seconds: float  # selection seconds: its cost less a refit of a delivered model
    data: bytes


class EnsembleReader(LabReader):
    def predicted_runs(self, tenant: str, dataset_hash: str) -> list[PredictedRun]:
        """The tenant's done tasks on datasets of this content (their rows index the same images) that recorded
        probabilities, oldest first."""
        with self._read():
            rows = self._rows(
                f"""SELECT o.task_id, o.arm, o.quality,
                          o.cost - coalesce(json_extract(k.details, '$.{REFIT_SECONDS}'), 0) AS seconds, p.data
                   FROM observations o JOIN task_predictions p ON p.task_id = o.task_id
                   JOIN tasks k ON k.task_id = o.task_id JOIN jobs j ON j.id = o.job
                   JOIN datasets d ON d.name = j.dataset
                   WHERE o.tenant = ? AND d.content_hash = ? ORDER BY o.id""", (tenant, dataset_hash))
        return [PredictedRun(r["task_id"], r["arm"], r["quality"], max(0.0, r["seconds"]), r["data"]) for r in rows]

    def tenant_observations(self, tenant: str) -> tuple[int, int]:
        """(how many observations the tenant has, the id of its latest; 0 without any)."""
        with self._read():
            row = self._row("SELECT count(*) AS n, coalesce(max(id), 0) AS latest FROM observations WHERE tenant = ?",
                            (tenant,))
        assert row is not None
        return row["n"], row["latest"]

    def deliveries(self) -> dict[str, TenantDelivery]:
        """Per tenant, its recorded delivery while it is still current (computed with the tenant's latest
        observation); a tenant without one gets the single-model rule (engine/delivery.py)."""
        with self._read():
            rows = self._rows(
                """SELECT d.* FROM deliveries d
                   WHERE d.observation = (SELECT max(id) FROM observations WHERE tenant = d.tenant)""")
        return {r["tenant"]: TenantDelivery.from_row(r) for r in rows}
