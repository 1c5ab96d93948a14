"""Record learning curves from real training, for `simulate --curves` and bench/early_stopping.py.

Every catalogue network that fits the image size trains from scratch, epoch by epoch, on small digits variants
(scikit-learn's digits, grey, colourised and shifted as bench/accuracy_vs_peers.py builds them, several class subsets),
and each classical learner fits once (a one-budget row). Each row is one budget step of one (dataset, arm):

    dataset,arm,budget,quality,seconds

budget: the epoch (1 for a classical learner); quality: the best validation accuracy up to that epoch (the registered
split's validation images), what a run stopped there delivers, as the worker keeps its best epoch; seconds: what that epoch cost
from the end of the previous one (training, batch-norm recalibration and evaluation; the first epoch also pays for
building the model; a classical row is its fit plus scoring). The learning-rate schedule is each recipe's, over the
epochs asked (no floor on steps: catalogue.plan's floor would stretch a tiny set's run to 50 epochs).

Rows are appended as each arm finishes, so an interrupted run keeps its work and a rerun skips what is recorded.
One thread (a small shared CPU), seed 0.

    python bench/record_curves.py --out bench/curves_digits.csv [--epochs 12] [--image-size 16] [--datasets a,b]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from accuracy_vs_peers import colourise, shift
from easeml_gui.training.arms import CLASSICAL, CLASSICAL_MAX_SIZE
from easeml_gui.training.catalogue import CATALOGUE, candidates
from easeml_gui.training.classical import train_classical
from easeml_gui.training.datasets import DatasetInfo, load_dataset, register_dataset
from easeml_gui.training.decoded import decoded_images, split_rows
from easeml_gui.training.digits import export_digits
from easeml_gui.training.models import build_model
from easeml_gui.training.network_task import tensor_data
from easeml_gui.training.trainer import Budget, EpochReport, train

LOW, HIGH, ALL = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9), tuple(range(10))


def colour_shift(source: Path, target: Path) -> Path:
    return colourise(shift(source, target.with_name(target.name + "-shifted")), target)


@dataclass(frozen=True)
class Recipe:
    classes: tuple[int, ...]
    per_class: int
    variant: Callable[[Path, Path], Path] | None = None


# 400 images each (60 % train, 20 % validation, 20 % test): small enough for two busy cores, varied enough (class
# subsets, colour, position) that the curves differ between datasets.
DATASETS: dict[str, Recipe] = {
    "grey-10x40": Recipe(ALL, 40),
    "grey-low-5x80": Recipe(LOW, 80),
    "grey-high-5x80": Recipe(HIGH, 80),
    "colour-10x40": Recipe(ALL, 40, colourise),
    "colour-low-5x80": Recipe(LOW, 80, colourise),
    "shifted-10x40": Recipe(ALL, 40, shift),
    "shifted-high-5x80": Recipe(HIGH, 80, shift),
    "colour-shifted-low-5x80": Recipe(LOW, 80, colour_shift),
}


def build(name: str, scratch: Path) -> DatasetInfo:
    recipe = DATASETS[name]
    grey = export_digits(scratch / f"{name}-grey", recipe.classes, recipe.per_class)
    source = recipe.variant(grey, scratch / f"{name}-source") if recipe.variant else grey
    register_dataset(source, scratch / name)
    return load_dataset(scratch / name)


def network_rows(dataset: str, model: str, info: DatasetInfo, size: int, epochs: int) -> list[list[object]]:
    spec = CATALOGUE[model]
    recipe = replace(spec.recipe, min_steps=0)  # exactly `epochs`: the schedule is the run's whole length
    data = tensor_data(info, size, torch.device("cpu"), use_imagenet_stats=False)
    rows: list[list[object]] = []
    last, best = time.perf_counter(), 0.0

    def on_epoch(report: EpochReport) -> None:
        nonlocal last, best
        now, best = time.perf_counter(), max(best, report.val_accuracy)
        rows.append([dataset, model, report.epoch, round(best, 4), round(now - last, 3)])
        last = now

    torch.manual_seed(0)
    built = build_model(spec, info.schema(size))
    train(built, data, recipe, Budget(epochs), batch_size=recipe.batch_size, device=torch.device("cpu"), seed=0,
          pretrained=False, augment=recipe.augment, on_epoch=on_epoch)
    return rows


def classical_rows(dataset: str, learner: str, info: DatasetInfo, size: int) -> list[list[object]]:
    images = decoded_images(info, min(size, CLASSICAL_MAX_SIZE))
    started = time.perf_counter()
    outcome = train_classical(learner, *split_rows(info, images, info.train), *split_rows(info, images, info.val),
                              seed=0, threads=1)
    return [[dataset, learner, 1, round(outcome.val_accuracy, 4), round(time.perf_counter() - started, 3)]]


def recorded(out: Path) -> set[tuple[str, str]]:
    if not out.is_file():
        return set()
    with out.open(newline="") as handle:
        return {(row["dataset"], row["arm"]) for row in csv.DictReader(handle)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    done = recorded(args.out)
    if not args.out.is_file():
        args.out.write_text("dataset,arm,budget,quality,seconds\n")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        for dataset in args.datasets.split(","):
            info = build(dataset, Path(scratch))
            networks = [spec.name for spec in candidates(info.schema(args.image_size))]
            for arm in [*CLASSICAL, *networks]:
                if (dataset, arm) in done:
                    continue
                rows = (classical_rows(dataset, arm, info, args.image_size) if arm in CLASSICAL
                        else network_rows(dataset, arm, info, args.image_size, args.epochs))
                with args.out.open("a", newline="") as handle:
                    csv.writer(handle).writerows(rows)
                print(f"{time.perf_counter() - started:7.0f}s {dataset} {arm}: final {rows[-1][3]} "
                      f"in {sum(float(r[4]) for r in rows):.1f}s", flush=True)
    print(f"recorded in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
