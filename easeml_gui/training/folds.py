"""Cross-validation for small validation splits: the selection score a tenant's models are compared on.

On 40 validation images one image is 2.5 points of accuracy, so the best of a dozen models on them is mostly the
luckiest (digits, 200 images: a network at 40/40 on validation scored 36/40 on test, the SVC it beat 39/40). Below
SMALL_VALIDATION images a task therefore validates on every image of train + validation once: the registered split
is the first fold, and the training split is cut (stratified) into the others, each of them validated by a model
fit on everything else. The score is the pooled accuracy over all folds. Torch-free: classical tasks use it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

SMALL_VALIDATION = 100  # validation images below which selection cross-validates (one image: more than a point)
MAX_FOLDS = 5  # the registered split and at most four more: each costs one more training


@dataclass(frozen=True)
class Fold:
    """Indices into the concatenation train + validation (the registered order): fit on `fit`, score on `held_out`."""
    fit: np.ndarray
    held_out: np.ndarray


def extra_folds(train_labels: Sequence[int], val_images: int, seed: int) -> list[Fold]:
    """The folds beyond the registered split that a task also validates on; none when the validation split is
    large enough to select on alone (or empty). As many folds in all as the validation split fits into train +
    validation (200 images split 120/40: four), at most MAX_FOLDS, each one of them validating a part of the
    training split as large as the validation split where the data allows."""
    n_train = len(train_labels)
    if val_images == 0 or val_images >= SMALL_VALIDATION:
        return []
    parts = min(MAX_FOLDS, round((n_train + val_images) / val_images)) - 1
    if parts < 2 or n_train < parts:
        return []
    labels = np.asarray(train_labels)
    # stratified where every class can be spread over the parts; a rarer class leaves the parts unstratified
    splitter = (StratifiedKFold if _smallest_class(labels) >= parts else KFold)(n_splits=parts, shuffle=True,
                                                                               random_state=seed)
    everything = np.arange(n_train + val_images)
    return [Fold(fit=np.setdiff1d(everything, held_out), held_out=held_out)
            for _, held_out in splitter.split(np.zeros(n_train), labels)]


def cross_validated(registered_accuracy: float, val_images: int, folds: Sequence[Fold],
                    score: Callable[[int, Fold], float]) -> float:
    """The accuracy over every validated image: the registered split's, pooled with score(number, fold) of each
    extra fold (numbered from 2: the registered split is the first)."""
    scores = [(registered_accuracy, val_images), *((score(number, fold), len(fold.held_out))
                                                   for number, fold in enumerate(folds, start=2))]
    return sum(accuracy * images for accuracy, images in scores) / sum(images for _, images in scores)


def _smallest_class(labels: np.ndarray) -> int:
    counts = np.bincount(labels)
    return int(counts[counts > 0].min())
