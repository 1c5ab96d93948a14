"""Predicted / actual seconds of a fresh lab's first tasks: the work cost model against the history cost model.

A fresh lab in a temporary store: four tenants with digits subsets of different sizes, five small models each,
one epoch at 16 px, trained for real by the LocalExecutor on the CPU (the default policy decides). "after" is what
each decision predicted for the task it started (the chosen tenant's TenantScore.predicted_cost: work x the
learned seconds per GFLOP, plus start-up). "today" is what the history cost model (engine.prior.CostModel, the only
one before the work model) predicts for the same task from the tasks that had ended before it: its per-arm history
mean, empty in a fresh lab, so 1 s until the tenant's first result and then the geometric mean of the tenant's own
results. Per model: ratio = predicted / actual; "worst" is the largest factor off, max(max(r, 1/r)).

    python bench/cost_prediction.py [--tasks 20] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from easeml_gui.lab import datasets, jobs
from easeml_gui.engine.types import Decision, Observation, Task, TaskResult, TaskState
from easeml_gui.execution.local import LocalExecutor
from easeml_gui.live_lab import LabEvents, LiveLab
from easeml_gui.store import LabStore
from easeml_gui.training.digits import export_digits

# (classes, images per class): 80 to 400 images, 80% of them trained on
TENANTS = {
    "pair": ((3, 8), 40),
    "low": ((0, 1, 2, 3, 4), 40),
    "ten-small": (tuple(range(10)), 20),
    "ten": (tuple(range(10)), 40),
}
MODELS = ["mobilenet_v3_small", "shufflenet_v2_x1_0", "regnet_y_400mf", "mobilenet_v2", "resnet18"]
EPOCHS, IMAGE_SIZE = 1, 16


@dataclass
class Run:
    task_id: str
    tenant: str
    arm: str
    predicted: float  # the work cost model, at the decision
    today: float = float("nan")  # the history cost model on the same sequence
    actual: float = float("nan")
    state: str = "running"


def build_lab(root: Path) -> LabStore:
    store = LabStore(root / "lab.sqlite")
    for name, (classes, per_class) in TENANTS.items():
        source = export_digits(root / "source" / name, classes, per_class)
        datasets.register(store, name, source, root)
        store.add_tenant(name)
        jobs.add(store, name, name, models=MODELS, epochs=EPOCHS, image_size=IMAGE_SIZE, augment=["crop"])
    return store


def run_lab(store: LabStore, root: Path, tasks: int) -> tuple[list[Run], LiveLab]:
    runs: dict[str, Run] = {}

    def decided(decision: Decision, task: Task) -> None:
        chosen = next(s for s in decision.scores if s.tenant == decision.tenant)
        runs[task.task_id] = Run(task.task_id, task.tenant, task.arm.name, chosen.predicted_cost)
        print(f"{task.task_id} {task.tenant:10} {task.arm.name:20} predicted {chosen.predicted_cost:7.1f} s",
              flush=True)

    def ended(result: TaskResult, observation: Observation | None) -> None:
        run = runs[result.task_id]
        run.actual, run.state = result.cost, result.state.value
        print(f"{result.task_id} {result.state.value:6} in {result.cost:7.1f} s", flush=True)

    with LocalExecutor(root / "work", ["cpu"]) as executor:
        lab = LiveLab(store, executor, events=LabEvents(on_decision=decided, on_result=ended))
        lab.run(max_tasks=tasks)
    return sorted(runs.values(), key=lambda r: r.task_id), lab


def today_predictions(runs: list[Run], lab: LiveLab) -> None:
    """The history cost model on the same sequence: one device, so every earlier task had ended at a decision."""
    seen: dict[str, tuple[list[int], list[float]]] = {}
    for run in runs:
        record = lab.selection.record(run.tenant)
        column = record.prior_index[record.columns[run.arm]]
        cols, costs = seen.setdefault(run.tenant, ([], []))
        run.today = float(lab.selection.costs.predict(np.array(cols, dtype=int), costs)[column])
        if run.state == TaskState.DONE.value:
            cols.append(int(column))
            costs.append(run.actual)


def summary(ratios: list[float]) -> dict[str, float]:
    factors = [max(r, 1 / r) for r in ratios]
    return {"median_ratio": statistics.median(ratios), "median_factor": statistics.median(factors),
            "worst_factor": max(factors)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        with build_lab(root) as store:
            runs, lab = run_lab(store, root, args.tasks)
    today_predictions(runs, lab)
    done = [r for r in runs if r.state == TaskState.DONE.value]
    print(f"\n{'task':8} {'tenant':10} {'model':20} {'actual s':>9} {'today':>8} {'after':>8}")
    for r in runs:
        print(f"{r.task_id:8} {r.tenant:10} {r.arm:20} {r.actual:9.1f} {r.today:8.1f} {r.predicted:8.1f}  {r.state}")
    report = {name: summary([getattr(r, name) / r.actual for r in done]) for name in ("today", "predicted")}
    report = {"today": report["today"], "after": report["predicted"], "tasks_done": len(done),
              "tasks": len(runs), "wall_seconds": time.monotonic() - started}
    print(f"\npredicted / actual seconds over {len(done)} finished tasks of a fresh lab ({len(runs)} decided):")
    for name in ("today", "after"):
        s = report[name]
        print(f"  {name:6} median ratio {s['median_ratio']:6.3f}   median factor off {s['median_factor']:6.2f}x   "
              f"worst {s['worst_factor']:6.1f}x")
    print(f"wall time {report['wall_seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({**report, "runs": [vars(r) for r in runs]}, indent=1))


if __name__ == "__main__":
    main()
