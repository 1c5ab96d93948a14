"""Jobs as a lab's admin gives them: a tenant's model selection over the arms that fit a dataset (or the ones
named), with epochs, image size and augmentation; pretrained arms only where the lab has their weights."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

from ..engine.prior import JobWork
from ..engine.types import Arm, TaskState
from ..live_lab import learned_work_costs
from ..store import JobRecord, LabReader, LabStore
from ..store.records import JobCancellation, JobSummary
from ..training.arms import (ARM_INDEX, CLASSICAL, IMAGENET, ArmSpec, UnknownArm, arm_spec, job_arms,
                             training_gflop)
from ..training.catalogue import AUGMENTATIONS, CATALOGUE, Schema
from ..training.datasets import DatasetInfo
from ..training.weights_registry import WeightsEntry, WeightsError, pretrained_available
from .datasets import info_of
from .errors import LabError, as_lab_error
from .runs import running_pid

DEFAULT_EPOCHS = 10  # a job of classical learners only: epochs mean nothing to them, the store wants a number
# What a job may ask for: past these a task only fails late (100,000 px asked a GPU for 186 GiB).
EPOCHS = (1, 10_000)
IMAGE_SIZES = (8, 1024)


@dataclass(frozen=True)
class ArmChoice:
    """An arm a job on a dataset could try, with what it is and its predicted training cost: GFLOP (known before
    anything ran) and seconds on the fitting's device (the cost model as this lab's finished tasks taught it)."""

    name: str
    description: str
    gflop: float
    seconds: float


@dataclass(frozen=True)
class Fitting:
    arms: list[ArmChoice]
    image_size: int  # the size the arms were matched at (the dataset's default when none was asked for)
    recipe_epochs: int  # the longest recipe among the networks: a job's default epochs
    device: str  # what the seconds are predicted on: where the lab's latest task ran (cpu before any)


@dataclass(frozen=True)
class NewJob:
    job: JobRecord
    arms: list[str]
    dataset: DatasetInfo
    schema: Schema


def add(store: LabStore, tenant: str, dataset: str, *, models: Sequence[str] | None = None,
        weights: str = "scratch", epochs: int | None = None, image_size: int | None = None,
        augment: Sequence[str] | None = None, seed: int = 0) -> NewJob:
    """A job over `models` (arm names), or without them every arm that fits as `weights` says ("scratch",
    "imagenet", "both"; classical learners always join). Each network trains `epochs` (default: the longest
    recipe of them) with `augment` (default: each model's recipe)."""
    _check_range("epochs", epochs, EPOCHS)
    _check_range("image size", image_size, IMAGE_SIZES)
    with as_lab_error():
        info = info_of(store.dataset(dataset))
    unknown = sorted(set(augment or ()) - set(AUGMENTATIONS))
    if unknown:
        raise LabError(f"unknown augmentation {', '.join(unknown)}; use any of {', '.join(AUGMENTATIONS)}, or none")
    schema = info.schema(image_size)
    names = default_arms(schema, weights) if models is None else chosen_arms(models, schema)
    arms = [Arm(name, ARM_INDEX[name]) for name in names]
    config = {} if augment is None else {"augment": list(augment)}  # the worker reads it from TASK.json
    recipes = [CATALOGUE[spec.model].recipe.epochs for spec in map(arm_spec, names) if spec.network]
    with as_lab_error():
        job = store.add_job(tenant, dataset, arms, epochs=epochs or max(recipes, default=DEFAULT_EPOCHS),
                            image_size=schema.image_size, seed=seed, schema=dataclasses.asdict(schema), config=config)
    return NewJob(job, names, info, schema)


def _check_range(what: str, value: int | None, bounds: tuple[int, int]) -> None:
    low, high = bounds
    if value is not None and not low <= value <= high:
        raise LabError(f"{what} {value} is out of range: give {low} to {high}")


def summaries(store: LabReader, tenant: str | None = None) -> list[JobSummary]:
    """Every job (of `tenant` only, if given), oldest first: its models done, left and failed, the device time it
    used, its best accuracy; one consistent snapshot of the store."""
    with as_lab_error():
        return store.job_summaries(tenant)


def cancel(store: LabStore, job_id: int) -> JobCancellation:
    """Stop a job for good: it gets no new task, its queued tasks are dropped and a running lab cancels its running
    ones (within a second); its history (tasks, observations, decisions) stays. A job that has ended is refused."""
    with as_lab_error():
        # Without a run its queued tasks are dropped here; with one, they are the run's backlog and it drops them.
        return store.cancel_job(job_id, drop_queued=lambda: running_pid(store.path) is None)


def remove(store: LabStore, job_id: int) -> JobRecord:
    """Delete a job that never started a task; one with history is refused (cancel it instead)."""
    def no_run() -> None:
        pid = running_pid(store.path)
        if pid is not None:  # the run may start the job's first task at any moment, and lose its job under it
            raise LabError(f"a run (pid {pid}) is using this lab and may start job {job_id} at any moment; cancel "
                           f"it (`easeml-gui job cancel {job_id}`: it never starts then) and remove it once the run "
                           "has stopped")

    with as_lab_error():
        return store.delete_job(job_id, check=no_run)


def fitting(store: LabReader, dataset: str, *, image_size: int | None = None, weights: str = "scratch") -> Fitting:
    """The arms a job on `dataset` gets by default (what `job add` without --models would try), quickest first."""
    with as_lab_error():
        info = info_of(store.dataset(dataset))
    schema = info.schema(image_size)
    names = default_arms(schema, weights)
    specs = [arm_spec(name) for name in names]
    recipes = [CATALOGUE[spec.model].recipe.epochs for spec in specs if spec.network]
    epochs = max(recipes, default=DEFAULT_EPOCHS)
    gflop = [training_gflop(spec, schema, len(info.train), epochs) for spec in specs]
    finished = store.tasks(TaskState.DONE)
    device = max(finished, key=lambda t: t.ended or 0.0).device if finished else "cpu"
    seconds = learned_work_costs(store).predict(names, JobWork(len(info.train) * epochs, tuple(gflop)), device)
    choices = [ArmChoice(spec.name, _describe(spec), g, float(s)) for spec, g, s in zip(specs, gflop, seconds)]
    return Fitting(sorted(choices, key=lambda c: c.seconds), schema.image_size, epochs, device)


def _describe(spec: ArmSpec) -> str:
    if not spec.network:
        return CLASSICAL[spec.model].description
    if spec.probe:
        return f"{spec.model}: a new head on frozen ImageNet features"
    return f"{spec.model}, fine-tuned from ImageNet weights" if spec.pretrained else f"{spec.model}, from scratch"


def chosen_arms(models: Sequence[str], schema: Schema) -> list[str]:
    """Named arms: every one must exist, fit the schema, and have its ImageNet weights where it needs them."""
    names = [m.strip() for m in models if m.strip()]
    if not names:  # an empty list is no list: "every model" is said by giving none
        raise LabError("no model named; name at least one (e.g. resnet18,svc), or leave the list out for every "
                       "model that fits")
    try:
        specs = [arm_spec(name) for name in names]
    except UnknownArm as error:
        raise LabError(str(error)) from None
    too_small = [spec for spec in specs if not spec.fits(schema)]
    if too_small:
        raise LabError(
            f"{', '.join(s.name for s in too_small)} cannot take {schema.image_size} px images (minimum sizes: "
            + ", ".join(f"{s.name} {CATALOGUE[s.model].min_size}" for s in too_small) + "); raise the image size or "
            "drop them")
    have = weights_the_lab_has()
    missing = sorted({spec.model for spec in specs if spec.pretrained and spec.model not in have})
    if missing:
        raise LabError(f"the lab has no ImageNet weights for {', '.join(missing)}; get them with `easeml-gui "
                       f"weights fetch {' '.join(missing)}` (or `weights import FILE --model ARCH` offline), or "
                       "train those from scratch")
    return names


def default_arms(schema: Schema, weights: str) -> list[str]:
    """Every arm that fits, as `weights` says, where the lab has the weights they need."""
    have = weights_the_lab_has()
    if weights == IMAGENET and not have:  # "both" without weights: the networks from scratch and the classical arms
        raise LabError(f"weights {weights}: the lab has no ImageNet weights yet; get them with `easeml-gui "
                       "weights fetch` (or `weights import FILE --model ARCH` offline), or train from scratch")
    names = job_arms(schema, weights, pretrained_available=have)
    if not any(arm_spec(name).network for name in names):
        which = "with ImageNet weights the lab has " if weights == IMAGENET else ""
        raise LabError(f"no catalogue network {which}takes {schema.image_size} px images; raise the image size"
                       + (" or get weights for more architectures" if weights == IMAGENET else ""))
    return names


def weights_the_lab_has() -> dict[str, WeightsEntry]:
    try:
        return pretrained_available()
    except WeightsError as error:  # a damaged registry: say so rather than pretend the lab has no weights
        raise LabError(str(error)) from None
