"""The SQLite store on real files: schema and migrations, refusals, names, the live loop's writes, queries."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from easeml_gui.engine.types import (
    Arm, Decision, Observation, Task, TaskLocation, TaskResult, TaskState, Tenant, TenantScore,
)
from easeml_gui.store import JOB_KEY, EpochReport, JobState, LabStore, StoreError, schema, schema_version
from easeml_gui.store.records import scores_to_json

REPO = Path(__file__).resolve().parents[1]
ARMS = (Arm("resnet18", 0), Arm("mobilenet_v3_small", 1), Arm("vgg11", 2))


class Clock:
    """A deterministic clock: each call advances one second."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "lab" / "easeml.sqlite"


@pytest.fixture
def store(db_path: Path):
    with LabStore(db_path, clock=Clock()) as s:
        yield s


def lab(store: LabStore, tenants=("alice", "bob"), dataset="digits", content_hash="h-digits"):
    """Tenants with one job each on one dataset; returns the jobs."""
    store.add_dataset(dataset, f"/data/{dataset}", content_hash, manifest={"files": 3},
                      stats={"classes": ["0", "1"], "counts": {"0": 2, "1": 1}, "image_sizes": [[8, 8]], "channels": 1})
    jobs = []
    for name in tenants:
        store.add_tenant(name)
        jobs.append(store.add_job(name, dataset, ARMS, epochs=2, image_size=32, seed=7))
    return jobs


def task_for(job, arm: Arm, task_id: str, device: str = "cpu") -> Task:
    return Task(task_id=task_id, tenant=job.tenant, arm=arm, device=device, seed=job.seed, config=job.to_job().config)


def finish(store: LabStore, task: Task, quality: float | None, cost: float = 10.0, **details: Any) -> None:
    """Run `task` through the live loop's writes: running, then done with an observation (or failed); `details`:
    what its worker's result adds (val_images, test_accuracy, refit_seconds...)."""
    store.task_state(task, TaskState.RUNNING)
    state = TaskState.DONE if quality is not None else TaskState.FAILED
    result = TaskResult(task.task_id, task.tenant, task.arm, task.device, state, quality, cost,
                        error=None if quality is not None else "out of memory", details=details)
    obs = Observation(task.tenant, task.arm, quality, cost, time=5.0) if quality is not None else None
    store.record_result(result, obs)


def file_state(path: Path) -> tuple[bytes, list[str]]:
    return path.read_bytes(), sorted(p.name for p in path.parent.iterdir())


# --- schema, migrations, refusals ------------------------------------------------------------------------------


def test_new_store_is_wal_with_foreign_keys_and_current_schema(db_path: Path) -> None:
    with LabStore(db_path) as store:
        conn = store._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema_version() >= 1
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"tenants", "datasets", "jobs", "hosts", "tasks", "observations", "decisions"} <= tables


def test_migrates_from_version_0(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    sqlite3.connect(db_path).execute("VACUUM").connection.close()  # a real, empty SQLite file: user_version 0
    assert db_path.stat().st_size > 0
    with LabStore(db_path) as store:
        store.add_tenant("alice")
    with LabStore.open_readonly(db_path) as reader:
        assert [t.name for t in reader.tenants()] == ["alice"]


def test_migrations_apply_in_order_and_keep_data(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with LabStore(db_path) as store:
        lab(store)
    v1 = schema_version()
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, ("ALTER TABLE tenants ADD COLUMN email TEXT",),
                                               ("UPDATE tenants SET email = name || '@lab'",)])
    with pytest.raises(StoreError, match="older than this easeml-gui"):
        LabStore.open_readonly(db_path)  # a reader cannot upgrade
    with LabStore(db_path) as store:
        assert store._conn.execute("PRAGMA user_version").fetchone()[0] == v1 + 2
        emails = [r[0] for r in store._conn.execute("SELECT email FROM tenants ORDER BY name")]
        assert emails == ["alice@lab", "bob@lab"]  # the later migration saw the earlier one's column
        assert len(store.jobs()) == 2


def test_failed_migration_rolls_back_entirely(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with LabStore(db_path) as store:
        store.add_tenant("alice")
    v1 = schema_version()
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS,
                                               ("ALTER TABLE tenants ADD COLUMN email TEXT", "SELECT * FROM nowhere")])
    with pytest.raises(StoreError):
        LabStore(db_path)
    monkeypatch.undo()
    with LabStore(db_path) as store:
        assert store._conn.execute("PRAGMA user_version").fetchone()[0] == v1
        columns = {r[1] for r in store._conn.execute("PRAGMA table_info(tenants)")}
        assert "email" not in columns
        assert store.tenant("alice").name == "alice"


def test_store_from_newer_version_is_refused_untouched(db_path: Path) -> None:
    with LabStore(db_path) as store:
        store.add_tenant("alice")
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {schema_version() + 5}")
    conn.commit()
    conn.close()
    before = db_path.read_bytes()
    with pytest.raises(StoreError, match=r"newer easeml-gui.*[Uu]pgrade easeml-gui"):
        LabStore(db_path)
    with pytest.raises(StoreError, match="newer easeml-gui"):
        LabStore.open_readonly(db_path)
    assert db_path.read_bytes() == before  # (a read-only look at a WAL file may leave empty -wal/-shm beside it)


@pytest.mark.parametrize("content", [
    os.urandom(8192),                                   # not SQLite at all
    b"SQLite format 3\x00" + os.urandom(8192 - 16),     # SQLite header, garbage after it
    b"hello, this is a text file\n" * 10,
], ids=["random", "header-then-garbage", "text"])
def test_corrupt_file_is_refused_and_left_byte_identical(db_path: Path, content: bytes) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(content)
    before = file_state(db_path)
    with pytest.raises(StoreError, match="not an easeml-gui store|damaged") as err:
        LabStore(db_path)
    assert "--db" in str(err.value)
    with pytest.raises(StoreError):
        LabStore.open_readonly(db_path)
    assert file_state(db_path) == before  # same bytes, and no -wal/-shm beside it


def test_foreign_sqlite_database_is_refused_untouched(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)")
    conn.commit()
    conn.close()
    before = file_state(db_path)
    with pytest.raises(StoreError, match="another application"):
        LabStore(db_path)
    assert file_state(db_path) == before


def test_readonly_needs_an_existing_store_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.sqlite"
    with pytest.raises(StoreError, match="no easeml-gui store"):
        LabStore.open_readonly(missing)
    assert not missing.exists()


def test_folder_as_store_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a folder"):
        LabStore(tmp_path)


def test_reader_cannot_write_the_file(store: LabStore, db_path: Path) -> None:
    lab(store)
    with LabStore.open_readonly(db_path) as reader:
        assert not hasattr(reader, "add_tenant")
        with pytest.raises(StoreError, match="cannot be written"), reader._write():
            reader._conn.execute("DELETE FROM tenants")
    assert len(store.tenants()) == 2


def test_closed_store_says_so(db_path: Path) -> None:
    store = LabStore(db_path)
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.tenants()


# --- names and the registry ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "Alice", "team-1", "x.y_z", "0", "a" * 64])
def test_valid_names(store: LabStore, name: str) -> None:
    assert store.add_tenant(name).name == name
    assert store.add_dataset(name, "/d", "h", manifest={}, stats={}).name == name
    assert store.add_host(name, "gpu1.lab").name == name


@pytest.mark.parametrize("name", [
    "", "a b", "../etc", "a/b", "-rf", ".hidden", "_x", "a;rm -rf ~", "$(id)", "a" * 65, "é", "a\n", "x\x00",
])
def test_invalid_names_are_refused_with_the_allowed_characters(store: LabStore, name: str) -> None:
    for add in (lambda: store.add_tenant(name), lambda: store.add_host(name, "gpu1"),
                lambda: store.add_dataset(name, "/d", "h", manifest={}, stats={})):
        with pytest.raises(StoreError, match=r"A-Z a-z 0-9 \. _ -"):
            add()
    assert store.tenants() == [] and store.datasets() == [] and store.hosts() == []


def test_duplicate_names_are_refused(store: LabStore) -> None:
    store.add_tenant("alice")
    with pytest.raises(StoreError, match="tenant 'alice' already exists; choose another name"):
        store.add_tenant("alice")
    with pytest.raises(StoreError, match="differ only by case"):
        store.add_tenant("ALICE")
    store.add_dataset("digits", "/d", "h", manifest={}, stats={})
    with pytest.raises(StoreError, match="dataset 'digits' already exists"):
        store.add_dataset("digits", "/e", "h2", manifest={}, stats={})
    store.add_host("gpu1", "gpu1.lab")
    with pytest.raises(StoreError, match="host 'gpu1' already exists"):
        store.add_host("gpu1", "other.lab")
    store.archive_tenant("alice")
    with pytest.raises(StoreError, match=r"already exists \(archived\)"):
        store.add_tenant("alice")


def test_bad_numbers_are_refused(store: LabStore) -> None:
    for weight in (0, -1, math.nan, math.inf):
        with pytest.raises(StoreError, match="weight must be a positive number"):
            store.add_tenant("alice", weight=weight)
    with pytest.raises(StoreError, match="quota"):
        store.add_tenant("alice", quota_seconds=-5)
    with pytest.raises(StoreError, match="SSH port"):
        store.add_host("gpu1", "gpu1.lab", port=70000)
    with pytest.raises(StoreError, match="invalid host address"):
        store.add_host("gpu1", "-oProxyCommand=evil")


def test_tenant_updates(store: LabStore) -> None:
    store.add_tenant("alice", weight=2.0, quota_seconds=3600)
    assert store.update_tenant("alice", paused=True) == Tenant("alice", 2.0, 3600, True)
    assert store.update_tenant("alice", paused=False, weight=3.0) == Tenant("alice", 3.0, 3600, False)
    assert store.set_quota("alice", None).quota_seconds is None
    # weight and quota change together or not at all: a reader (the window, a running lab) never sees half
    assert store.update_tenant("alice", weight=4.0, quota_seconds=60) == Tenant("alice", 4.0, 60, False)
    with pytest.raises(StoreError, match="quota must be zero or more"):
        store.update_tenant("alice", weight=5.0, quota_seconds=-1)
    assert store.tenant("alice") == Tenant("alice", 4.0, 60, False)
    assert store.update_tenant("alice", weight=5.0, no_quota=True) == Tenant("alice", 5.0, None, False)
    with pytest.raises(StoreError, match="unknown tenant 'bob'; known tenants: alice"):
        store.update_tenant("bob", paused=True)


def test_add_job_with_unknown_names_lists_the_known_ones(store: LabStore) -> None:
    with pytest.raises(StoreError, match="no tenants yet; add one with easeml-gui tenant add"):
        store.add_job("alice", "digits", ARMS, epochs=1, image_size=32)
    lab(store)
    with pytest.raises(StoreError, match="unknown tenant 'carol'; known tenants: alice, bob"):
        store.add_job("carol", "digits", ARMS, epochs=1, image_size=32)
    with pytest.raises(StoreError, match="unknown dataset 'cifar'; known datasets: digits"):
        store.add_job("alice", "cifar", ARMS, epochs=1, image_size=32)
    with pytest.raises(StoreError, match="at least one candidate model"):
        store.add_job("alice", "digits", (), epochs=1, image_size=32)
    with pytest.raises(StoreError, match="twice"):
        store.add_job("alice", "digits", (ARMS[0], ARMS[0]), epochs=1, image_size=32)
    assert len(store.jobs()) == 2


def test_job_round_trip(store: LabStore) -> None:
    store.add_tenant("alice")
    store.add_dataset("digits", "/data/digits", "h", manifest={"n": 1}, stats={"channels": 1}, split={"val": 0.2})
    job = store.add_job("alice", "digits", ARMS, epochs=3, image_size=64, seed=11, schema={"classes": 10},
                        config={"batch_size": 32})
    assert store.job(job.id) == job and job.arms == ARMS and job.state is JobState.ACTIVE
    engine_job = job.to_job()
    assert engine_job.tenant == "alice" and engine_job.seed == 11 and engine_job.arms == ARMS
    assert engine_job.config == {"batch_size": 32, JOB_KEY: job.id, "dataset": "digits", "epochs": 3, "image_size": 64}
    assert store.set_job_state(job.id, JobState.DONE).state is JobState.DONE
    assert store.jobs(state=JobState.ACTIVE) == [] and store.jobs(tenant="alice")[0].ended is not None
    assert store.dataset("digits").split == {"val": 0.2}
    with pytest.raises(StoreError, match="unknown job 99"):
        store.job(99)


def test_hosts(store: LabStore) -> None:
    store.add_host("gpu1", "gpu1.lab", user="alice", port=2222, key_path="~/.ssh/id_ed25519")
    with pytest.raises(StoreError, match="SHA256"):
        store.trust_host("gpu1", "md5:aa:bb")
    assert store.trust_host("gpu1", "SHA256:abc").host_key_fingerprint == "SHA256:abc"
    host = store.record_probe("gpu1", {"torch": "2.4", "gpus": [{"name": "H200", "free_mb": 1000}]})
    assert host.last_probe["gpus"][0]["name"] == "H200" and host.probed is not None
    assert [h.name for h in store.hosts()] == ["gpu1"]


def test_deleting_history_is_refused_archiving_keeps_it(store: LabStore) -> None:
    jobs = lab(store)
    store.add_tenant("carol")
    store.add_dataset("unused", "/u", "hu", manifest={}, stats={})
    store.add_host("gpu1", "gpu1.lab")
    finish(store, task_for(jobs[0], ARMS[0], "t1"), 0.8)

    with pytest.raises(StoreError, match=r"tenant 'alice' has history \(1 jobs, 1 tasks, 1 observations\).*Archive"):
        store.delete_tenant("alice")
    with pytest.raises(StoreError, match=r"dataset 'digits' has history \(2 jobs\)"):
        store.delete_dataset("digits")
    store.delete_tenant("carol")
    store.delete_dataset("unused")
    store.delete_host("gpu1")
    assert [t.name for t in store.tenants()] == ["alice", "bob"]

    store.archive_tenant("alice")
    store.archive_dataset("digits")
    assert [t.name for t in store.tenants()] == ["bob"]
    assert [t.name for t in store.tenants(include_archived=True)] == ["alice", "bob"]
    assert store.datasets() == [] and store.datasets(include_archived=True)[0].archived is not None
    assert [t["name"] for t in store.status()["tenants"]] == ["bob"]
    assert len(store.observations(tenant="alice")) == 1  # history stays
    with pytest.raises(StoreError, match="tenant 'alice' is archived"):
        store.add_job("alice", "digits", ARMS, epochs=1, image_size=32)
    with pytest.raises(StoreError, match="unknown tenant 'carol'"):
        store.delete_tenant("carol")


# --- the live loop's writes ------------------------------------------------------------------------------------


def test_task_lifecycle_is_persisted(store: LabStore) -> None:
    job, _ = lab(store)
    task = task_for(job, ARMS[1], "t1", device="cuda:0")
    store.task_state(task, TaskState.QUEUED)
    assert store.task("t1").state is TaskState.QUEUED and store.task("t1").job == job.id
    store.task_state(task, TaskState.RUNNING)
    store.task_state(task, TaskState.RUNNING)  # re-persisting the current state is harmless
    store.task_location("t1", TaskLocation(folder="/tasks/t1", pid=4242))
    store.task_epoch("t1", EpochReport(2, 2, 0.91), "x" * 10000 + "epoch 2/2")
    running = store.task("t1")
    assert running.state is TaskState.RUNNING and running.worker_pid == 4242 and running.started is not None
    assert len(running.log_tail) == 4000 and running.log_tail.endswith("epoch 2/2")
    result = TaskResult("t1", job.tenant, ARMS[1], "cuda:0", TaskState.DONE, 0.93, 12.5, details={"peak_mb": 900})
    store.record_result(result, Observation(job.tenant, ARMS[1], 0.93, 12.5, time=77.0))
    done = store.task("t1")
    assert done.state is TaskState.DONE and done.cost == 12.5 and done.details == {"peak_mb": 900}
    assert done.ended >= done.started
    assert store.observations() == [Observation("alice", ARMS[1], 0.93, 12.5, 77.0)]
    assert store.observations(job=job.id) == store.observations(tenant="alice")
    assert store.used_seconds() == {"alice": 12.5}


def test_epochs_are_kept_per_attempt_and_a_new_attempt_draws_its_own_curve(store: LabStore) -> None:
    job, _ = lab(store)
    task = task_for(job, ARMS[1], "t1")
    store.task_state(task, TaskState.RUNNING)
    for epoch, accuracy in ((1, 0.5), (2, 0.6), (2, 0.65)):  # epoch 2 read again (a re-attached run): replaced
        store.task_epoch("t1", EpochReport(epoch, 3, accuracy, loss=1.0 / epoch, images_per_second=900.0), "line")
    assert [(e.epoch, e.val_accuracy) for e in store.epoch_curves(["t1"])["t1"]] == [(1, 0.5), (2, 0.65)]
    store.recover()  # the run crashed: the task is queued again for attempt 2
    store.task_state(dataclasses.replace(task, attempt=2), TaskState.RUNNING)
    assert store.epoch_curves(["t1"]) == {}  # the first attempt's epochs are not the new one's
    store.task_epoch("t1", EpochReport(1, 3, 0.55), "line")
    assert store.epoch_curves(["t1"]) == {"t1": [EpochReport(1, 3, 0.55)]}
    with pytest.raises(StoreError, match="unknown task"):
        store.task_epoch("nope", EpochReport(1, 3, 0.5), "line")
    with pytest.raises(StoreError, match="val_accuracy"):  # an accuracy outside [0, 1] is a bug, never stored
        store.task_epoch("t1", EpochReport(2, 3, 1.5), "line")


def test_illegal_transitions_are_refused(store: LabStore) -> None:
    job, _ = lab(store)
    task = task_for(job, ARMS[0], "t1")
    with pytest.raises(StoreError, match="through record_result"):
        store.task_state(task, TaskState.DONE)
    store.task_state(task, TaskState.RUNNING)
    with pytest.raises(StoreError, match="cannot go from running to queued"):
        store.task_state(task, TaskState.QUEUED)
    with pytest.raises(StoreError, match="unknown task"):
        store.record_result(TaskResult("nope", "alice", ARMS[0], "cpu", TaskState.FAILED), None)
    with pytest.raises(StoreError, match="unknown tenant 'zed'"):
        store.task_state(Task("t2", "zed", ARMS[0], "cpu"), TaskState.RUNNING)
    with pytest.raises(StoreError, match="observation goes with a done task"):
        store.record_result(TaskResult("t1", "alice", ARMS[0], "cpu", TaskState.DONE, 0.5), None)


def test_a_task_yields_one_observation(store: LabStore) -> None:
    job, _ = lab(store)
    task = task_for(job, ARMS[0], "t1")
    finish(store, task, 0.7)
    result = TaskResult("t1", "alice", ARMS[0], "cpu", TaskState.DONE, 0.71, 3.0)
    with pytest.raises(StoreError, match="already ended"):
        store.record_result(result, Observation("alice", ARMS[0], 0.71, 3.0, 9.0))
    assert [o.quality for o in store.observations()] == [0.7]
    # The constraint itself, below the API: a second row for the same task cannot exist.
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        store._conn.execute("INSERT INTO observations (task_id, job, tenant, arm, arm_index, quality, cost, time) "
                            "VALUES ('t1', 1, 'alice', 'resnet18', 0, 0.9, 1, 1)")


def test_result_and_observation_are_atomic(store: LabStore) -> None:
    job, _ = lab(store)
    task = task_for(job, ARMS[0], "t1")
    store.task_state(task, TaskState.RUNNING)
    result = TaskResult("t1", "alice", ARMS[0], "cpu", TaskState.DONE, 0.7, 3.0)
    with pytest.raises(StoreError, match="observation is for bob/resnet18"):
        store.record_result(result, Observation("bob", ARMS[0], 0.7, 3.0, 1.0))
    with pytest.raises(StoreError, match="inconsistent change"):  # quality outside [0, 1]: CHECK constraint
        store.record_result(result, Observation("alice", ARMS[0], 1.7, 3.0, 1.0))
    assert store.task("t1").state is TaskState.RUNNING and store.observations() == []
    store.record_result(result, Observation("alice", ARMS[0], 0.7, 3.0, 1.0))
    assert store.task("t1").state is TaskState.DONE and len(store.observations()) == 1


def test_cancellation_reported_twice_is_recorded_once(store: LabStore) -> None:
    job, _ = lab(store)
    task = task_for(job, ARMS[0], "t1")
    store.task_state(task, TaskState.RUNNING)
    store.task_state(task, TaskState.CANCELLED)  # the loop persists its intent first ...
    store.record_result(TaskResult("t1", "alice", ARMS[0], "cpu", TaskState.CANCELLED, cost=4.0), None)  # ... then the report
    assert store.task("t1").state is TaskState.CANCELLED and store.task("t1").cost == 4.0
    with pytest.raises(StoreError, match="already ended"):
        store.record_result(TaskResult("t1", "alice", ARMS[0], "cpu", TaskState.FAILED), None)


def test_decisions_keep_their_explanation(store: LabStore) -> None:
    lab(store)
    scores = (TenantScore("alice", "vgg11", 0.8, 0.1, 0.95, 30.0, 1.0, 0.7),
              TenantScore("bob", "resnet18", 0.6, 0.05, 0.7, 10.0, 2.0, 0.55))
    decision = Decision(time=3.0, device="cuda:0", tenant="alice", arm=ARMS[2], policy="ease-ei", scores=scores)
    store.record_decision(decision)
    store.record_decision(Decision(4.0, "cuda:1", "bob", ARMS[0], "ease-ei", scores))
    latest = store.decisions()
    assert [d.tenant for d in latest] == ["bob", "alice"]
    assert latest[1] == decision and "served alice with vgg11" in latest[1].explain()
    assert store.decisions(tenant="alice", limit=5) == [decision]


def test_recover_requeues_interrupted_tasks(store: LabStore) -> None:
    job, other = lab(store)
    finish(store, task_for(job, ARMS[0], "done"), 0.6)
    running = task_for(job, ARMS[1], "running")
    store.task_state(running, TaskState.RUNNING)
    store.task_location("running", TaskLocation(folder="/scratch/easeml/running", pid=999999))
    store.task_state(task_for(other, ARMS[2], "queued"), TaskState.QUEUED)

    recovered = {r.task_id: r for r in store.recover()}
    assert set(recovered) == {"running", "queued"}
    assert store.tasks(state=TaskState.RUNNING) == []
    r = recovered["running"]
    assert r.state is TaskState.QUEUED and r.attempt == 2 and r.error.startswith("interrupted")
    assert r.worker_pid == 999999 and r.remote_dir == "/scratch/easeml/running"  # to kill an orphan / re-attach
    assert recovered["queued"].attempt == 1
    assert store.recover() == list(recovered.values())  # idempotent

    again = r.to_task()
    assert again.attempt == 2 and again.config[JOB_KEY] == job.id
    store.task_state(again, TaskState.RUNNING)
    assert store.task("running").worker_pid is None  # the interrupted attempt's pid no longer applies
    store.record_result(TaskResult("running", "alice", ARMS[1], "cpu", TaskState.DONE, 0.9, 1.0),
                        Observation("alice", ARMS[1], 0.9, 1.0, 2.0))
    assert sorted(o.quality for o in store.observations()) == [0.6, 0.9]


def test_a_task_records_where_it_runs_and_recover_keeps_the_adopted_ones_running(store: LabStore) -> None:
    job, _ = lab(store)
    adopted, gone = task_for(job, ARMS[0], "adopted"), task_for(job, ARMS[1], "gone")
    for task in (adopted, gone):
        store.task_state(task, TaskState.RUNNING)
    store.task_location("adopted", TaskLocation(folder="/lab/tasks/adopted-1", pid=4242))
    assert store.task("adopted").location == TaskLocation(folder="/lab/tasks/adopted-1", host=None, pid=4242)
    assert store.task("gone").location is None
    with pytest.raises(StoreError, match="unknown task 'nope'"):
        store.task_location("nope", TaskLocation(folder="/x"))
    assert [r.task_id for r in store.recover(adopted={"adopted"})] == ["gone"]
    assert [r.task_id for r in store.tasks(state=TaskState.RUNNING)] == ["adopted"]
    assert store.task("adopted").attempt == 1 and store.task("gone").attempt == 2


def test_recover_after_a_killed_process(db_path: Path) -> None:
    """A real process persists RUNNING, records one result, then dies by SIGKILL mid-run."""
    with LabStore(db_path) as store:
        job = lab(store)[0]
    script = textwrap.dedent(f"""
        import os, signal
        from easeml_gui.engine.types import Arm, Observation, Task, TaskResult, TaskState
        from easeml_gui.store import LabStore
        store = LabStore({str(db_path)!r})
        job = store.job({job.id})
        for i, arm in enumerate(job.arms):
            task = Task(f"t{{i}}", job.tenant, arm, "cpu", config=job.to_job().config)
            store.task_state(task, TaskState.RUNNING)
            if i == 1:
                os.kill(os.getpid(), signal.SIGKILL)
            store.record_result(TaskResult(task.task_id, job.tenant, arm, "cpu", TaskState.DONE, 0.5, 1.0),
                                Observation(job.tenant, arm, 0.5, 1.0, 1.0))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    with LabStore(db_path) as store:
        assert [t.task_id for t in store.tasks(state=TaskState.RUNNING)] == ["t1"]
        assert [r.task_id for r in store.recover()] == ["t1"]
        assert store.tasks(state=TaskState.RUNNING) == []
        assert len(store.observations()) == 1 and store.task("t0").state is TaskState.DONE


# --- queries ---------------------------------------------------------------------------------------------------


def test_on_equal_validation_accuracy_the_cheaper_model_is_the_best(store: LabStore) -> None:
    job, _ = lab(store)
    finish(store, task_for(job, ARMS[0], "costly"), 0.9, cost=233.0)
    finish(store, task_for(job, ARMS[1], "cheap"), 0.9, cost=4.0)
    finish(store, task_for(job, ARMS[2], "worse"), 0.8, cost=1.0)
    [alice] = [t for t in store.status()["tenants"] if t["name"] == "alice"]
    assert (alice["best_model"], alice["best_accuracy"]) == (ARMS[1].name, 0.9)


def test_the_delivered_model_is_the_cheapest_within_one_standard_error_of_the_best(store: LabStore) -> None:
    """engine/delivery.py: on 200 validation images one image is noise; the refit does not count as its price."""
    job, bob = lab(store)
    finish(store, task_for(job, ARMS[1], "small"), 0.730, cost=334.0, val_images=200, folds=1, refit_seconds=137.0,
           test_accuracy=0.830)
    finish(store, task_for(job, ARMS[0], "large"), 0.735, cost=397.0, val_images=200, folds=1, test_accuracy=0.760)
    [alice] = [t for t in store.status()["tenants"] if t["name"] == "alice"]
    assert (alice["best_model"], alice["best_accuracy"], alice["best_test_accuracy"]) == (ARMS[1].name, 0.730, 0.830)
    assert store.delivered_models()["alice"].task_id == "small"
    # the regret is the search's: against the best accuracy reached, not the delivered model's
    assert store.status({"alice": 0.8, "bob": 0.0})["global_regret_estimate"] == pytest.approx((0.8 - 0.735) / 2)
    # 40 validation images in 4 folds are 160 scored: a lead of .03 at .98 (se .011) is no longer noise
    finish(store, task_for(bob, ARMS[1], "b-small"), 0.95, cost=5.0, val_images=40, folds=4)
    finish(store, task_for(bob, ARMS[0], "b-large"), 0.98, cost=500.0, val_images=40, folds=4)
    [bob_row] = [t for t in store.status()["tenants"] if t["name"] == "bob"]
    assert bob_row["best_model"] == ARMS[0].name


def test_status_has_exactly_the_cli_shape(store: LabStore, db_path: Path) -> None:
    job_a, job_b = lab(store)
    store.add_tenant("carol", weight=2.0)
    finish(store, task_for(job_a, ARMS[0], "a0"), 0.6)
    finish(store, task_for(job_a, ARMS[1], "a1"), 0.8)
    finish(store, task_for(job_a, ARMS[2], "a2"), None)
    finish(store, task_for(job_b, ARMS[2], "b2"), 0.5)
    store.task_state(task_for(job_b, ARMS[0], "b0"), TaskState.RUNNING)
    store.task_state(task_for(job_b, ARMS[1], "b1"), TaskState.QUEUED)
    store.update_tenant("bob", paused=True)

    with LabStore.open_readonly(db_path) as reader:
        status = reader.status()
    assert json.loads(json.dumps(status)) == status
    assert set(status) == {"tenants", "tasks", "global_regret_estimate"}
    assert status["tasks"] == {"queued": 1, "running": 1, "done": 3, "failed": 1}
    assert status["tenants"] == [
        {"name": "alice", "weight": 1.0, "tasks_done": 2, "best_accuracy": 0.8, "best_model": "mobilenet_v3_small",
         "best_test_accuracy": None, "best_members": [{"model": "mobilenet_v3_small", "task_id": "a1", "weight": 1.0}]},
        {"name": "bob", "weight": 1.0, "tasks_done": 1, "best_accuracy": 0.5, "best_model": "vgg11",
         "best_test_accuracy": None, "best_members": [{"model": "vgg11", "task_id": "b2", "weight": 1.0}]},
        {"name": "carol", "weight": 2.0, "tasks_done": 0, "best_accuracy": None, "best_model": None,
         "best_test_accuracy": None, "best_members": []},
    ]
    # Without bounds U_i = 1: (1*(1-.8) + 1*(1-.5) + 2*(1-0)) / 4
    assert status["global_regret_estimate"] == pytest.approx((0.2 + 0.5 + 2.0) / 4)
    bounds = {"alice": 0.85, "bob": 0.4, "carol": 0.9}  # bob's bound below his best: regret 0, never negative
    assert store.status(bounds)["global_regret_estimate"] == pytest.approx((0.05 + 0.0 + 1.8) / 4)
    assert store.status(lambda name: 1.5)["global_regret_estimate"] == pytest.approx((0.2 + 0.5 + 2.0) / 4)


def test_status_of_an_empty_lab(store: LabStore) -> None:
    assert store.status() == {"tenants": [], "tasks": {"queued": 0, "running": 0, "done": 0, "failed": 0},
                              "global_regret_estimate": 0.0}


def test_history_matrix_from_finished_jobs(store: LabStore) -> None:
    job_a, job_b = lab(store)  # both on "digits"
    store.add_dataset("digits-copy", "/copy", "h-digits", manifest={}, stats={})  # same content, another name
    store.add_dataset("flowers", "/f", "h-flowers", manifest={}, stats={})
    store.add_tenant("carol")
    job_c = store.add_job("carol", "digits-copy", ARMS, epochs=1, image_size=32)
    store.add_tenant("dave")
    job_d = store.add_job("dave", "flowers", ARMS, epochs=1, image_size=32)
    store.add_tenant("erin")
    job_e = store.add_job("erin", "flowers", ARMS, epochs=1, image_size=32)  # stays active: not in the history

    finish(store, task_for(job_a, ARMS[0], "a0", ), 0.6, cost=10)
    finish(store, task_for(job_b, ARMS[0], "b0"), 0.7, cost=20)
    finish(store, task_for(job_c, ARMS[0], "c0"), 0.65, cost=30)
    finish(store, task_for(job_c, ARMS[2], "c2"), 0.9, cost=5)
    finish(store, task_for(job_d, ARMS[1], "d1"), 0.4, cost=8)
    finish(store, task_for(job_e, ARMS[1], "e1"), 0.99, cost=1)
    for job in (job_a, job_b, job_c, job_d):
        store.set_job_state(job.id, JobState.DONE)

    h = store.history_matrix()
    assert h.datasets == ("digits", "flowers")
    assert h.arms == ("resnet18", "mobilenet_v3_small", "vgg11")
    np.testing.assert_array_equal(h.quality, [[0.7, np.nan, 0.9], [np.nan, 0.4, np.nan]])
    np.testing.assert_array_equal(h.cost, [[20.0, np.nan, 5.0], [np.nan, 8.0, np.nan]])


def test_history_matrix_is_empty_without_finished_jobs(store: LabStore) -> None:
    h = store.history_matrix()
    assert h.datasets == () and h.arms == () and h.quality.shape == (0, 0)


def test_tasks_by_state_and_tenant(store: LabStore) -> None:
    job_a, job_b = lab(store)
    finish(store, task_for(job_a, ARMS[0], "a0"), 0.6)
    finish(store, task_for(job_b, ARMS[0], "b0"), None)
    store.task_state(task_for(job_b, ARMS[1], "b1"), TaskState.QUEUED)
    assert [t.task_id for t in store.tasks()] == ["a0", "b0", "b1"]
    assert [t.task_id for t in store.tasks(state=TaskState.FAILED)] == ["b0"]
    assert [t.task_id for t in store.tasks(tenant="bob")] == ["b0", "b1"]
    assert store.task("b0").error == "out of memory"


def test_status_counts_follow_every_transition(store: LabStore) -> None:
    """status() reads counters kept by triggers; they must equal a count of the tasks after any sequence."""
    job_a, job_b = lab(store)
    rng = np.random.default_rng(3)
    for i in range(60):
        job, arm = (job_a, job_b)[i % 2], ARMS[i % 3]
        task = task_for(job, arm, f"t{i}")
        step = rng.integers(5)
        if step == 0:
            store.task_state(task, TaskState.QUEUED)
        elif step == 1:
            store.task_state(task, TaskState.RUNNING)
        elif step == 2:
            finish(store, task, float(rng.uniform()))
        elif step == 3:
            finish(store, task, None)
        else:
            store.task_state(task, TaskState.RUNNING)
            store.task_state(task, TaskState.CANCELLED)
        if i == 40:
            store.recover()
    counted = dict(store._conn.execute("SELECT state, count(*) FROM tasks GROUP BY state").fetchall())
    status = store.status()
    assert status["tasks"] == {s: counted.get(s, 0) for s in ("queued", "running", "done", "failed")}
    per_tenant = dict(store._conn.execute("SELECT tenant, count(*) FROM tasks WHERE state = 'done' GROUP BY tenant"))
    assert {t["name"]: t["tasks_done"] for t in status["tenants"]} == {n: per_tenant.get(n, 0) for n in ("alice", "bob")}


def test_values_json_lacks_are_stored_as_text(store: LabStore) -> None:
    job, _ = lab(store)
    task = Task("t1", "alice", ARMS[0], "cpu", config={JOB_KEY: job.id, "dataset_path": Path("/data/digits")})
    store.task_state(task, TaskState.RUNNING)
    assert store.task("t1").config["dataset_path"] == "/data/digits"


def test_a_decision_with_unservable_tenants_round_trips_with_nan_scores(tmp_path):
    import math

    from easeml_gui.engine.types import Arm, Decision, TenantScore

    with LabStore(tmp_path / "lab.sqlite") as store:
        store.add_tenant("a")
        store.add_tenant("b")
        scores = (
            TenantScore("a", "m1", 0.8, 0.1, 1.5, 10.0, 1.0, 0.5),
            TenantScore("b", "", math.nan, math.nan, -math.inf, math.nan, 1.0, 0.7),  # paused: no proposal
        )
        store.record_decision(Decision(1.0, "cpu", "a", Arm("m1", 0), "default", scores))
        (back,) = store.decisions()
        assert back.scores[0] == scores[0]
        assert math.isnan(back.scores[1].mean) and math.isnan(back.scores[1].acquisition)


def test_a_version_3_store_gains_the_believed_regret_and_its_old_decisions_read_none(
        db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scores = (TenantScore("alice", "vgg11", 0.8, 0.1, 0.95, 30.0, 1.0, 0.7),)
    with monkeypatch.context() as v3:
        v3.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:3])
        with LabStore(db_path) as store:
            lab(store)
            store._conn.execute(  # what record_decision wrote before v4
                "INSERT INTO decisions (time, device, tenant, arm, arm_index, policy, explanation, task_id) "
                "VALUES (3.0, 'cuda:0', 'alice', 'vgg11', 2, 'ease-ei', ?, 't1')", (scores_to_json(scores),))
            assert store._conn.execute("PRAGMA user_version").fetchone()[0] == 3
    with LabStore(db_path) as store:  # opening for writing upgrades the file
        assert store._conn.execute("PRAGMA user_version").fetchone()[0] == schema_version() >= 4
        store.record_decision(Decision(4.0, "cuda:1", "bob", ARMS[0], "ease-ei", scores), "t2", 0.25)
    with LabStore.open_readonly(db_path) as reader:
        assert reader.believed_regret() == [(3.0, None), (4.0, 0.25)]
        assert [d.tenant for d in reader.decisions()] == ["bob", "alice"]  # the old decision reads as before
