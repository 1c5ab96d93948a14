"""Which of a tenant's trained models the lab delivers: the one-standard-error rule.

Validation accuracy on n images is a binomial estimate with standard error sqrt(q (1 - q) / n): on 200 images at
0.73 that is 0.031, six images. The best of a dozen models by one image is mostly the luck of that split (digits,
colourised, 1,000 images: mobilenet_v3_large 0.735 and mobilenet_v3_small 0.730 on validation, 0.760 and 0.830 on
the test split). So, as Breiman et al. (CART, 1984) and Hastie, Tibshirani and Friedman (Elements of Statistical
Learning, 7.10) prune, the lab delivers the simplest model whose accuracy lies within one standard error of the
best; simplest being the one that took the fewest seconds to select (on the same data, fewer seconds is a smaller
model: a classical learner before a network, mobilenet_v3_small before _large). Seconds of selection only: a
model's refit on train + validation (which only a delivered model gets) must not count against it.

The engine's regret keeps the best accuracy itself: this rule only says which model a user gets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Run:
    """One finished training run of a tenant's: its validation accuracy and the seconds its selection took; or an
    ensemble of such runs (engine/ensemble.py), with the seconds of all its members."""

    quality: float
    seconds: float
    members: int = 1  # distinct models: fewer is simpler, before fewer seconds


def standard_error(quality: float, images: int | None) -> float:
    """Binomial standard error of an accuracy measured on `images` images; 0 when that count is unknown (then the
    rule is plain best-accuracy, ties to the cheaper)."""
    if not images or images <= 0:
        return 0.0
    q = min(max(quality, 0.0), 1.0)
    return math.sqrt(q * (1.0 - q) / images)


def delivered(runs: Sequence[Run], images: int | None) -> int | None:
    """Index in `runs` of the model to deliver (None without runs): the simplest of those within one standard error
    of the best accuracy (fewest members, then fewest seconds); then the more accurate, then the earlier."""
    if not runs:
        return None
    top = max(run.quality for run in runs)
    floor = top - standard_error(top, images)
    # A hair of slack so an accuracy exactly one standard error below (k/n against (k+s)/n) is not lost to rounding.
    eligible = [i for i, run in enumerate(runs) if run.quality >= floor - 1e-12]
    return min(eligible, key=lambda i: (runs[i].members, runs[i].seconds, -runs[i].quality, i))
