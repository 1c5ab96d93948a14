"""What the live lab reads to choose ensembles (schema v7): a tenant's done tasks with their class probabilities.
What a tenant receives (deliveries) every reader sees: LabReader.deliveries(). The numbers are the engine's
(engine/ensemble.py); the store only keeps them consistent."""

from __future__ import annotations

from dataclasses import dataclass

from ..engine.types import REFIT_SECONDS
from .reader import LabReader


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
