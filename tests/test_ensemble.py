"""Ensemble selection (engine/ensemble.py): greedy forward selection with replacement, judged cross-fitted, and
delivered over the single runs only when better beyond one standard error."""

from __future__ import annotations

import numpy as np
import pytest

from easeml_gui.engine.ensemble import (
    MAX_SELECTION_IMAGES, Candidate, accuracy, combine, cross_fitted_accuracy, deliver, greedy_counts, log_loss,
    select_ensemble, shared_images)

CLASSES = 4


def noisy_model(labels: np.ndarray, right: float, rng: np.random.Generator, sharpness: float = 3.0) -> np.ndarray:
    """Probabilities of a model that is right on about `right` of the images, wrong at random elsewhere, each error
    independent of the other models'."""
    images = len(labels)
    guess = np.where(rng.random(images) < right, labels, rng.integers(0, CLASSES, images))
    logits = rng.normal(0, 1, (images, CLASSES))
    logits[np.arange(images), guess] += sharpness
    probabilities = np.exp(logits)
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def candidates(probabilities: list[np.ndarray], labels: np.ndarray, seconds: list[float]) -> list[Candidate]:
    rows = np.arange(len(labels))
    return [Candidate(accuracy(p, labels), s, rows, labels, p) for p, s in zip(probabilities, seconds)]


def test_independent_errors_make_an_ensemble_more_accurate_than_any_member():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, CLASSES, 600)
    models = np.stack([noisy_model(labels, 0.7, rng) for _ in range(5)])
    counts = greedy_counts(models, labels)
    assert (counts > 0).sum() >= 3
    combined = combine(models, counts)
    assert accuracy(combined, labels) > max(accuracy(m, labels) for m in models) + 0.05
    assert log_loss(combined, labels) < min(log_loss(m, labels) for m in models)


def test_a_dominant_model_is_delivered_alone_and_the_cheaper_within_noise():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, CLASSES, 300)
    strong = noisy_model(labels, 0.97, rng, sharpness=6.0)
    weak = [noisy_model(labels, 0.4, rng) for _ in range(3)]
    delivery = deliver(candidates([*weak, strong], labels, [1.0, 1.0, 1.0, 50.0]), images=len(labels))
    assert delivery.counts == (0, 0, 0, 1)
    assert delivery.quality == pytest.approx(accuracy(strong, labels))


def test_an_ensemble_is_delivered_only_when_better_beyond_one_standard_error():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, CLASSES, 800)
    models = [noisy_model(labels, 0.72, rng) for _ in range(5)]
    delivery = deliver(candidates(models, labels, [3.0, 1.0, 2.0, 4.0, 5.0]), images=len(labels))
    assert len(delivery.members) >= 3
    best_single = max(accuracy(m, labels) for m in models)
    se = np.sqrt(delivery.quality * (1 - delivery.quality) / len(labels))
    assert delivery.quality > best_single + se
    assert delivery.quality == delivery.ensemble.val_accuracy


def test_models_that_err_together_gain_nothing_beyond_noise_and_the_cheapest_good_one_is_delivered():
    rng = np.random.default_rng(6)
    labels = rng.integers(0, CLASSES, 400)
    base = noisy_model(labels, 0.75, rng)
    # five copies of one model, each with a little noise of its own: an ensemble of them is that model again
    models = [np.clip(base + rng.normal(0, 0.02, base.shape), 1e-6, None) for _ in range(5)]
    models = [m / m.sum(axis=1, keepdims=True) for m in models]
    delivery = deliver(candidates(models, labels, [3.0, 1.0, 2.0, 4.0, 5.0]), images=len(labels))
    assert delivery.counts == (0, 1, 0, 0, 0)


def test_the_cross_fitted_accuracy_is_not_the_optimistic_in_sample_one():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, CLASSES, 60)
    # pure noise models: selecting on 60 images finds luck; judged on held-out folds it is about chance
    models = np.stack([noisy_model(labels, 0.0, rng, sharpness=0.5) for _ in range(12)])
    in_sample = accuracy(combine(models, greedy_counts(models, labels)), labels)
    held_out = cross_fitted_accuracy(models, labels)
    assert held_out < in_sample
    assert held_out == cross_fitted_accuracy(models, labels)  # deterministic under its seed


def test_rounds_bound_the_counts_and_bad_shapes_are_refused():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, CLASSES, 50)
    models = np.stack([noisy_model(labels, 0.6, rng) for _ in range(3)])
    assert greedy_counts(models, labels, rounds=4).sum() <= 4
    assert sum(select_ensemble(models, labels, rounds=7).counts) <= 7
    with pytest.raises(ValueError, match="models x images x classes"):
        select_ensemble(models[0], labels)
    with pytest.raises(ValueError, match="no finished runs"):
        deliver([], images=10)


def test_runs_that_held_out_different_images_are_compared_on_the_ones_they_share():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, CLASSES, 10)
    p = noisy_model(labels, 0.8, rng)
    a = Candidate(0.8, 1.0, np.arange(10), labels, p)
    b = Candidate(0.7, 1.0, np.arange(4, 10)[::-1], labels[4:][::-1], p[4:][::-1])
    rows, shared_labels, probabilities = shared_images([a, b])
    assert rows.tolist() == list(range(4, 10))
    assert shared_labels.tolist() == labels[4:].tolist()
    assert np.allclose(probabilities[0], probabilities[1])


def test_selection_on_a_large_validation_set_uses_a_bounded_sample():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, CLASSES, MAX_SELECTION_IMAGES + 500)
    models = [noisy_model(labels, 0.7, rng) for _ in range(3)]
    delivery = deliver(candidates(models, labels, [1.0, 2.0, 3.0]), images=len(labels))
    assert delivery.ensemble.images == MAX_SELECTION_IMAGES
