"""The store's side of ensembles (schema v7): predictions recorded with their result, and a tenant's delivery,
trusted only while it was computed with the tenant's latest observation."""

from __future__ import annotations

import pytest

from easeml_gui.engine.types import Observation, TaskResult, TaskState
from easeml_gui.store import LabStore, StoreError
from easeml_gui.store.records import Member, TenantDelivery
from test_store import ARMS, Clock, lab, task_for


@pytest.fixture
def store(tmp_path):
    with LabStore(tmp_path / "lab.sqlite", clock=Clock()) as s:
        yield s


def done(store: LabStore, job, arm, task_id: str, quality: float, **extra) -> None:
    store.task_state(task_for(job, arm, task_id), TaskState.RUNNING)
    store.record_result(TaskResult(task_id, job.tenant, arm, "cpu", TaskState.DONE, quality, 3.0),
                        Observation(job.tenant, arm, quality, 3.0, 1.0), **extra)


def ensemble_of(tenant: str, *task_ids: str) -> TenantDelivery:
    return TenantDelivery(tenant, tuple(Member(t, ARMS[i].name, i + 1) for i, t in enumerate(task_ids)), 0.9, 0.85,
                          200)


def test_predictions_and_the_delivery_are_recorded_with_the_result(store):
    job, _ = lab(store)
    done(store, job, ARMS[0], "t1", 0.7, predictions=b"one")
    done(store, job, ARMS[1], "t2", 0.8, predictions=b"two", delivery=ensemble_of("alice", "t1", "t2"))
    runs = store.predicted_runs("alice", "h-digits")
    assert [(r.task_id, r.data, r.seconds) for r in runs] == [("t1", b"one", 3.0), ("t2", b"two", 3.0)]
    assert store.predicted_runs("alice", "other-hash") == []
    delivery = store.deliveries()["alice"]
    assert delivery.is_ensemble and [m.count for m in delivery.members] == [1, 2]
    assert (delivery.val_accuracy, delivery.test_accuracy, delivery.images) == (0.9, 0.85, 200)


def test_a_delivery_older_than_the_latest_observation_is_not_trusted(store):
    job, _ = lab(store)
    done(store, job, ARMS[0], "t1", 0.7, delivery=ensemble_of("alice", "t1"))
    assert "alice" in store.deliveries()
    done(store, job, ARMS[1], "t2", 0.8)  # recorded by a run that computes none (an older version, a hand record)
    assert "alice" not in store.deliveries()


def test_a_refused_result_records_neither_predictions_nor_delivery(store):
    job, other = lab(store)
    store.task_state(task_for(job, ARMS[0], "t1"), TaskState.RUNNING)
    with pytest.raises(StoreError, match="only a done task"):
        store.record_result(TaskResult("t1", "alice", ARMS[0], "cpu", TaskState.FAILED, error="x"), None,
                            predictions=b"p")
    with pytest.raises(StoreError, match="recorded with a result of alice"):
        store.record_result(TaskResult("t1", "alice", ARMS[0], "cpu", TaskState.DONE, 0.7, 3.0),
                            Observation("alice", ARMS[0], 0.7, 3.0, 1.0), predictions=b"p",
                            delivery=ensemble_of("bob", "t1"))
    assert store.task("t1").state is TaskState.RUNNING
    assert store.predicted_runs("alice", "h-digits") == [] and store.deliveries() == {}


def test_status_names_an_ensemble_and_its_members_while_it_is_current(store, tmp_path):
    job, _ = lab(store)
    done(store, job, ARMS[0], "t1", 0.7, predictions=b"one")
    done(store, job, ARMS[1], "t2", 0.8, predictions=b"two", delivery=ensemble_of("alice", "t1", "t2"))
    with LabStore.open_readonly(tmp_path / "lab.sqlite") as reader:  # every reader sees it, read-only ones too
        [alice] = [t for t in reader.status()["tenants"] if t["name"] == "alice"]
    assert alice["best_model"] == "ensemble: mobilenet_v3_small x2 + resnet18 x1"
    assert (alice["best_accuracy"], alice["best_test_accuracy"]) == (0.9, 0.85)
    assert alice["best_members"] == [{"model": "resnet18", "task_id": "t1", "weight": pytest.approx(1 / 3)},
                                     {"model": "mobilenet_v3_small", "task_id": "t2", "weight": pytest.approx(2 / 3)}]
    assert store.delivered_models()["alice"].top_quality == 0.8  # regret still counts the best single run
    assert store.delivered_models(ensembles=False)["alice"].label() == "mobilenet_v3_small"  # without ensembles
    done(store, job, ARMS[2], "t3", 0.75)  # a result without a delivery: the single-model rule again
    [alice] = [t for t in store.status()["tenants"] if t["name"] == "alice"]
    assert alice["best_model"] == "mobilenet_v3_small" and len(alice["best_members"]) == 1
