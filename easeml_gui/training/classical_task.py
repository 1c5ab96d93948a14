"""A worker's classical task: one scikit-learn fit on the pixels, no epochs, saved as skops (never a pickle).

Validation accuracy (what selection sees) comes from the fit on the training split, cross-validated over train +
validation where the validation split is small (training/folds.py); the model kept, and scored on the test split,
is then refit on train + validation (training/classical.py says why that is sound). Torch-free.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .arms import CLASSICAL_MAX_SIZE, ArmSpec
from .classical import MODEL_NAME, save_classical, train_classical
from .datasets import DatasetInfo
from .decoded import decoded_images, split_rows
from .folds import Fold, cross_validated, extra_folds
from .predictions import ValidatedRows
from .wire import Epoch, Start, TaskRequest, emit
from .wire import Fold as FoldScored  # the event; folds.Fold is the split


def train_classical_arm(request: TaskRequest, arm: ArmSpec, info: DatasetInfo, image_size: int) -> dict[str, Any]:
    """Fit, write model.skops into the task folder, return the result fields (wire.TaskOutcome's)."""
    image_size = min(image_size, CLASSICAL_MAX_SIZE)  # what the learner sees: decoding larger only costs memory
    images = decoded_images(info, image_size)
    train_set, val_set = split_rows(info, images, info.train), split_rows(info, images, info.val)
    test_set = split_rows(info, images, info.test) if info.test else (None, None)
    emit(Start(arm=arm.name, device="cpu", image_size=image_size, train_images=len(info.train),
               val_images=len(info.val)))
    outcome = train_classical(arm.model, *train_set, *val_set, *test_set, seed=request.seed, threads=request.threads,
                              refit=True)
    folds = extra_folds(train_set[1], len(info.val), request.seed)
    x_all, y_all = np.concatenate([train_set[0], val_set[0]]), np.concatenate([train_set[1], val_set[1]])

    validated = ValidatedRows.registered(len(info.train), val_set[1], outcome.val_probabilities)

    def score(number: int, fold: Fold) -> float:
        fold_outcome = train_classical(arm.model, x_all[fold.fit], y_all[fold.fit], x_all[fold.held_out],
                                       y_all[fold.held_out], seed=request.seed, threads=request.threads)
        validated.add(fold.held_out, y_all[fold.held_out], fold_outcome.val_probabilities)
        emit(FoldScored(fold=number, folds=len(folds) + 1, val_accuracy=fold_outcome.val_accuracy))
        return fold_outcome.val_accuracy

    outcome = replace(outcome, val_accuracy=cross_validated(outcome.val_accuracy, len(info.val), folds, score))
    predictions = validated.with_test(test_set[1], outcome.test_probabilities).save(Path(request.output_dir))
    save_classical(Path(request.output_dir) / MODEL_NAME, outcome, classes=list(info.classes), image_size=image_size,
                   channels=info.stats.channels, dataset_hash=info.content_hash,
                   extra={"test_images": len(info.test), "seed": request.seed, "fit_images": outcome.fit_images,
                          "folds": len(folds) + 1})
    images_per_second = len(info.train) / max(outcome.train_seconds, 1e-9)
    # one "epoch" line, so progress displays show the fit's outcome like a network's
    emit(Epoch(epoch=1, epochs=1, val_accuracy=outcome.val_accuracy, images_per_second=images_per_second,
               seconds=outcome.train_seconds))
    return {"accuracy": outcome.val_accuracy, "test_accuracy": outcome.test_accuracy, "folds": len(folds) + 1,
            "final_accuracy": outcome.val_accuracy, "best_epoch": 1, "epochs_run": 1, "stopped_by_time": False,
            "train_seconds": outcome.train_seconds, "images_per_second": images_per_second,
            "batch_size": len(info.train), "oom_retries": 0, "pretrained": False, "probe": False,
            "image_size": image_size, "fit_images": outcome.fit_images, "checkpoint": MODEL_NAME,
            "predictions": predictions}
