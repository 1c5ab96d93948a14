"""What a lab knows before its own history: a reference prior for the catalogue from published results.

The reference is a pseudo-history (rows = published datasets, columns = arms, NaN where nothing is known) built
from the figures in reference_quality.csv, which fit_prior fits like the lab's own history. Per arm:
- a fine-tuned arm ("resnet50@imagenet") of an architecture with published fine-tuning results takes them (the
  fine-tuning table of SFDA / LogME: 11 datasets). They start from torchvision's V1 weights; for resnet50 and
  mobilenet_v2 the lab fine-tunes the later V2 weights (better on ImageNet), and the figures are kept as published;
- a fine-tuned arm of another architecture takes figures derived from its published ImageNet-1K top-1: Kornblith,
  Shlens and Le ("Do Better ImageNet Models Transfer Better?", CVPR 2019) found fine-tuned transfer accuracy to
  track ImageNet accuracy across architectures, so per dataset d, logit(fine-tuned) = a_d + b logit(ImageNet),
  fitted on the table's architectures. Such an arm's prior variance carries the fit's leave-one-architecture-out
  error on top, more the further its ImageNet accuracy lies outside the fitted range;
- every other arm (trained from scratch, a linear probe, a classical learner) has no published figure in a regime
  like the lab's (few epochs, small images): the reference says nothing about it.
The benchmarks are natural images fine-tuned at full size; a lab's data may be far from them, which each tenant's
GP learns from its first results (its signal scale adapts) and the lab's history from its first jobs.

combined_prior() joins the reference prior with fit_prior's prior on the lab's own history, arm by arm: the
reference weighs as much as REFERENCE_WEIGHT lab results of that arm. A fresh lab gets the reference for the arms it
covers and today's uninformed prior for the others; with 4 results of an arm the lab has half the say, with 36 nine
tenths. The rows are not simply stacked: fit_prior fills a missing cell with its column's mean, so 11 reference rows
without scratch, probe or classical results would shrink the lab's own variance estimate of those arms, an arm the
reference does not cover would be centred on the mean of fine-tuned benchmark results, and 11 benchmark rows would
outweigh a young lab's own jobs.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Sequence

import numpy as np

from .prior import MIN_ROWS_TO_FIT, Prior, fit_prior

REFERENCE_FILE = "reference_quality.csv"
IMAGENET = "imagenet-1k"  # the dataset label of the ImageNet figures
FINE_TUNED = "imagenet"  # what follows "@" in a fine-tuned arm's name (training/arms.py)

# The reference counts as this many lab results of an arm: as many as the smallest history fit_prior fits a
# covariance from, so a lab with enough of its own jobs to learn a prior also has half the say over each arm.
REFERENCE_WEIGHT = float(MIN_ROWS_TO_FIT)
REFERENCE_KIND = "rbf"


@dataclass(frozen=True)
class Figure:
    """One published top-1 accuracy (a line of reference_quality.csv)."""

    dataset: str
    architecture: str
    weights: str  # torchvision's name of the ImageNet weights it starts from, e.g. IMAGENET1K_V1
    default: bool  # torchvision's DEFAULT weights: the ones the lab fine-tunes
    top1: float
    source: str


@lru_cache(maxsize=1)
def published_figures() -> tuple[Figure, ...]:
    text = resources.files(__package__).joinpath(REFERENCE_FILE).read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#"))
    return tuple(Figure(r["dataset"], r["architecture"], r["weights"], r["default"] == "yes", float(r["top1"]),
                        r["source"]) for r in rows)


def _logit(p: np.ndarray | float) -> np.ndarray:
    return np.log(p) - np.log1p(-np.asarray(p))


def _expit(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _fit_transfer(finetuned: np.ndarray, imagenet: np.ndarray) -> tuple[np.ndarray, float]:
    """Least squares in logit space of finetuned (datasets x architectures) on imagenet (architectures): one
    intercept per dataset, one slope. Logits, as Kornblith et al. correlate them: accuracies near 1 compress."""
    y, x = _logit(finetuned), _logit(imagenet)
    centred = x - x.mean()
    slope = float(np.sum((y - y.mean(axis=1, keepdims=True)) * centred) / (y.shape[0] * np.sum(centred**2)))
    return y.mean(axis=1) - slope * x.mean(), slope


@dataclass(frozen=True)
class TransferFit:
    """Fine-tuned top-1 per dataset predicted from ImageNet top-1, with its error for an architecture it never saw."""

    intercept: np.ndarray  # (datasets,)
    slope: float
    error_var: float  # leave-one-architecture-out mean squared error, in accuracy units
    x_mean: float  # mean and sum of squares of logit(ImageNet top-1) over the fitted architectures
    x_ss: float

    @classmethod
    def fit(cls, finetuned: np.ndarray, imagenet: np.ndarray) -> "TransferFit":
        n = imagenet.size
        errors = []
        for left_out in range(n):
            keep = np.arange(n) != left_out
            intercept, slope = _fit_transfer(finetuned[:, keep], imagenet[keep])
            errors.append(finetuned[:, left_out] - _expit(intercept + slope * _logit(imagenet[left_out])))
        intercept, slope = _fit_transfer(finetuned, imagenet)
        x = _logit(imagenet)
        return cls(intercept, slope, float(np.mean(np.square(errors))), float(x.mean()),
                   float(np.sum((x - x.mean()) ** 2)))

    def predict(self, imagenet_top1: float) -> np.ndarray:
        return _expit(self.intercept + self.slope * _logit(imagenet_top1))

    def variance(self, imagenet_top1: float) -> float:
        """The error of a prediction: the left-out error, grown like a regression's prediction interval away
        from the fitted ImageNet range (AlexNet's 56.5 % lies far below the table's 69.8 to 78.3 %)."""
        return self.error_var * (1.0 + (float(_logit(imagenet_top1)) - self.x_mean) ** 2 / self.x_ss)


@dataclass(frozen=True)
class Reference:
    """The published figures as columns of a pseudo-history."""

    datasets: tuple[str, ...]  # the rows: every dataset with fine-tuning figures
    finetuned: dict[str, np.ndarray]  # architecture -> its published fine-tuned top-1 per dataset
    imagenet: dict[str, float]  # architecture -> ImageNet top-1 of the weights the lab fine-tunes
    transfer: TransferFit

    def column(self, arm: str) -> tuple[np.ndarray, float] | None:
        """The arm's figures per dataset and the variance to add for their being derived; None: nothing known."""
        model, _, variant = arm.partition("@")
        if variant != FINE_TUNED:
            return None
        if model in self.finetuned:
            return self.finetuned[model], 0.0
        if model in self.imagenet:
            return self.transfer.predict(self.imagenet[model]), self.transfer.variance(self.imagenet[model])
        return None

    @property
    def arms(self) -> tuple[str, ...]:
        """Every arm with a column: the fine-tuned arms of all architectures the figures name."""
        return tuple(sorted(f"{model}@{FINE_TUNED}" for model in {*self.finetuned, *self.imagenet}))


@lru_cache(maxsize=1)
def reference() -> Reference:
    figures = published_figures()
    datasets = tuple(dict.fromkeys(f.dataset for f in figures if f.dataset != IMAGENET))
    top1 = {(f.dataset, f.architecture, f.weights): f.top1 for f in figures}
    tuned = {f.architecture: f.weights for f in figures if f.dataset != IMAGENET}  # one weights per architecture
    finetuned = {arch: np.array([top1[(d, arch, weights)] for d in datasets]) for arch, weights in tuned.items()}
    # The fit pairs each architecture's fine-tuning figures with the ImageNet accuracy of the weights they started from.
    transfer = TransferFit.fit(np.column_stack(list(finetuned.values())),
                               np.array([top1[(IMAGENET, arch, weights)] for arch, weights in tuned.items()]))
    imagenet = {f.architecture: f.top1 for f in figures if f.dataset == IMAGENET and f.default}
    return Reference(datasets, finetuned, imagenet, transfer)


def reference_history(arm_names: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """The pseudo-history for `arm_names`: (rows x len(arm_names), NaN where nothing is known) and the row labels."""
    ref = reference()
    quality = np.full((len(ref.datasets), len(arm_names)), np.nan)
    for j, name in enumerate(arm_names):
        column = ref.column(name)
        if column is not None:
            quality[:, j] = column[0]
    return quality, ref.datasets


@lru_cache(maxsize=1)
def _full_reference_prior() -> Prior:
    """fit_prior on every reference column at once (so an arm's reference prior does not depend on which other
    arms a lab has), plus each derived column's own error: independent of the other arms, so on the diagonal."""
    ref = reference()
    quality, _ = reference_history(ref.arms)
    # "rbf" is what fit_prior's cross-validation picks on these rows (tests/test_reference_prior.py checks it);
    # naming it spares every fresh lab's start the import of scikit-learn that Ledoit-Wolf needs (seconds).
    prior = fit_prior(quality, ref.arms, REFERENCE_KIND)
    extra = np.array([ref.column(name)[1] for name in ref.arms])
    return Prior(prior.arm_names, prior.mean, prior.cov + np.diag(extra), prior.noise, prior.kind, prior.rows)


def reference_prior(arm_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reference's prior mean and covariance over `arm_names`, and which arms it covers (others: zeros)."""
    full = _full_reference_prior()
    index = {name: i for i, name in enumerate(full.arm_names)}
    covered = np.array([name in index for name in arm_names], dtype=bool)
    at = np.array([index.get(name, 0) for name in arm_names], dtype=int)
    mean = np.where(covered, full.mean[at], 0.0)
    cov = np.where(covered[:, None] & covered[None, :], full.cov[np.ix_(at, at)], 0.0)
    return mean, cov, covered


def reference_share(history: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """Per arm, the reference's share of the prior: REFERENCE_WEIGHT / (REFERENCE_WEIGHT + the lab's results of the
    arm) where the reference covers it, else 0."""
    results = np.sum(~np.isnan(history), axis=0)
    return np.where(covered, REFERENCE_WEIGHT / (REFERENCE_WEIGHT + results), 0.0)


def combined_prior(history: np.ndarray, arm_names: Sequence[str], kind: str = "auto",
                   families: Sequence[str] | None = None) -> Prior:
    """fit_prior(history, arm_names, kind, families) joined with the reference prior, arm by arm (see the module
    docstring).

    With w the reference's share of arm k: mean_k = (1 - w_k) lab_k + w_k ref_k, and the covariance is
    D_lab C_lab D_lab + D_ref C_ref D_ref with D = diag(sqrt(1 - w)), diag(sqrt(w)) (positive semi-definite as both
    parts are), plus w (1 - w) (lab_k - ref_k)^2 on the diagonal: where the two disagree, the prior is less sure.
    The observation noise is the lab's: it describes the lab's runs, not what the datasets are like."""
    names = tuple(arm_names)
    history = np.asarray(history, dtype=float).reshape(-1, len(names))
    lab = fit_prior(history, names, kind, families)
    ref_mean, ref_cov, covered = reference_prior(names)
    if not covered.any():
        return lab
    share = reference_share(history, covered)
    own, other = np.sqrt(1.0 - share), np.sqrt(share)
    mean = (1.0 - share) * lab.mean + share * ref_mean
    cov = (own[:, None] * lab.cov * own[None, :] + other[:, None] * ref_cov * other[None, :]
           + np.diag(share * (1.0 - share) * (lab.mean - ref_mean) ** 2))
    return Prior(names, mean, cov, lab.noise, f"{lab.kind}+reference", lab.rows + len(reference().datasets))
