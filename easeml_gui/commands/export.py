"""`easeml-gui export TENANT --out DIR`: the tenant's best model (TorchScript, or skops for a classical learner) plus
a model card.

The export itself needs torch, so it runs as `python -m easeml_gui.training.export` in a subprocess: the command
line stays torch-free (a lab admin's laptop may drive remote GPU hosts without torch installed).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from ..engine.types import TaskState
from ..store import StoreError
from . import CommandError
from ..lab.stores import open_reader


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a tenant's best model (TorchScript + model card JSON)")
    p.add_argument("tenant")
    p.add_argument("--out", type=Path, required=True, help="folder to write model.pt and model_card.json into")
    p.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    with open_reader(args.db) as store:
        try:
            store.tenant(args.tenant)
        except StoreError as error:
            raise CommandError(str(error)) from None
        # The model `status` calls the tenant's best, so the two never disagree on ties.
        best_model = next(t["best_model"] for t in store.status()["tenants"] if t["name"] == args.tenant)
        done = [t for t in store.tasks(TaskState.DONE, tenant=args.tenant) if t.arm.name == best_model]
    if not done:
        raise CommandError(f"tenant {args.tenant} has no trained model yet; run the lab first (`easeml-gui run`)")
    best = done[-1]
    checkpoint = Path(best.details.get("folder", "")) / best.details.get("checkpoint", "best.pt")
    if not checkpoint.is_file():
        raise CommandError(f"the checkpoint of task {best.task_id} ({checkpoint}) is gone; "
                           "re-run that model or restore the task folder")
    extra = {"tenant": args.tenant, "task_id": best.task_id, "device": best.device, "host": best.host or "local",
             "validation_images": best.details.get("val_images"), "trained_seconds": best.cost}
    out = subprocess.run(
        [sys.executable, "-m", "easeml_gui.training.export", str(checkpoint), str(args.out), "--card-extra", json.dumps(extra)],
        capture_output=True, text=True,
    )
    if out.returncode != 0:
        raise CommandError(out.stderr.strip() or f"the export failed (exit {out.returncode})")
    written = json.loads(out.stdout.strip().splitlines()[-1])
    test = best.details.get("test_accuracy")
    honest = f", test accuracy {test:.4f}" if test is not None else " (no test split: register with one)"
    print(f"exported {args.tenant}'s best model, {best.arm.name} (validation accuracy {best.details['accuracy']:.4f}"
          f"{honest}), to {written['model']} with {written['card']}")
    return 0
