"""`easeml-gui dataset add|list`: register the images tenants train on (jobs: commands/jobs.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..lab import datasets
from ..lab.read_model import dataset_listings
from ..lab.stores import open_reader, open_writer
from ..training.arms import CLASSICAL
from ..training.catalogue import candidates
from . import UsageError, add_json_flag, fraction, print_json_rows, seed_int
from .progress import stage_bars


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
    add.add_argument("--val-fraction", type=fraction("the validation fraction", zero=False), default=0.2,
                     help="validation share when no split is given")
    add.add_argument("--test-fraction", type=fraction("the test fraction", zero=True), default=0.2,
                     help="share held out as the test split when the dataset has no test/ folder; model selection "
                     "never sees it, so the accuracy reported on it is honest (0: no test split)")
    add.add_argument("--seed", type=seed_int, default=0, help="seed of the generated train/validation split")
    add.set_defaults(handler=run_dataset_add)
    remove = actions.add_parser("remove", help="remove a dataset (archived instead when jobs used it)",
                                description="Refused while an active job trains on it. A dataset no job used is "
                                "deleted with the lab's copy of its images; one that jobs used is archived: it "
                                "leaves the lists and gets no new jobs, and its history keeps naming it.")
    remove.add_argument("name")
    remove.set_defaults(handler=run_dataset_remove)
    listing = actions.add_parser("list", help="list datasets")
    add_json_flag(listing)
    listing.set_defaults(handler=run_dataset_list)


def run_dataset_add(args: argparse.Namespace) -> int:
    if args.val_fraction + args.test_fraction >= 1:  # each is in range, but together they leave no training images
        raise UsageError(f"--val-fraction {args.val_fraction:g} and --test-fraction {args.test_fraction:g} add up "
                         f"to {args.val_fraction + args.test_fraction:g}; together they must stay below 1 to leave "
                         "images to train on")
    stages = {"extracting": f"extracting {args.path.name}", "checking": "checking images", "copying": "copying"}
    with open_writer(args.db) as store, stage_bars(stages) as progress:
        info = datasets.register(store, args.name, args.path, args.data_dir, skip_bad=args.skip_bad,
                                 val_fraction=args.val_fraction, test_fraction=args.test_fraction, seed=args.seed,
                                 progress=progress)
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
        registered = dataset_listings(store)
    if args.json:
        print_json_rows(d.to_json() for d in registered)
        return 0
    if not registered:
        print("no datasets yet; add one with `easeml-gui dataset add PATH --name NAME`")
        return 0
    print(f"{'name':20} {'classes':>7} {'images':>7}  {'hash':12}  path")
    for d in registered:
        print(f"{d.name:20} {len(d.class_names):7d} {d.images:7d}  {d.content_hash[:12]}  {d.path}")
    return 0
