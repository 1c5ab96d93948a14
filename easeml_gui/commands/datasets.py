"""`easeml-gui dataset add|list` and `easeml-gui job add`: register data and what each tenant may train on it."""

from __future__ import annotations

import argparse
import dataclasses
import shutil
from pathlib import Path
from typing import Any

from ..engine.types import Arm
from ..store import JobRecord, LabStore, StoreError, validate_name
from ..training.arms import ARM_INDEX, CLASSICAL, IMAGENET, PROBE, WEIGHT_CHOICES, UnknownArm, arm_spec, job_arms
from ..training.catalogue import AUGMENTATIONS, CATALOGUE, Schema, candidates
from ..training.datasets import DatasetInfo, register_dataset
from ..training.errors import DatasetError
from ..training.weights_registry import WeightsEntry, WeightsError, pretrained_available
from . import CommandError, UsageError, positive_int
from .tenants import reader, writer

DEFAULT_EPOCHS = 10  # a job of classical learners only: epochs mean nothing to them, the store wants a number


def _augmentations(text: str) -> list[str]:
    names = [] if text.strip() == "none" else [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown augmentation {', '.join(unknown)}; use any of "
                                         f"{', '.join(AUGMENTATIONS)}, or none")
    return names


def add_parsers(sub: argparse._SubParsersAction) -> None:
    dataset = sub.add_parser("dataset", help="register and list image datasets")
    actions = dataset.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add", help="validate and register a dataset",
        description="PATH: a folder of class sub-folders (optionally split into train/ and val/), or a .zip / "
        ".tar / .tar.gz of one. It is validated, copied into the managed data directory and registered; "
        "nothing is registered when it is bad.",
    )
    add.add_argument("path", type=Path)
    add.add_argument("--name", required=True, help="dataset name (letters, digits, . _ -)")
    add.add_argument("--skip-bad", action="store_true", help="leave out unreadable or corrupt images instead of refusing")
    add.add_argument("--val-fraction", type=float, default=0.2, help="validation share when no split is given")
    add.add_argument("--test-fraction", type=float, default=0.2,
                     help="share held out as the test split when the dataset has no test/ folder; model selection "
                     "never sees it, so the accuracy reported on it is honest (0: no test split)")
    add.add_argument("--seed", type=int, default=0, help="seed of the generated train/validation split")
    add.set_defaults(handler=run_dataset_add)
    actions.add_parser("list", help="list datasets").set_defaults(handler=run_dataset_list)

    job = sub.add_parser("job", help="give a tenant a model-selection job on a dataset")
    job_actions = job.add_subparsers(dest="action", metavar="ACTION", required=True)
    jadd = job_actions.add_parser("add", help="add a job: the catalogue models that fit the dataset, or --models")
    jadd.add_argument("--tenant", required=True)
    jadd.add_argument("--dataset", required=True)
    jadd.add_argument("--models", help="comma-separated arms: catalogue networks "
                      f"({', '.join(sorted(CATALOGUE))}), each optionally with @{IMAGENET} (fine-tuned) or @{PROBE} "
                      f"(linear probe on frozen ImageNet features), and classical learners ({', '.join(CLASSICAL)})")
    jadd.add_argument("--weights", choices=WEIGHT_CHOICES, default="scratch",
                      help="without --models: networks from scratch, fine-tuned (and probed) from the ImageNet "
                      "weights the lab has (`easeml-gui weights list`), or both; classical learners always join")
    jadd.add_argument("--epochs", type=positive_int, default=None, help="epochs per model (default: each model's recipe)")
    jadd.add_argument("--image-size", type=positive_int, default=None, help="square training size (default: the images' median short side, 32-224)")
    jadd.add_argument("--augment", type=_augmentations, default=None,
                      help=f"training-batch augmentations, comma-separated from {', '.join(AUGMENTATIONS)}, or none "
                      "(default: each model's recipe, crop,flip; drop flip for images that are not mirror-symmetric, "
                      "like digits or text)")
    jadd.add_argument("--seed", type=int, default=0)
    jadd.set_defaults(handler=run_job_add)


def register_in_store(store: LabStore, name: str, source: Path, data_dir: Path, **options: Any) -> DatasetInfo:
    """Validate `source`, copy it to the managed data folder and record it; on any failure nothing stays behind."""
    dest = data_dir / "datasets" / name
    try:
        info = register_dataset(source, dest, **options)
    except DatasetError as error:
        raise CommandError(str(error)) from None
    record = info.to_dict()
    try:
        store.add_dataset(name, str(dest), info.content_hash, manifest=record["manifest"], stats=record["stats"],
                          split=record["split"])
    except StoreError:
        shutil.rmtree(dest, ignore_errors=True)  # not half-registered: the files go with the failed record
        raise
    return info


def add_job_for(store: LabStore, tenant: str, dataset: str, schema: Schema, names: list[str], *,
                epochs: int | None = None, augment: list[str] | None = None, seed: int = 0) -> JobRecord:
    """A job over the arms `names`, each network trained `epochs` (default: the longest recipe of them) with
    `augment` (default: each model's recipe)."""
    arms = [Arm(name, ARM_INDEX[name]) for name in names]
    config = {} if augment is None else {"augment": augment}  # the worker reads it from TASK.json
    recipes = [CATALOGUE[spec.model].recipe.epochs for spec in map(arm_spec, names) if spec.network]
    return store.add_job(tenant, dataset, arms, epochs=epochs or max(recipes, default=DEFAULT_EPOCHS),
                         image_size=schema.image_size, seed=seed, schema=dataclasses.asdict(schema), config=config)


def run_dataset_add(args: argparse.Namespace) -> int:
    try:
        validate_name("dataset", args.name)
    except StoreError as error:
        raise CommandError(str(error)) from None
    if not 0 < args.val_fraction < 1:
        raise UsageError("--val-fraction must be between 0 and 1, e.g. 0.2")
    if not 0 <= args.test_fraction < 1 - args.val_fraction:
        raise UsageError("--test-fraction must be at least 0 and leave images to train on beside --val-fraction, "
                         "e.g. 0.2")
    with writer(args.db) as store:
        if any(d.name.lower() == args.name.lower() for d in store.datasets(include_archived=True)):
            raise CommandError(f"dataset {args.name!r} already exists; choose another name")
        info = register_in_store(store, args.name, args.path, args.data_dir, skip_bad=args.skip_bad,
                                 val_fraction=args.val_fraction, test_fraction=args.test_fraction, seed=args.seed)
    print(f"registered dataset {args.name}: {info.summary()}")
    for path, reason in info.skipped:
        print(f"  skipped {path}: {reason}")
    fitting = candidates(info.schema())
    print(f"{len(fitting)} catalogue networks fit it: {', '.join(spec.name for spec in fitting)}; and the classical "
          f"learners {', '.join(CLASSICAL)}")
    return 0


def run_dataset_list(args: argparse.Namespace) -> int:
    with reader(args.db) as store:
        datasets = store.datasets()
    if not datasets:
        print("no datasets yet; add one with `easeml-gui dataset add PATH --name NAME`")
        return 0
    print(f"{'name':20} {'classes':>7} {'images':>7}  {'hash':12}  path")
    for d in datasets:
        print(f"{d.name:20} {len(d.stats['classes']):7d} {d.stats['images']:7d}  {d.content_hash[:12]}  {d.path}")
    return 0


def run_job_add(args: argparse.Namespace) -> int:
    with writer(args.db) as store:
        try:
            dataset = store.dataset(args.dataset)
        except StoreError as error:
            raise CommandError(str(error)) from None
        info = DatasetInfo.from_dict(
            {"content_hash": dataset.content_hash, "manifest": dataset.manifest, "stats": dataset.stats,
             "split": dataset.split}, root=dataset.path,
        )
        schema = info.schema(args.image_size)
        names = _chosen_arms(args.models, schema) if args.models else _default_arms(schema, args.weights)
        job = add_job_for(store, args.tenant, args.dataset, schema, names, epochs=args.epochs, augment=args.augment,
                          seed=args.seed)
    print(f"job {job.id}: tenant {job.tenant} on {job.dataset} ({schema.num_classes} classes, {schema.channels} channel(s), "
          f"{schema.image_size} px), {len(names)} models: {', '.join(names)}")
    if not info.test:
        print(f"  {job.dataset} has no test split, so results report validation accuracy only; register the data "
              "again (`dataset add`, default --test-fraction 0.2) for an honest test accuracy")
    return 0


def _chosen_arms(models: str, schema: Schema) -> list[str]:
    """`--models`: every name an arm that fits the schema, with ImageNet weights where it needs them."""
    names = [m.strip() for m in models.split(",") if m.strip()]
    try:
        specs = [arm_spec(name) for name in names]
    except UnknownArm as error:
        raise UsageError(str(error)) from None
    too_small = [spec for spec in specs if not spec.fits(schema)]
    if too_small:
        raise CommandError(
            f"{', '.join(s.name for s in too_small)} cannot take {schema.image_size} px images (minimum sizes: "
            + ", ".join(f"{s.name} {CATALOGUE[s.model].min_size}" for s in too_small) + "); raise --image-size or "
            "drop them")
    have = _weights_the_lab_has()
    missing = sorted({spec.model for spec in specs if spec.pretrained and spec.model not in have})
    if missing:
        raise CommandError(f"the lab has no ImageNet weights for {', '.join(missing)}; get them with `easeml-gui "
                           f"weights fetch {' '.join(missing)}` (or `weights import FILE --model ARCH` offline), or "
                           "train those from scratch")
    return names


def _default_arms(schema: Schema, weights: str) -> list[str]:
    """Without --models: every arm that fits, as --weights says, where the lab has the weights they need."""
    have = _weights_the_lab_has()
    if weights != "scratch" and not have:
        raise CommandError(f"--weights {weights}: the lab has no ImageNet weights yet; get them with `easeml-gui "
                           "weights fetch` (or `weights import FILE --model ARCH` offline), or use --weights scratch")
    names = job_arms(schema, weights, pretrained_available=have)
    if not any(arm_spec(name).network for name in names):
        which = "with ImageNet weights the lab has " if weights == IMAGENET else ""
        raise CommandError(f"no catalogue network {which}takes {schema.image_size} px images; raise --image-size"
                           + (" or get weights for more architectures" if weights == IMAGENET else ""))
    return names


def _weights_the_lab_has() -> dict[str, WeightsEntry]:
    try:
        return pretrained_available()
    except WeightsError as error:  # a damaged registry: say so rather than pretend the lab has no weights
        raise CommandError(str(error)) from None
