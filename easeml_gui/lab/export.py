"""Exporting a tenant's best model (TorchScript, or skops for a classical learner) with its model card.

The export itself needs torch, so it runs as `python -m easeml_gui.training.export` in a subprocess: the lab layer
stays torch-free (a lab admin's laptop may drive remote GPU hosts without torch installed). A folder that holds
files is refused unless the caller means to replace the export in it (`--force`, or a yes in the window): the
subprocess then replaces the previous export's files (model, card, loader) and leaves the folder's other files.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..store import LabReader
from ..training import wire
from .errors import LabError, as_lab_error


@dataclass(frozen=True)
class Exported:
    tenant: str
    model: str  # the arm
    accuracy: float  # validation: what selection saw
    test_accuracy: float | None  # on the test split selection never saw; None without one
    model_file: str
    card_file: str


def holds_files(folder: Path) -> bool:
    """True when `folder` is a folder with something in it, or one that cannot be listed (it may have)."""
    try:
        return folder.is_dir() and any(folder.iterdir())
    except OSError:
        return True


def _check_out(out: Path, replace: bool) -> None:
    """LabError unless an export may write into `out`."""
    if out.exists() and not out.is_dir():
        raise LabError(f"{out} is a file, not a folder; pass a folder to export into")
    if holds_files(out) and not replace:
        raise LabError(f"{out} is not empty; choose a new or empty folder, or pass --force to replace the export in "
                       "it (its model, model card and loader; other files stay)")


def export_best(store: LabReader, tenant: str, out: Path, *, replace: bool = False) -> Exported:
    """Write `tenant`'s best model and its model_card.json into the folder `out`, or its ensemble where it receives
    one; `replace`: even where `out` holds files (those of a previous export are replaced)."""
    with as_lab_error():
        store.tenant(tenant)
        # The model `status` calls the tenant's best (engine/delivery.py), so the two never disagree.
        delivered = store.delivered_models().get(tenant)
        best = store.task(delivered.task_id) if delivered else None
    from .ensemble_export import delivered_ensemble, export_ensemble  # here: that module builds on this one
    ensemble = delivered_ensemble(store, tenant)
    if ensemble is not None:
        return export_ensemble(store, ensemble, out, replace=replace)
    if best is None:
        raise LabError(f"tenant {tenant} has no trained model yet; run the lab first (`easeml-gui run`)")
    try:
        outcome = wire.TaskOutcome.from_mapping(best.details)  # its result.json, with the executor's additions
    except wire.BadRecord as error:
        raise LabError(f"task {best.task_id} holds no worker's result to export ({error}); re-run that model") from None
    checkpoint = Path(best.details.get("folder", "")) / (outcome.checkpoint or "best.pt")
    if not checkpoint.is_file():
        raise LabError(f"the checkpoint of task {best.task_id} ({checkpoint}) is gone; "
                       "re-run that model or restore the task folder")
    _check_out(out, replace)
    extra = {"tenant": tenant, "task_id": best.task_id, "device": best.device, "host": best.host or "local",
             "validation_images": outcome.val_images, "trained_seconds": best.cost}
    done_run = subprocess.run(
        [sys.executable, "-m", "easeml_gui.training.export", str(checkpoint), str(out), "--card-extra",
         json.dumps(extra)],
        capture_output=True, text=True,
    )
    if done_run.returncode != 0:
        raise LabError(done_run.stderr.strip() or f"the export failed (exit {done_run.returncode})")
    written = json.loads(done_run.stdout.strip().splitlines()[-1])
    return Exported(tenant, best.arm.name, outcome.accuracy, outcome.test_accuracy, written["model"], written["card"])
