"""`easeml-gui job add|list|cancel|remove`: what each tenant's model selection tries, how far it got, and stopping it."""

from __future__ import annotations

import argparse

from ..lab import jobs
from ..lab.stores import open_reader, open_writer
from ..store.records import JobSummary
from ..training.arms import CLASSICAL, IMAGENET, PROBE, WEIGHT_CHOICES
from ..training.catalogue import AUGMENTATIONS, CATALOGUE
from . import UsageError, add_json_flag, bounded_int, print_json_rows, row_id, seed_int


def _augmentations(text: str) -> list[str]:
    """--augment's list (the lab checks the names): "crop,flip", or "none" for no augmentation."""
    return [] if text.strip() == "none" else [name.strip() for name in text.split(",") if name.strip()]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    job = sub.add_parser("job", help="give a tenant a model-selection job on a dataset; list, cancel or remove jobs")
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
    jadd.add_argument("--epochs", type=bounded_int(*jobs.EPOCHS), default=None,
                      help="epochs per model (default: each model's recipe)")
    jadd.add_argument("--image-size", type=bounded_int(*jobs.IMAGE_SIZES), default=None,
                      help="square training size in px, 8 to 1024 (default: the images' median short side, 32-224)")
    jadd.add_argument("--augment", type=_augmentations, default=None,
                      help=f"training-batch augmentations, comma-separated from {', '.join(AUGMENTATIONS)}, or none "
                      "(default: each model's recipe, a random crop; add flip for photos, whose labels survive a "
                      "mirror, unlike digits' or text's)")
    jadd.add_argument("--seed", type=seed_int, default=0)
    jadd.set_defaults(handler=run_job_add)
    jlist = job_actions.add_parser("list", help="every job: its models done, left and failed, device time, best")
    jlist.add_argument("--tenant", help="only this tenant's jobs")
    add_json_flag(jlist)
    jlist.set_defaults(handler=run_job_list)
    cancel = job_actions.add_parser(
        "cancel", help="stop a job: no new tasks, queued ones dropped, running ones cancelled; its history stays")
    cancel.add_argument("id", type=row_id)
    cancel.set_defaults(handler=run_job_cancel)
    remove = job_actions.add_parser("remove", help="delete a job that never started a task (else cancel it)")
    remove.add_argument("id", type=row_id)
    remove.set_defaults(handler=run_job_remove)


def run_job_add(args: argparse.Namespace) -> int:
    models = None if args.models is None else _models(args.models, args.weights)
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


def _models(text: str, weights: str) -> list[str]:
    """--models' arm names. A network named plainly trains from scratch, whatever --weights says: refused beside
    --weights imagenet or both, which would otherwise be ignored without a word."""
    names = [name.strip() for name in text.split(",") if name.strip()]  # none: the lab says so
    plain = [name for name in names if name in CATALOGUE]
    if plain and weights != "scratch":
        example = plain[0]
        raise UsageError(f"--weights {weights} does not apply to the networks --models names ({', '.join(plain)} "
                         f"would train from scratch); name each one's weights in the list instead: "
                         f"{example}@{IMAGENET} (fine-tuned), {example}@{PROBE} (linear probe) or {example} "
                         "(from scratch)")
    return names


def run_job_list(args: argparse.Namespace) -> int:
    with open_reader(args.db) as store:
        summaries = jobs.summaries(store, args.tenant)
    if args.json:
        print_json_rows(summary.to_json() for summary in summaries)
    elif not summaries:
        print("no jobs yet; add one with `easeml-gui job add --tenant T --dataset D`")
    else:
        print(f"{'id':>4}  {'tenant':20} {'dataset':20} {'state':9} {'done':>4} {'left':>4} {'failed':>6} "
              f"{'running':>7} {'device (h)':>10} {'best':>7}")
        for s in summaries:
            print(_row(s))
    return 0


def _row(s: JobSummary) -> str:
    best = "-" if s.best_accuracy is None else f"{s.best_accuracy:.4f}"
    return (f"{s.id:4d}  {s.tenant:20} {s.dataset:20} {s.state.value:9} {s.models_done:4d} {s.models_left:4d} "
            f"{s.models_failed:6d} {s.running:7d} {s.device_seconds / 3600:10.2f} {best:>7}")


def run_job_cancel(args: argparse.Namespace) -> int:
    with open_writer(args.db) as store:
        cancelled = jobs.cancel(store, args.id)
    job = cancelled.job
    print(f"job {job.id} ({job.tenant} on {job.dataset}) cancelled: it gets no new tasks; its results and history stay")
    if cancelled.queued:
        by = "dropped" if cancelled.dropped_now else "dropped by the running lab"
        print(f"  {cancelled.queued} queued task(s) {by}")
    if cancelled.running and cancelled.dropped_now:  # no run holds the lab: they are an earlier run's
        print(f"  {cancelled.running} task(s) an earlier run left running: the next `easeml-gui run` stops their "
              "workers and records them cancelled")
    elif cancelled.running:
        print(f"  {cancelled.running} running task(s): the running lab cancels them within a second")
    return 0


def run_job_remove(args: argparse.Namespace) -> int:
    with open_writer(args.db) as store:
        job = jobs.remove(store, args.id)
    print(f"job {job.id} ({job.tenant} on {job.dataset}) removed: it never started a task")
    return 0
