"""What a tenant receives when several of its trained models together beat each alone: ensemble selection.

Caruana et al. ("Ensemble selection from libraries of models", ICML 2004), as AutoGluon's WeightedEnsemble does
it: start from nothing, add (with replacement) the model whose class probabilities, averaged with those already in,
give the lowest log-loss on the validation images; a bounded number of rounds; the ensemble kept is the best of the
nested ones seen, its weights the counts. Log-loss rather than accuracy drives the search because it still moves
when accuracy ties on a few hundred images; ties fall to accuracy, then to the earlier (cheaper-ordered) model.

Greedy selection on the very images it then scores on is optimistic. So the accuracy an ensemble is judged by is
cross-fitted: the images are split into folds, selection runs on the others, and each fold is predicted by the
ensemble selected without it. A single model's accuracy is a plain (and itself a best-of-many) score, so the
comparison leans towards the single model: an ensemble is delivered only when it is better beyond noise
(engine/delivery.py's one-standard-error rule, ranked by fewest members, then fewest seconds).

Pure numpy: probabilities arrive as arrays (models x images x classes), whoever trained them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .delivery import Run, delivered

ROUNDS = 25  # AutoGluon's default; more rounds rarely change the counts on a few hundred images
CROSS_FIT_FOLDS = 5
# Selection runs in the live loop after each result: a seeded sample of this many shared validation images bounds
# its time (about a second for 30 models on this machine) where cross-validation scored a large dataset's every image;
# the standard error at 10,000 images is under 0.005, far below the gains an ensemble must show.
MAX_SELECTION_IMAGES = 10_000
EPSILON = 1e-12  # probabilities are clipped here so a confident miss costs a large, finite log-loss


@dataclass(frozen=True)
class Ensemble:
    """Counts per candidate model (zero: not a member); weights are the counts over their sum."""

    counts: tuple[int, ...]
    val_accuracy: float  # cross-fitted (see the module's note): what the delivery rule compares
    val_log_loss: float  # of the final selection on all the images it saw (in-sample)
    images: int  # validation images it was selected and scored on

    @property
    def members(self) -> tuple[int, ...]:
        return members_of(self.counts)

    @property
    def weights(self) -> np.ndarray:
        counts = np.asarray(self.counts, dtype=float)
        return counts / counts.sum()


def members_of(counts: tuple[int, ...]) -> tuple[int, ...]:
    """Indices of the candidates with a non-zero count, in candidate order."""
    return tuple(i for i, count in enumerate(counts) if count)


def log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-probability of the true class (probabilities: images x classes)."""
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(picked, EPSILON, 1.0))))


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(probabilities, axis=1) == labels))


def combine(probabilities: np.ndarray, counts: np.ndarray | tuple[int, ...]) -> np.ndarray:
    """The weighted mean of the models' probabilities (models x images x classes -> images x classes)."""
    weights = np.asarray(counts, dtype=float)
    return np.tensordot(weights / weights.sum(), probabilities, axes=1)


def greedy_counts(probabilities: np.ndarray, labels: np.ndarray, rounds: int = ROUNDS) -> np.ndarray:
    """Forward selection with replacement; the counts of the best nested ensemble seen (lowest log-loss, then the
    higher accuracy, then the one found earlier: the smaller)."""
    models, images = probabilities.shape[0], len(labels)
    # Log-loss needs only each image's true-class probability: a round costs models x images, not x classes too.
    true_class = probabilities[:, np.arange(images), labels]  # (models, images)
    counts = np.zeros(models, dtype=int)
    total = np.zeros(probabilities.shape[1:])
    total_true = np.zeros(images)
    best: tuple[float, float] | None = None
    best_counts = counts
    for size in range(1, rounds + 1):
        losses = np.round(-np.mean(np.log(np.clip((total_true[None] + true_class) / size, EPSILON, 1.0)), axis=1), 12)
        tied = np.flatnonzero(losses == losses.min())
        # accuracy breaks exact ties only, so the full (images x classes) trial is built for the tied models alone
        hits = [float(np.mean(np.argmax(total + probabilities[m], axis=1) == labels)) for m in tied]
        chosen = int(tied[int(np.argmax(hits))])  # argmax: the first of the most accurate, the earlier model
        counts = counts.copy()
        counts[chosen] += 1
        total += probabilities[chosen]
        total_true += true_class[chosen]
        score = (float(losses[chosen]), -max(hits))
        if best is None or score < best:
            best, best_counts = score, counts
    return best_counts


def cross_fitted_accuracy(probabilities: np.ndarray, labels: np.ndarray, rounds: int = ROUNDS,
                          folds: int = CROSS_FIT_FOLDS, seed: int = 0) -> float:
    """Accuracy of the selection procedure on images it did not select on: each fold predicted by the ensemble
    selected on the other folds."""
    images = len(labels)
    folds = max(2, min(folds, images))
    order = np.random.default_rng(seed).permutation(images)
    hits = 0
    for held_out in np.array_split(order, folds):
        fit = np.setdiff1d(order, held_out, assume_unique=True)
        counts = greedy_counts(probabilities[:, fit], labels[fit], rounds)
        hits += int(np.sum(np.argmax(combine(probabilities[:, held_out], counts), axis=1) == labels[held_out]))
    return hits / images


def select_ensemble(probabilities: np.ndarray, labels: np.ndarray, rounds: int = ROUNDS,
                    seed: int = 0) -> Ensemble:
    """The ensemble of these candidates (models x images x classes) on these validation labels."""
    probabilities = np.asarray(probabilities, dtype=float)
    labels = np.asarray(labels, dtype=int)
    if probabilities.ndim != 3 or probabilities.shape[1] != len(labels) or len(labels) < 2:
        raise ValueError(f"need models x images x classes probabilities for at least 2 labelled images, got "
                         f"{probabilities.shape} for {len(labels)} labels")
    counts = greedy_counts(probabilities, labels, rounds)
    return Ensemble(counts=tuple(int(c) for c in counts),
                    val_accuracy=cross_fitted_accuracy(probabilities, labels, rounds, seed=seed),
                    val_log_loss=log_loss(combine(probabilities, counts), labels), images=len(labels))


@dataclass(frozen=True)
class Candidate:
    """A tenant's finished run as ensemble selection sees it: its recorded validation accuracy and selection
    seconds, and its class probabilities for validation images named by row (an image's index in its dataset), so
    runs that held out different images (cross-validation folds) are compared on the images they share."""

    quality: float
    seconds: float
    rows: np.ndarray  # (images,) int
    labels: np.ndarray  # (images,) int
    probabilities: np.ndarray  # (images, classes)


@dataclass(frozen=True)
class Delivery:
    """What the tenant receives: one candidate, or an ensemble of several (counts per candidate)."""

    counts: tuple[int, ...]
    quality: float  # the validation accuracy the choice was made on (cross-fitted for an ensemble)
    ensemble: Ensemble | None  # the selection, also when a single model won (for the "why")

    @property
    def members(self) -> tuple[int, ...]:
        return members_of(self.counts)


def shared_images(candidates: list[Candidate]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, labels, probabilities models x images x classes) on the validation images every candidate scored."""
    rows = candidates[0].rows
    for candidate in candidates[1:]:
        rows = np.intersect1d(rows, candidate.rows)  # sorted, unique

    def at_rows(candidate: Candidate) -> np.ndarray:
        """Positions of `rows` in the candidate's own order."""
        order = np.argsort(candidate.rows)
        return order[np.searchsorted(candidate.rows, rows, sorter=order)]

    labels = candidates[0].labels[at_rows(candidates[0])]
    return rows, labels, np.stack([c.probabilities[at_rows(c)] for c in candidates])


def deliver(candidates: list[Candidate], images: int | None, rounds: int = ROUNDS, seed: int = 0) -> Delivery:
    """The single runs (their recorded accuracy, on `images` images) and the ensemble selected over them (its
    cross-fitted accuracy) under the one-standard-error rule: an ensemble only when no single run comes within one
    standard error of it. Raises ValueError without candidates."""
    if not candidates:
        raise ValueError("no finished runs to deliver from")
    singles = [Run(c.quality, c.seconds) for c in candidates]
    ensemble = None
    if len(candidates) > 1:
        _, labels, probabilities = shared_images(candidates)
        if len(labels) > MAX_SELECTION_IMAGES:
            sample = np.sort(np.random.default_rng(seed).choice(len(labels), MAX_SELECTION_IMAGES, replace=False))
            labels, probabilities = labels[sample], probabilities[:, sample]
        if len(labels) >= 2:
            ensemble = select_ensemble(probabilities, labels, rounds, seed)
    options = list(singles)
    if ensemble is not None and len(ensemble.members) > 1:
        options.append(Run(ensemble.val_accuracy, sum(candidates[i].seconds for i in ensemble.members),
                           members=len(ensemble.members)))
    chosen = delivered(options, images)
    assert chosen is not None
    if chosen == len(singles):
        return Delivery(ensemble.counts, ensemble.val_accuracy, ensemble)
    return Delivery(tuple(int(i == chosen) for i in range(len(candidates))), singles[chosen].quality, ensemble)
