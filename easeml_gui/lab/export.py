"""Exporting a tenant's best model (TorchScript, or skops for a classical learner) with its model card.

The export itself needs torch, so it runs as `python -m easeml_gui.training.export` in a subprocess: the lab layer
stays torch-free (a lab admin's laptop may drive remote GPU hosts without torch installed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..store import LabReader
from .errors import LabError, as_lab_error


@dataclass(frozen=True)
class Exported:
    tenant: str
    model: str  # the arm
    accuracy: float  # validation: what selection saw
    test_accuracy: float | None  # on the test split selection never saw; None without one
    model_file: str
    card_file: str


def export_best(store: LabReader, tenant: str, out: Path) -> Exported:
    """Write `tenant`'s best model and its model_card.json into the folder `out`."""
    with as_lab_error():
        store.tenant(tenant)
        # The model `status` calls the tenant's best (engine/delivery.py), so the two never disagree.
        delivered = store.delivered_models().get(tenant)
        best = store.task(delivered.task_id) if delivered else None
    if best is None:
        raise LabError(f"tenant {tenant} has no trained model yet; run the lab first (`easeml-gui run`)")
    checkpoint = Path(best.details.get("folder", "")) / best.details.get("checkpoint", "best.pt")
    if not checkpoint.is_file():
        raise LabError(f"the checkpoint of task {best.task_id} ({checkpoint}) is gone; "
                       "re-run that model or restore the task folder")
    extra = {"tenant": tenant, "task_id": best.task_id, "device": best.device, "host": best.host or "local",
             "validation_images": best.details.get("val_images"), "trained_seconds": best.cost}
    done_run = subprocess.run(
        [sys.executable, "-m", "easeml_gui.training.export", str(checkpoint), str(out), "--card-extra",
         json.dumps(extra)],
        capture_output=True, text=True,
    )
    if done_run.returncode != 0:
        raise LabError(done_run.stderr.strip() or f"the export failed (exit {done_run.returncode})")
    written = json.loads(done_run.stdout.strip().splitlines()[-1])
    return Exported(tenant, best.arm.name, best.details["accuracy"], best.details.get("test_accuracy"),
                    written["model"], written["card"])
