"""A worker's network task: train a catalogue model with torch, keep its best epoch (cross-validating that course
where the validation split is small: training/folds.py), refit it on train + validation when it is its tenant's
new best, score it on the test split.

The worker (training/worker.py) imports this module only for network arms, so classical tasks never load torch.
On the CPU training is deterministic under the seed (same threads and versions: same weights and numbers); on CUDA
cuDNN autotuning is kept for speed, so GPU runs are close, not bitwise equal.
"""

from __future__ import annotations

import gc
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import numpy as np
import torch
from torch import nn

from ..engine.delivery import Run, delivered
from .arms import ArmSpec
from .atomic import write_atomically
from .catalogue import CATALOGUE, small_input
from .datasets import DatasetInfo
from .decoded import decoded_images, split_rows
from .errors import OutOfMemory
from .folds import Fold, cross_validated, extra_folds
from .predictions import ValidatedRows
from .models import build_model, library_versions
from .trainer import Budget, EpochReport, Retrace, TensorData, TrainOutcome, class_probabilities, train
from .weights import load_pretrained_state
from .weights_registry import weights_for
from .wire import Epoch, FoldEpoch, OomRetry, Refit, Start, TaskRequest, emit
from .wire import Fold as FoldScored  # the event; folds.Fold is the split

CHECKPOINT_NAME = "best.pt"
MAX_OOM_RETRIES = 3  # halve the batch at most this often before giving up
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
T = TypeVar("T")


def train_network(request: TaskRequest, arm: ArmSpec, info: DatasetInfo, image_size: int,
                  started: float) -> dict[str, Any]:
    """Train, write best.pt into the task folder, return the result fields (wire.TaskOutcome's).
    `started`: the task's perf_counter start, for the seconds its selection took (should_refit)."""
    device = torch.device(request.device)
    _configure_torch(device, request.threads)
    recipe = CATALOGUE[arm.model].recipe
    epochs, batch = request.epochs or recipe.epochs, request.batch_size or recipe.batch_size
    augment = request.augment if request.augment is not None else recipe.augment
    weights = weights_for(arm.model) if arm.pretrained else None
    state = load_pretrained_state(arm.model) if arm.pretrained else None  # once: every attempt starts from it
    data = tensor_data(info, image_size, device, use_imagenet_stats=arm.pretrained)
    schema = info.schema(image_size)
    folds = extra_folds(info.labels(info.train), len(info.val), request.seed)
    # While cross-validating, each progress line names its fold (the registered split is the first), so a display
    # shows "fold 2 of 4, epoch 1 of 3" instead of the registered run's last epoch while the other folds train.
    on_fold = {"fold": 1, "folds": len(folds) + 1} if folds else {}

    def fresh_model() -> nn.Module:
        torch.manual_seed(request.seed)  # every attempt, and a refit, starts from the same weights
        return build_model(CATALOGUE[arm.model], schema, pretrained_state=state, probe=arm.probe)

    def attempt(batch_size: int) -> tuple[TrainOutcome, nn.Module]:
        emit(Start(arm=arm.name, device=str(device), batch_size=batch_size, pretrained=arm.pretrained,
                   image_size=image_size, train_images=len(info.train), val_images=len(info.val)))
        model = fresh_model()
        return train(model, data, recipe, Budget(epochs, request.max_seconds), batch_size=batch_size,
                     device=device, seed=request.seed, pretrained=arm.pretrained, augment=augment,
                     on_epoch=lambda report: emit(Epoch(**vars(report), **on_fold))), model

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    (outcome, model), _, retries = with_smaller_batches(attempt, batch,
                                                        on_retry=lambda size: emit(OomRetry(batch_size=size)))
    model.load_state_dict(outcome.best_state)  # the selected epoch's probabilities, as its accuracy was measured
    validated = ValidatedRows.registered(len(info.train), data.y_val.cpu().numpy(),
                                         class_probabilities(model, data, outcome.batch_size * 2).numpy())

    def score(number: int, fold: Fold) -> float:
        """A fresh model along the selected run's course on one more fold, scored on that fold's held-out part."""
        fold_data = fold_tensors(data, fold)
        fold_model = fresh_model()
        train(fold_model, fold_data, recipe, Budget(outcome.planned_epochs), batch_size=outcome.batch_size,
              device=device, seed=request.seed, pretrained=arm.pretrained, augment=augment,
              retrace=Retrace.of(outcome), on_epoch=lambda report: _emit_fold_epoch(report, number, len(folds) + 1))
        probabilities = class_probabilities(fold_model, fold_data, outcome.batch_size * 2).numpy()
        labels = fold_data.y_val.cpu().numpy()
        validated.add(fold.held_out, labels, probabilities)
        fold_accuracy = float(np.mean(probabilities.argmax(1) == labels))
        emit(FoldScored(fold=number, folds=len(folds) + 1, val_accuracy=fold_accuracy))
        return fold_accuracy

    accuracy = cross_validated(outcome.best_accuracy, len(info.val), folds, score)
    kept, refit_seconds = outcome, None
    if should_refit(request, accuracy, len(info.val) * (len(folds) + 1), time.perf_counter() - started):
        emit(Refit(epochs=outcome.best_epoch, fit_images=len(info.train) + len(info.val)))
        model = fresh_model()
        kept = train(model, with_validation_in_training(data), recipe, Budget(outcome.planned_epochs),
                     batch_size=outcome.batch_size, device=device, seed=request.seed, pretrained=arm.pretrained,
                     augment=augment, retrace=Retrace.of(outcome))
        refit_seconds = kept.train_seconds
    fit_images = len(info.train) + (len(info.val) if refit_seconds is not None else 0)
    test_labels, test_probabilities = _test_predictions(model, kept.best_state, data,
                                                        _test_tensors(info, image_size, device), outcome.batch_size)
    test_accuracy = None if test_labels is None else float(np.mean(test_probabilities.argmax(1) == test_labels))
    predictions = validated.with_test(test_labels, test_probabilities).save(Path(request.output_dir))
    _save_checkpoint(Path(request.output_dir), arm, info, image_size, data, kept.best_state,
                     {"accuracy": accuracy, "folds": len(folds) + 1, "epoch": outcome.best_epoch,
                      "test_accuracy": test_accuracy, "fit_images": fit_images})
    return {"accuracy": accuracy, "test_accuracy": test_accuracy, "folds": len(folds) + 1,
            "final_accuracy": outcome.final_accuracy, "best_epoch": outcome.best_epoch,
            "epochs_run": outcome.epochs_run, "stopped_by_time": outcome.stopped_by_time,
            "train_seconds": outcome.train_seconds, "images_per_second": outcome.images_per_second,
            "fit_images": fit_images, "refit_seconds": refit_seconds,
            **_cuda_facts(device),
            "batch_size": outcome.batch_size, "oom_retries": retries, "pretrained": arm.pretrained,
            "probe": arm.probe, "weights_sha256": weights.sha256 if weights else None,
            "weights_source": weights.source if weights else None, "checkpoint": CHECKPOINT_NAME,
            "predictions": predictions, **library_versions()}


def should_refit(request: TaskRequest, accuracy: float, images: int, seconds: float) -> bool:
    """Whether a run of this (selection) accuracy, measured on `images` images in `seconds`, is the model its tenant
    gets (engine/delivery.py, among the tenant's runs when the task was decided), and so worth training again on
    train + validation: more images for the model a user gets (1,000 images: 800 instead of 600), along the course
    validation chose (its batch, schedule and epoch), so nothing is selected on the images it then trains on. A run
    that is not delivered is not refit."""
    if request.tenant_runs is None:
        return False
    runs = [Run(quality, earlier) for quality, earlier in request.tenant_runs] + [Run(accuracy, seconds)]
    return delivered(runs, images) == len(runs) - 1


def with_validation_in_training(data: TensorData) -> TensorData:
    """The same tensors with the validation images added to the training ones (normalisation unchanged: the
    statistics of the training split, as the selected run had)."""
    x_all, y_all = _train_and_validation(data)
    return replace(data, x_train=x_all, y_train=y_all)


def fold_tensors(data: TensorData, fold: Fold) -> TensorData:
    """One cross-validation fold of train + validation (training/folds.py), normalised as the registered split."""
    x_all, y_all = _train_and_validation(data)
    fit, held_out = (torch.as_tensor(rows, device=x_all.device) for rows in (fold.fit, fold.held_out))
    return replace(data, x_train=x_all[fit], y_train=y_all[fit], x_val=x_all[held_out], y_val=y_all[held_out])


def _train_and_validation(data: TensorData) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.cat([data.x_train, data.x_val]), torch.cat([data.y_train, data.y_val])


def _configure_torch(device: torch.device, threads: int | None) -> None:
    torch.use_deterministic_algorithms(device.type == "cpu", warn_only=True)
    torch.set_flush_denormal(True)  # tiny weights late in a run must not slow CPU arithmetic tenfold
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if threads:
        torch.set_num_threads(threads)


def _test_predictions(model: nn.Module, state: dict[str, torch.Tensor], data: TensorData,
                      test: tuple[torch.Tensor, torch.Tensor] | None, batch_size: int
                      ) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """The kept weights (the selected epoch's, or its refit's) on the test split, which selection never saw: its
    labels and the class probabilities; (None, None) without a test split."""
    if test is None:
        return None, None
    model.load_state_dict(state)
    probabilities = class_probabilities(model, replace(data, x_val=test[0], y_val=test[1]), batch_size * 2)
    return test[1].cpu().numpy(), probabilities.numpy()


def with_smaller_batches(attempt: Callable[[int], T], batch_size: int, on_retry: Callable[[int], None],
                         max_retries: int = MAX_OOM_RETRIES) -> tuple[T, int, int]:
    """Run attempt(batch_size); on CUDA out-of-memory retry with half the batch. Returns (value, batch, retries)."""
    retries = 0
    while True:
        try:
            return attempt(batch_size), batch_size, retries
        except torch.OutOfMemoryError as error:
            message = str(error).splitlines()[0] if str(error) else "out of memory"
        # outside the except block: the traceback's frames (and their tensors) are released before emptying caches
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if retries == max_retries or batch_size == 1:
            raise OutOfMemory(f"out of device memory at batch size {batch_size} after {retries} retries with "
                              f"smaller batches ({message}); use a smaller model or image size, or a device with "
                              "more free memory")
        batch_size, retries = max(1, batch_size // 2), retries + 1
        on_retry(batch_size)


def tensor_data(info: DatasetInfo, image_size: int, device: torch.device, use_imagenet_stats: bool) -> TensorData:
    """The train and validation splits as tensors on `device`, with the normalisation the model trains with."""
    images = decoded_images(info, image_size)
    x_train, y_train = _tensors(info, images, info.train)
    channels = info.stats.channels
    if use_imagenet_stats:  # pretrained weights expect ImageNet's statistics (their mean over RGB for grey)
        mean = torch.tensor(IMAGENET_MEAN if channels == 3 else [sum(IMAGENET_MEAN) / 3])
        std = torch.tensor(IMAGENET_STD if channels == 3 else [sum(IMAGENET_STD) / 3])
    else:
        pixels = x_train.transpose(0, 1).reshape(channels, -1).float() / 255.0
        mean, std = pixels.mean(dim=1), pixels.std(dim=1).clamp_min(1e-3)
    x_val, y_val = _tensors(info, images, info.val)
    return TensorData(x_train=x_train.to(device), y_train=y_train.to(device), x_val=x_val.to(device),
                      y_val=y_val.to(device), mean=mean.view(1, -1, 1, 1).to(device),
                      std=std.view(1, -1, 1, 1).to(device))


def _test_tensors(info: DatasetInfo, image_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor] | None:
    if not info.test:
        return None
    return _tensors(info, decoded_images(info, image_size), info.test, device)


def _tensors(info: DatasetInfo, images: np.ndarray, paths: Sequence[str], device: torch.device | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = split_rows(info, images, paths)
    x_tensor, y_tensor = torch.from_numpy(x), torch.from_numpy(y)
    return (x_tensor, y_tensor) if device is None else (x_tensor.to(device), y_tensor.to(device))


def _save_checkpoint(folder: Path, arm: ArmSpec, info: DatasetInfo, image_size: int, data: TensorData,
                     state: dict[str, torch.Tensor], scores: dict[str, Any]) -> None:
    """best.pt: the kept weights, how to feed them, and `scores` (accuracy, folds, epoch, test_accuracy,
    fit_images), which training/export.py copies into the model card."""
    checkpoint = {"arm": arm.name, "state_dict": state, "classes": list(info.classes), **scores,
                  "image_size": image_size, "channels": info.stats.channels,
                  "mean": data.mean.flatten().tolist(), "std": data.std.flatten().tolist(),
                  "test_images": len(info.test), "pretrained": arm.pretrained,
                  "small_stem": small_input(image_size), "dataset_hash": info.content_hash}
    write_atomically(folder / CHECKPOINT_NAME, lambda out: torch.save(checkpoint, out))


def _emit_fold_epoch(report: EpochReport, fold: int, folds: int) -> None:
    """An epoch of a further fold: not validated (its model is scored once, at the fold's end)."""
    emit(FoldEpoch(fold=fold, folds=folds, epoch=report.epoch, epochs=report.epochs, loss=report.loss,
                   images_per_second=report.images_per_second, seconds=report.seconds))


def _cuda_facts(device: torch.device) -> dict[str, Any]:
    """The GPU's name and the task's peak memory on it (the worker reports the CPU and process memory otherwise)."""
    if device.type != "cuda":
        return {}
    return {"device_name": torch.cuda.get_device_name(device),
            "peak_memory_bytes": int(torch.cuda.max_memory_allocated(device))}
