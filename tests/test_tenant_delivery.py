"""easeml_gui/ensembles.py: a tenant's delivery from the store's recorded probabilities and the new run's."""

from __future__ import annotations

import numpy as np
import pytest

from easeml_gui.engine.types import Observation, TaskResult, TaskState
from easeml_gui.ensembles import NewRun, load_predictions, tenant_delivery
from easeml_gui.store import LabStore
from easeml_gui.training.predictions import PREDICTIONS_FILE, Predictions
from test_ensemble import CLASSES, noisy_model
from test_store import ARMS, Clock, lab, task_for


@pytest.fixture
def store(tmp_path):
    with LabStore(tmp_path / "lab.sqlite", clock=Clock()) as s:
        yield s


def predictions(labels: np.ndarray, test_labels: np.ndarray, right: float, rng) -> Predictions:
    return Predictions.of(np.arange(len(labels)), labels, noisy_model(labels, right, rng), test_labels,
                          noisy_model(test_labels, right, rng))


def record(store, job, arm, task_id, p: Predictions, delivery=None) -> None:
    quality = float(np.mean(p.val_probabilities.argmax(1) == p.val_labels))
    store.task_state(task_for(job, arm, task_id), TaskState.RUNNING)
    store.record_result(TaskResult(task_id, job.tenant, arm, "cpu", TaskState.DONE, quality, 3.0),
                        Observation(job.tenant, arm, quality, 3.0, 1.0), predictions=p.to_bytes(), delivery=delivery)


def new_run(task_id: str, arm, p: Predictions) -> NewRun:
    return NewRun(task_id, arm.name, float(np.mean(p.val_probabilities.argmax(1) == p.val_labels)), 3.0, p)


def test_runs_with_independent_errors_deliver_an_ensemble_scored_on_the_test_split(store):
    rng = np.random.default_rng(0)
    labels, test_labels = rng.integers(0, CLASSES, 600), rng.integers(0, CLASSES, 900)
    job, _ = lab(store)
    runs = [predictions(labels, test_labels, 0.7, rng) for _ in range(3)]
    record(store, job, ARMS[0], "t1", runs[0])
    record(store, job, ARMS[1], "t2", runs[1])
    delivery = tenant_delivery(store, "alice", "h-digits", new_run("t3", ARMS[2], runs[2]))
    assert delivery is not None and delivery.is_ensemble
    assert {m.task_id for m in delivery.members} == {"t1", "t2", "t3"}
    single_tests = [np.mean(p.test_probabilities.argmax(1) == test_labels) for p in runs]
    assert delivery.test_accuracy > max(single_tests)
    assert delivery.images == 600


def test_a_run_without_probabilities_keeps_the_single_model_rule(store):
    rng = np.random.default_rng(1)
    labels, test_labels = rng.integers(0, CLASSES, 100), rng.integers(0, CLASSES, 100)
    job, _ = lab(store)
    store.task_state(task_for(job, ARMS[0], "t1"), TaskState.RUNNING)
    store.record_result(TaskResult("t1", "alice", ARMS[0], "cpu", TaskState.DONE, 0.9, 3.0),
                        Observation("alice", ARMS[0], 0.9, 3.0, 1.0))  # an older version's task
    assert tenant_delivery(store, "alice", "h-digits",
                           new_run("t2", ARMS[1], predictions(labels, test_labels, 0.7, rng))) is None


def test_predictions_named_in_a_result_are_loaded_and_a_damaged_file_is_skipped(tmp_path, caplog):
    rng = np.random.default_rng(2)
    labels = rng.integers(0, CLASSES, 20)
    predictions(labels, labels, 0.7, rng).save(tmp_path)
    assert load_predictions(tmp_path, PREDICTIONS_FILE).classes == CLASSES
    assert load_predictions(tmp_path, None) is None and load_predictions(None, PREDICTIONS_FILE) is None
    assert load_predictions(tmp_path, "../../etc/passwd") is None  # only the file the worker writes
    (tmp_path / PREDICTIONS_FILE).write_bytes(b"damaged")
    assert load_predictions(tmp_path, PREDICTIONS_FILE) is None
    assert "not used" in caplog.text
