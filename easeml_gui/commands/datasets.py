"""`easeml-gui dataset add|list` and `easeml-gui job add`: register data and what each tenant may train on it."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..lab import datasets, jobs
from ..lab.stores import open_reader, open_writer
from ..training.arms import CLASSICAL, IMAGENET, PROBE, WEIGHT_CHOICES
from ..training.catalogue import AUGMENTATIONS, CATALOGUE, candidates
from . import positive_int


def _augmentations(text: str) -> list[str]:
    """--augment's list (the lab checks the names): "crop,flip", or "none" for no augmentation."""
    return [] if text.strip() == "none" else [name.strip() for name in text.split(",") if name.strip()]


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
    remove = actions.add_parser("remove", help="remove a dataset (archived instead when jobs used it)",
                                description="Refused while an active job trains on it. A dataset no job used is "
                                "deleted with the lab's copy of its images; one that jobs used is archived: it "
                                "leaves the lists and gets no new jobs, and its history keeps naming it.")
    remove.add_argument("name")
    remove.set_defaults(handler=run_dataset_remove)
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
                      "(default: each model's recipe, a random crop; add flip for photos, whose labels survive a "
                      "mirror, unlike digits' or text's)")
    jadd.add_argument("--seed", type=int, default=0)
    jadd.set_defaults(handler=run_job_add)


def run_dataset_add(args: argparse.Namespace) -> int:
    with open_writer(args.db) as store:
        info = datasets.register(store, args.name, args.path, args.data_dir, skip_bad=args.skip_bad,
                                 val_fraction=args.val_fraction, test_fraction=args.test_fraction, seed=args.seed)
    print(f"registered dataset {args.name}: {info.summary()}")
    for path, reason in info.skipped:
        print(f"  skipped {path}: {reason}")
    fitting = candidates(info.schema())
    print(f"{len(fitting)} catalogue networks fit it: {', '.join(spec.name for spec in fitting)}; and the classical "
          f"learners {', '.join(CLASSICAL)}")
    return 0


def run_dataset_remove(args: argparse.Namespace) -> int:
    with open_writer(args.db) as store:
        kept = datasets.remove(store, args.name, args.data_dir)
    if kept:
        history = ", ".join(f"{n} {table}" for table, n in kept.items())
        print(f"archived dataset {args.name}: it no longer appears or gets new jobs, and its history ({history}) "
              "keeps naming it; its images stay")
    else:
        print(f"removed dataset {args.name} and the lab's copy of its images")
    return 0


def run_dataset_list(args: argparse.Namespace) -> int:
    with open_reader(args.db) as store:
        registered = store.datasets()
    if not registered:
        print("no datasets yet; add one with `easeml-gui dataset add PATH --name NAME`")
        return 0
    print(f"{'name':20} {'classes':>7} {'images':>7}  {'hash':12}  path")
    for d in registered:
        print(f"{d.name:20} {len(d.stats['classes']):7d} {d.stats['images']:7d}  {d.content_hash[:12]}  {d.path}")
    return 0


def run_job_add(args: argparse.Namespace) -> int:
    models = args.models.split(",") if args.models else None
    with open_writer(args.db) as store:
        new = jobs.add(store, args.tenant, args.dataset, models=models, weights=args.weights, epochs=args.epochs,
                       image_size=args.image_size, augment=args.augment, seed=args.seed)
    job, schema = new.job, new.schema
    print(f"job {job.id}: tenant {job.tenant} on {job.dataset} ({schema.num_classes} classes, {schema.channels} channel(s), "
          f"{schema.image_size} px), {len(new.arms)} models: {', '.join(new.arms)}")
    if not new.dataset.test:
        print(f"  {job.dataset} has no test split, so results report validation accuracy only; register the data "
              "again (`dataset add`, default --test-fraction 0.2) for an honest test accuracy")
    return 0
