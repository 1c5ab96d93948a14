"""Cross-validation folds for small validation splits (training/folds.py)."""

from __future__ import annotations

import numpy as np
import pytest

from easeml_gui.training.folds import MAX_FOLDS, SMALL_VALIDATION, Fold, cross_validated, extra_folds


def test_a_small_split_validates_every_image_of_train_and_val_once() -> None:
    labels = np.repeat(np.arange(10), 12)  # 200 images split 120 / 40 (/ 40 test)
    folds = extra_folds(labels, val_images=40, seed=3)
    assert len(folds) == 3  # the registered split is the fourth
    held_out = np.concatenate([fold.held_out for fold in folds])
    assert sorted(held_out) == list(range(120))  # the training split, each image once; validation is fold one
    for fold in folds:
        assert len(fold.held_out) == 40 and set(fold.fit) == set(range(160)) - set(fold.held_out)
        assert set(range(120, 160)) <= set(fold.fit)  # the registered validation images train the other folds
        assert np.bincount(labels[fold.held_out]).tolist() == [4] * 10  # stratified
    assert [f.held_out.tolist() for f in extra_folds(labels, 40, seed=3)] == [f.held_out.tolist() for f in folds]


def test_a_validation_split_large_enough_or_empty_is_used_alone() -> None:
    assert extra_folds(np.zeros(600, dtype=int), val_images=SMALL_VALIDATION, seed=0) == []
    assert extra_folds(np.zeros(600, dtype=int), val_images=0, seed=0) == []
    assert extra_folds(np.zeros(40, dtype=int), val_images=60, seed=0) == []  # one fold would hold the rest


def test_folds_are_capped_and_a_rare_class_leaves_them_unstratified() -> None:
    labels = np.array([0, 1] * 2500)
    assert len(extra_folds(labels, val_images=50, seed=0)) == MAX_FOLDS - 1
    rare = np.array([0] * 118 + [1, 1])  # class 1 cannot be spread over three folds
    folds = extra_folds(rare, val_images=40, seed=0)
    assert len(folds) == 3 and sorted(np.concatenate([f.held_out for f in folds])) == list(range(120))


def test_the_score_pools_every_validated_image() -> None:
    folds = [Fold(fit=np.arange(3), held_out=np.arange(10)), Fold(fit=np.arange(3), held_out=np.arange(30))]
    seen = []
    accuracy = cross_validated(1.0, 20, folds, lambda number, fold: seen.append(number) or 0.5)
    assert seen == [2, 3] and accuracy == pytest.approx((20 * 1.0 + 40 * 0.5) / 60)
    assert cross_validated(0.75, 20, [], lambda number, fold: 0.0) == 0.75
