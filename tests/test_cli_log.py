"""`easeml-gui log` on a real store: each decision's prediction joined with its task's outcome, as JSON (the CLI.md
contract) and as text; decisions stored before the task link existed (schema v1) keep showing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_runner import run_cli  # noqa: F401 (a fixture)
from easeml_gui.engine.types import Arm, Decision, Observation, Task, TaskResult, TaskState, TenantScore
from easeml_gui.store import LabStore, schema
from easeml_gui.store.records import scores_to_json

ARMS = (Arm("resnet18", 0), Arm("vgg11_bn", 1), Arm("mobilenet_v3_small", 2))
KEYS = {"task_id", "time", "device", "host", "tenant", "model", "predicted_quality", "predicted_sigma",
        "predicted_seconds", "state", "accuracy", "test_accuracy", "seconds"}


class Clock:
    """The store's clock, set by the test: tasks are created when the test says."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "lab.sqlite"


def register(store: LabStore, tenants=("alice", "bob")) -> dict[str, object]:
    store.add_dataset("digits", "/data/digits", "h-digits", manifest={"files": 3},
                      stats={"classes": ["0", "1"], "counts": {"0": 2, "1": 1}, "image_sizes": [[8, 8]], "channels": 1})
    jobs = {}
    for name in tenants:
        store.add_tenant(name)
        jobs[name] = store.add_job(name, "digits", ARMS, epochs=2, image_size=32, seed=7)
    return jobs


def decision(time: float, tenant: str, arm: Arm, device: str = "cuda:0") -> Decision:
    """A decision whose scores expect of the served tenant 0.90, 0.91 or 0.92 (by arm) +/- 0.03 in 42, 43 or 44 s."""
    scores = tuple(
        TenantScore(name, arm.name, (0.9, 0.91, 0.92)[arm.index], 0.03, 0.5, 42.0 + arm.index, 1.0, 0.0)
        if name == tenant
        else TenantScore(name, "resnet18", float("nan"), float("nan"), float("-inf"), 10.0, 1.0, 0.0)
        for name in ("alice", "bob")
    )
    return Decision(time, device, tenant, arm, "ease-ei-fair", scores)


def start(store: LabStore, clock: Clock, job, arm: Arm, task_id: str, at: float, device: str = "cuda:0") -> Task:
    clock.t = at
    task = Task(task_id, job.tenant, arm, device, seed=job.seed, config=job.to_job().config)
    store.task_state(task, TaskState.RUNNING)
    return task


def end(store: LabStore, task: Task, state: TaskState, cost: float, accuracy: float | None = None,
        details: dict | None = None, error: str | None = None) -> None:
    observation = Observation(task.tenant, task.arm, accuracy, cost, 0.0) if state is TaskState.DONE else None
    store.record_result(TaskResult(task.task_id, task.tenant, task.arm, task.device, state, accuracy, cost, error,
                                   details or {}), observation)


def a_lab(db: Path) -> None:
    """Four decisions: one done (with a test accuracy), one failed, one running, one whose task never came to be
    (a crash between the two writes); then the restarted run's decision, which reuses that task id."""
    clock = Clock()
    with LabStore(db, clock=clock) as store:
        jobs = register(store)
        store.record_decision(decision(100.0, "alice", ARMS[0]), "t000001")
        done = start(store, clock, jobs["alice"], ARMS[0], "t000001", 100.5)
        clock.t = 141.0
        end(store, done, TaskState.DONE, 40.2, 0.934, {"accuracy": 0.934, "test_accuracy": 0.921})
        store.record_decision(decision(101.0, "bob", ARMS[1], "cuda:1"), "t000002")
        failed = start(store, clock, jobs["bob"], ARMS[1], "t000002", 101.5, "cuda:1")
        end(store, failed, TaskState.FAILED, 3.0, error="Traceback (most recent call last):\n  ...\n"
                                                        "RuntimeError: CUDA out of memory")
        store.record_decision(decision(150.0, "alice", ARMS[2]), "t000003")
        start(store, clock, jobs["alice"], ARMS[2], "t000003", 150.5)
        store.record_decision(decision(160.0, "bob", ARMS[0], "cuda:1"), "t000004")  # killed here
        store.record_decision(decision(200.0, "bob", ARMS[2], "cuda:1"), "t000004")  # the restart's decision
        start(store, clock, jobs["bob"], ARMS[2], "t000004", 200.5, "cuda:1")


def test_json_joins_each_decision_with_its_tasks_outcome(db: Path, run_cli) -> None:
    a_lab(db)
    result = run_cli("--db", db, "log", "--json")
    assert result.returncode == 0, result.stderr
    log = json.loads(result.stdout)
    assert all(set(entry) == KEYS for entry in log)
    assert log == [
        {"task_id": "t000001", "time": 100.0, "device": "cuda:0", "host": "local", "tenant": "alice",
         "model": "resnet18", "predicted_quality": 0.9, "predicted_sigma": 0.03, "predicted_seconds": 42.0,
         "state": "done", "accuracy": 0.934, "test_accuracy": 0.921, "seconds": 40.2},
        {"task_id": "t000002", "time": 101.0, "device": "cuda:1", "host": "local", "tenant": "bob",
         "model": "vgg11_bn", "predicted_quality": 0.91, "predicted_sigma": 0.03, "predicted_seconds": 43.0,
         "state": "failed", "accuracy": None, "test_accuracy": None, "seconds": 3.0},
        {"task_id": "t000003", "time": 150.0, "device": "cuda:0", "host": "local", "tenant": "alice",
         "model": "mobilenet_v3_small", "predicted_quality": 0.92, "predicted_sigma": 0.03, "predicted_seconds": 44.0,
         "state": "running", "accuracy": None, "test_accuracy": None, "seconds": None},
        {"task_id": None, "time": 160.0, "device": "cuda:1", "host": None, "tenant": "bob", "model": "resnet18",
         "predicted_quality": 0.9, "predicted_sigma": 0.03, "predicted_seconds": 42.0,
         "state": None, "accuracy": None, "test_accuracy": None, "seconds": None},
        {"task_id": "t000004", "time": 200.0, "device": "cuda:1", "host": "local", "tenant": "bob",
         "model": "mobilenet_v3_small", "predicted_quality": 0.92, "predicted_sigma": 0.03, "predicted_seconds": 44.0,
         "state": "running", "accuracy": None, "test_accuracy": None, "seconds": None},
    ]


def test_text_has_a_readable_line_per_decision(db: Path, run_cli) -> None:
    a_lab(db)
    result = run_cli("--db", db, "log")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 5 + 2  # then a blank line and what each tenant with a trained model receives
    assert lines[5:] == ["", "alice receives resnet18 (task t000001): validation 0.934, test 0.921"]
    assert lines[0].endswith("t000001  alice/resnet18            predicted 0.900 +/- 0.030 in ~42 s -> done: val "
                             "0.934, test 0.921, 40 s")
    assert lines[1].endswith("bob/vgg11_bn              predicted 0.910 +/- 0.030 in ~43 s -> failed: RuntimeError: "
                             "CUDA out of memory")
    assert lines[2].endswith("-> running") and " cuda:0 " in lines[2]
    assert lines[3].endswith("bob/resnet18              predicted 0.900 +/- 0.030 in ~42 s -> no task recorded")


def test_tenant_filter_and_its_errors(db: Path, run_cli) -> None:
    a_lab(db)
    alice = json.loads(run_cli("--db", db, "log", "--json", "--tenant", "alice").stdout)
    assert [e["task_id"] for e in alice] == ["t000001", "t000003"]
    unknown = run_cli("--db", db, "log", "--tenant", "zed")
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert "unknown tenant 'zed'" in unknown.stderr and "alice, bob" in unknown.stderr


def test_no_decisions_yet_says_so(db: Path, run_cli) -> None:
    with LabStore(db) as store:
        register(store, ("alice",))
    result = run_cli("--db", db, "log")
    assert result.returncode == 0 and "no decisions yet" in result.stdout and "easeml-gui run" in result.stdout
    assert "no decisions for tenant alice yet" in run_cli("--db", db, "log", "--tenant", "alice").stdout
    assert json.loads(run_cli("--db", db, "log", "--json").stdout) == []
    missing = run_cli("--db", db.with_name("none.sqlite"), "log")
    assert missing.returncode == 1 and "no lab store" in missing.stderr


def test_reads_beside_a_writer_in_the_middle_of_a_transaction(db: Path, run_cli) -> None:
    a_lab(db)
    with LabStore(db) as store, store._write():
        store.add_tenant("carol")  # uncommitted: the log reads the last committed state and does not wait
        result = run_cli("--db", db, "log", "--json")
    assert result.returncode == 0 and len(json.loads(result.stdout)) == 5


def test_a_version_1_store_keeps_its_decisions_and_links_them_to_their_tasks(
        db: Path, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    with monkeypatch.context() as v1:
        v1.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
        with LabStore(db, clock=clock) as store:
            jobs = register(store)

            def decided(d: Decision) -> None:  # what record_decision wrote before v2
                store._conn.execute(
                    "INSERT INTO decisions (time, device, tenant, arm, arm_index, policy, explanation) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (d.time, d.device, d.tenant, d.arm.name, d.arm.index, d.policy, scores_to_json(d.scores)))

            decided(decision(100.0, "alice", ARMS[0]))
            done = start(store, clock, jobs["alice"], ARMS[0], "t000001", 100.5)
            clock.t = 130.0
            end(store, done, TaskState.DONE, 29.0, 0.8, {"accuracy": 0.8})
            decided(decision(140.0, "bob", ARMS[0]))  # killed before its task's first row
            decided(decision(150.0, "bob", ARMS[0]))  # the restart decides the same again
            again = start(store, clock, jobs["bob"], ARMS[0], "t000002", 150.5)
            clock.t = 160.0
            end(store, again, TaskState.CANCELLED, 9.5)
            assert store._conn.execute("PRAGMA user_version").fetchone()[0] == 1
    with LabStore(db, clock=clock) as store:  # any command that writes upgrades the store
        assert store._conn.execute("PRAGMA user_version").fetchone()[0] == schema.schema_version()  # the latest
    log = json.loads(run_cli("--db", db, "log", "--json").stdout)
    assert [(e["tenant"], e["task_id"], e["state"], e["accuracy"], e["seconds"]) for e in log] == [
        ("alice", "t000001", "done", 0.8, 29.0),
        ("bob", None, None, None, None),
        ("bob", "t000002", "cancelled", None, 9.5),
    ]
    assert log[0]["predicted_quality"] == 0.9 and log[0]["predicted_seconds"] == 42.0
    text = run_cli("--db", db, "log").stdout.splitlines()
    assert text[0].endswith("-> done: val 0.800, 29 s") and text[2].endswith("-> cancelled")
