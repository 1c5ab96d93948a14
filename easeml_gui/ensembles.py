"""What a tenant receives after each of its results: the store's recorded probabilities of its finished runs, the
new run's, and engine/ensemble.py's choice between its best single model and an ensemble of several.

The live lab calls tenant_delivery() before it records a done result, and records the result, its probabilities and
the delivery in one transaction (store/runlog.py). A run without probabilities (a task of an older version; a file
that did not load) keeps the tenant on the single-model rule: an ensemble chosen without it could be worse than it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .engine.ensemble import Candidate, accuracy, combine, deliver
from .store.ensembles import EnsembleReader, PredictedRun
from .store.records import Member, TenantDelivery
from .training.predictions import PREDICTIONS_FILE, BadPredictions, Predictions

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewRun:
    """The result about to be recorded, as ensemble selection sees it."""

    task_id: str
    arm: str
    quality: float
    seconds: float
    predictions: Predictions


def load_predictions(folder: str | Path | None, name: object) -> Predictions | None:
    """The predictions a done task's result.json names in its (local) folder; None without them, with a warning
    when they are named but unreadable (the run is still recorded: a lost file costs ensembles, not the result)."""
    if folder is None or name != PREDICTIONS_FILE:
        return None
    try:
        return Predictions.load(Path(folder) / PREDICTIONS_FILE)
    except BadPredictions as error:
        _log.warning("the predictions of the task in %s are not used: %s", folder, error)
        return None


def tenant_delivery(store: EnsembleReader, tenant: str, dataset_hash: str, new: NewRun) -> TenantDelivery | None:
    """What `tenant` receives once `new` is recorded; None where the single-model rule stays (some of its runs on
    this dataset lack probabilities)."""
    observed, _ = store.tenant_observations(tenant)
    earlier = store.predicted_runs(tenant, dataset_hash)
    if len(earlier) != observed:
        return None  # a run without probabilities, or on another dataset: engine/delivery.py's rule on read
    runs = [*(_loaded(run) for run in earlier), new]
    if any(run is None for run in runs):
        return None
    candidates = [Candidate(run.quality, run.seconds, run.predictions.val_rows, run.predictions.val_labels,
                            run.predictions.val_probabilities) for run in runs]
    images = len(new.predictions.val_rows)
    delivery = deliver(candidates, images)
    members = delivery.members
    test = _test_accuracy([runs[i].predictions for i in members], [delivery.counts[i] for i in members])
    return TenantDelivery(tenant, tuple(Member(runs[i].task_id, runs[i].arm, delivery.counts[i]) for i in members),
                          delivery.quality, test,
                          delivery.ensemble.images if delivery.ensemble and len(members) > 1 else images)


def _loaded(run: PredictedRun) -> NewRun | None:
    try:
        return NewRun(run.task_id, run.arm, run.quality, run.seconds, Predictions.from_bytes(run.data))
    except BadPredictions as error:
        _log.warning("the recorded predictions of task %s are not used: %s", run.task_id, error)
        return None


def _test_accuracy(members: list[Predictions], counts: list[int]) -> float | None:
    """The delivered members' weighted probabilities on the test split, scored; None without a test split."""
    labels = members[0].test_labels
    if not len(labels) or any(not np.array_equal(m.test_labels, labels) for m in members):
        return None
    return accuracy(combine(np.stack([m.test_probabilities for m in members]), counts), labels)
