"""Exporting what a tenant receives when it is an ensemble: its members, each as lab/export.py exports a single model,
with predict.py, which loads and combines them in one line (training/ensemble_export.py writes the folder).

Like the single export, the work needs torch, so it runs as `python -m easeml_gui.training.ensemble_export` in a
subprocess, and the same folder rules hold (a folder with files only with --force; a failed export changes nothing).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ..store import LabReader
from ..store.records import TenantDelivery
from ..training import wire
from .errors import LabError, as_lab_error
from .export import Exported, _check_out


def delivered_ensemble(store: LabReader, tenant: str) -> TenantDelivery | None:
    """The tenant's current delivery where it is an ensemble of several models; None where it receives one model."""
    with as_lab_error():
        delivery = store.deliveries().get(tenant)
    return delivery if delivery is not None and delivery.is_ensemble else None


def export_ensemble(store: LabReader, delivery: TenantDelivery, out: Path, *, replace: bool = False) -> Exported:
    """Write the ensemble `delivery` names into the folder `out`; `replace`: as export_best's."""
    with as_lab_error():
        tasks = [store.task(member.task_id) for member in delivery.members]
        job = store.job(tasks[0].job) if tasks[0].job is not None else None
        dataset = store.dataset(job.dataset).path if job is not None else None
    if dataset is None:
        raise LabError(f"task {tasks[0].task_id} belongs to no job, so the images that time the ensemble are unknown; "
                       "re-run the tenant's job")
    members = []
    for member, task in zip(delivery.members, tasks):
        try:
            outcome = wire.TaskOutcome.from_mapping(task.details)  # its result.json, with the executor's additions
        except wire.BadRecord as error:
            raise LabError(f"task {task.task_id} ({member.arm}), a member of {delivery.tenant}'s ensemble, holds no "
                           f"worker's result to export ({error}); re-run that model") from None
        folder = task.details.get("folder")
        checkpoint = Path(folder or "") / (outcome.checkpoint or "best.pt")
        if not folder or not checkpoint.is_file():
            raise LabError(f"the checkpoint of task {task.task_id} ({member.arm}), a member of {delivery.tenant}'s "
                           f"ensemble, is gone ({checkpoint}); re-run that model or restore the task folder")
        members.append({"checkpoint": str(checkpoint), "arm": member.arm, "task_id": task.task_id,
                        "count": member.count,
                        "extra": {"tenant": delivery.tenant, "task_id": task.task_id, "device": task.device,
                                  "host": task.host or "local", "validation_images": outcome.val_images,
                                  "trained_seconds": task.cost}})
    _check_out(out, replace)
    spec = {"tenant": delivery.tenant, "accuracy": delivery.val_accuracy, "test_accuracy": delivery.test_accuracy,
            "validation_images": delivery.images, "dataset": dataset, "members": members}
    done = subprocess.run([sys.executable, "-m", "easeml_gui.training.ensemble_export", json.dumps(spec), str(out)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise LabError(done.stderr.strip() or f"the ensemble's export failed (exit {done.returncode})")
    written = json.loads(done.stdout.strip().splitlines()[-1])
    weights = ", ".join(f"{m.arm} x{m.count}" for m in delivery.members)
    return Exported(delivery.tenant, f"ensemble of {weights}", delivery.val_accuracy, delivery.test_accuracy,
                    written["predict"], written["card"])
