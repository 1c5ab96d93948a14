"""Jobs from the command line and in a running lab: `job list` (its counts and JSON), `job cancel` (queued tasks
dropped, running ones cancelled by the run, history kept) and `job remove` (only without history), against a real
SQLite file; a real `run` training on digits picks a cancellation up."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_cli  # noqa: F401 (a fixture)

from easeml_gui.engine.simulate import SimulatedExecutor
from easeml_gui.engine.types import MAX_RETRIES, RETRYABLE, Arm, Observation, Task, TaskResult, TaskState
from easeml_gui.lab.runs import run_lock
from easeml_gui.live_lab import LiveLab
from easeml_gui.store import JOB_KEY, JobState, LabStore
from easeml_gui.training.digits import export_digits

ARMS = tuple(Arm(f"m{k}", k) for k in range(4))
LIST_FIELDS = {"id", "tenant", "dataset", "state", "models_done", "models_left", "models_failed", "device_seconds",
               "best_accuracy"}


@pytest.fixture
def cli(run_cli):
    return lambda db, *args: run_cli("--db", db, *args)


def make_lab(path: Path, tenants=("ana", "ben")) -> LabStore:
    store = LabStore(path)
    for i, name in enumerate(tenants):
        store.add_dataset(f"{name}-data", f"/data/{name}", f"{i:064d}", manifest={}, stats={})
        store.add_tenant(name)
        store.add_job(name, f"{name}-data", ARMS, epochs=1, image_size=32)
    return store


def start(store: LabStore, task_id: str, tenant: str, arm: Arm, job: int) -> Task:
    task = Task(task_id, tenant, arm, "cpu", config={JOB_KEY: job})
    store.task_state(task, TaskState.RUNNING)
    return task


def end(store: LabStore, task: Task, state: TaskState, *, quality: float | None = None, cost: float = 1.0,
        details=None) -> None:
    result = TaskResult(task.task_id, task.tenant, task.arm, "cpu", state, quality, cost, details=details or {})
    observation = Observation(task.tenant, task.arm, quality, cost, 0.0) if state is TaskState.DONE else None
    store.record_result(result, observation)


def jobs_json(cli, db, *args) -> list[dict]:
    out = cli(db, "job", "list", "--json", *args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_job_list_counts_each_jobs_models_seconds_and_best(tmp_path, cli):
    db = tmp_path / "lab.sqlite"
    with make_lab(db) as store:
        end(store, start(store, "t1", "ana", ARMS[0], 1), TaskState.DONE, quality=0.8, cost=10.0)
        end(store, start(store, "t2", "ana", ARMS[1], 1), TaskState.DONE, quality=0.9, cost=5.0)
        end(store, start(store, "t3", "ana", ARMS[2], 1), TaskState.FAILED, cost=2.0)  # the model's fault: failed
        for n in range(MAX_RETRIES):  # a worker killed from outside: its model is tried again
            end(store, start(store, f"t4{n}", "ana", ARMS[3], 1), TaskState.FAILED, details={RETRYABLE: True})
        start(store, "t5", "ben", ARMS[0], 2)
    listed = jobs_json(cli, db)
    assert [set(job) >= LIST_FIELDS for job in listed] == [True, True]
    ana, ben = listed
    assert {k: ana[k] for k in LIST_FIELDS} == {
        "id": 1, "tenant": "ana", "dataset": "ana-data", "state": "active", "models_done": 2, "models_left": 1,
        "models_failed": 1, "device_seconds": 19.0, "best_accuracy": 0.9}
    assert {k: ben[k] for k in LIST_FIELDS} == {
        "id": 2, "tenant": "ben", "dataset": "ben-data", "state": "active", "models_done": 0, "models_left": 4,
        "models_failed": 0, "device_seconds": 0.0, "best_accuracy": None}
    assert ben["running"] == 1
    with LabStore(db) as store:  # one kill more than the retries: the model is retired, as the run retires it
        end(store, start(store, "t6", "ana", ARMS[3], 1), TaskState.FAILED, details={RETRYABLE: True})
    assert {k: jobs_json(cli, db)[0][k] for k in ("models_done", "models_left", "models_failed")} == {
        "models_done": 2, "models_left": 0, "models_failed": 2}


def test_job_list_filters_by_tenant_and_reads_as_a_table(tmp_path, cli):
    db = tmp_path / "lab.sqlite"
    make_lab(db).close()
    assert [job["tenant"] for job in jobs_json(cli, db, "--tenant", "ben")] == ["ben"]
    table = cli(db, "job", "list").stdout.splitlines()
    assert table[0].split() == ["id", "tenant", "dataset", "state", "done", "left", "failed", "running",
                                "device", "(h)", "best"]
    assert table[1].split() == ["1", "ana", "ana-data", "active", "0", "4", "0", "0", "0.00", "-"]
    unknown = cli(db, "job", "list", "--tenant", "cleo")
    assert unknown.returncode == 1 and "unknown tenant 'cleo'; known tenants: ana, ben" in unknown.stderr


def test_job_list_of_a_lab_without_jobs_says_how_to_add_one(tmp_path, cli):
    db = tmp_path / "lab.sqlite"
    make_lab(db, tenants=()).close()
    assert "no jobs yet; add one with `easeml-gui job add" in cli(db, "job", "list").stdout
    assert jobs_json(cli, db) == []


def test_cancel_without_a_run_drops_queued_tasks_and_keeps_the_history(tmp_path, cli):
    db = tmp_path / "lab.sqlite"
    with make_lab(db) as store:
        end(store, start(store, "t1", "ana", ARMS[0], 1), TaskState.DONE, quality=0.7, cost=3.0)
        start(store, "t2", "ana", ARMS[1], 1)
        store.recover()  # a crashed run's task, queued to run first
        start(store, "t3", "ana", ARMS[2], 1)  # left running by a run that detached from it
    out = cli(db, "job", "cancel", "1")
    assert out.returncode == 0, out.stderr
    assert "job 1 (ana on ana-data) cancelled" in out.stdout and "1 queued task(s) dropped" in out.stdout
    assert "1 task(s) an earlier run left running: the next `easeml-gui run` stops" in out.stdout
    with LabStore.open_readonly(db) as store:
        assert [(t.task_id, t.state) for t in store.tasks(tenant="ana")] == [
            ("t1", TaskState.DONE), ("t2", TaskState.CANCELLED), ("t3", TaskState.RUNNING)]
        assert [o.quality for o in store.observations(tenant="ana")] == [0.7]
        assert store.job(1).state is JobState.CANCELLED and store.job(1).ended is not None
        assert store.job(2).state is JobState.ACTIVE
    ana = jobs_json(cli, db)[0]
    assert (ana["state"], ana["models_done"], ana["best_accuracy"], ana["device_seconds"]) == ("cancelled", 1, 0.7, 3.0)


def test_a_job_that_ended_or_does_not_exist_is_not_cancelled(tmp_path, cli):
    db = tmp_path / "lab.sqlite"
    with make_lab(db) as store:
        store.set_job_state(2, JobState.DONE)
    assert cli(db, "job", "cancel", "1").returncode == 0
    before = jobs_json(cli, db)
    for job_id, message in [("1", "job 1 (ana on ana-data) has ended already: it is cancelled; nothing was changed"),
                            ("2", "job 2 (ben on ben-data) has ended already: it is done; nothing was changed"),
                            ("9", "unknown job 9; list the jobs with `easeml-gui job list`")]:
        out = cli(db, "job", "cancel", job_id)
        assert out.returncode == 1 and message in out.stderr and "Traceback" not in out.stderr
    assert jobs_json(cli, db) == before
    assert cli(db, "job", "cancel", "one").returncode == 2


def test_remove_deletes_only_a_job_that_never_started_a_task(tmp_path, cli):
    db = tmp_path / "lab.sqlite"
    with make_lab(db) as store:
        end(store, start(store, "t1", "ana", ARMS[0], 1), TaskState.FAILED)
    refused = cli(db, "job", "remove", "1")
    assert refused.returncode == 1
    assert "job 1 has history (1 task(s)); removing it would lose that" in refused.stderr
    assert "`easeml-gui job cancel 1`" in refused.stderr
    unknown = cli(db, "job", "remove", "9")
    assert unknown.returncode == 1 and "unknown job 9" in unknown.stderr
    removed = cli(db, "job", "remove", "2")
    assert removed.returncode == 0 and "job 2 (ben on ben-data) removed" in removed.stdout
    assert [job["id"] for job in jobs_json(cli, db)] == [1]


def test_remove_waits_for_a_running_lab_which_may_start_the_job(tmp_path, cli):
    db = tmp_path / "lab.sqlite"
    make_lab(db).close()
    with run_lock(db.absolute()):
        out = cli(db, "job", "remove", "2")
    assert out.returncode == 1 and "may start job 2 at any moment" in out.stderr
    assert "easeml-gui job cancel 2" in out.stderr
    assert [job["id"] for job in jobs_json(cli, db)] == [1, 2]


def test_a_running_lab_drops_a_cancelled_jobs_backlog_and_serves_the_other_tenants(tmp_path):
    quality = {name: np.linspace(0.5, 0.8, 64) for name in ("ana", "ben")}
    with make_lab(tmp_path / "lab.sqlite") as store:
        first = LiveLab(store, SimulatedExecutor(quality, None, 2))
        first.run(max_tasks=2)
        first.scheduler.fill_devices()  # two tasks start ... and the run dies before they end
        lab = LiveLab(store, SimulatedExecutor(quality, None, 2))  # the next run: they are its backlog
        queued = [task.task_id for task in lab.scheduler.backlog if task.tenant == "ana"]
        assert queued
        cancelled = store.cancel_job(1, drop_queued=lambda: False)  # a run holds the lab: its backlog is its own
        assert cancelled.queued == len(queued) and not cancelled.dropped_now
        before = {t.task_id for t in store.tasks(tenant="ana")}
        lab.refresh()
        assert all(task.tenant != "ana" for task in lab.scheduler.backlog)
        lab.run()
        ana = {t.task_id: t.state for t in store.tasks(tenant="ana")}
        assert set(ana) == before  # nothing new started for the cancelled job
        assert all(ana[task_id] is TaskState.CANCELLED for task_id in queued)
        assert store.job(1).state is JobState.CANCELLED  # never marked done
        assert store.job(2).state is JobState.DONE


def test_a_running_lab_cancels_the_running_tasks_of_a_cancelled_job_and_ends_when_no_work_is_left(tmp_path):
    quality = {name: np.linspace(0.5, 0.8, 64) for name in ("ana",)}
    with make_lab(tmp_path / "lab.sqlite", tenants=("ana",)) as store:
        lab = LiveLab(store, SimulatedExecutor(quality, None, 2))
        lab.scheduler.fill_devices()
        running = sorted(task.task_id for task in lab.executor.running())
        assert len(running) == 2
        store.cancel_job(1, drop_queued=lambda: False)
        lab.refresh()
        assert lab.run() == 0  # nothing ended done or failed: both cancelled, and nothing more to do
        assert [(t.task_id, t.state) for t in store.tasks()] == [(task_id, TaskState.CANCELLED) for task_id in running]


@pytest.fixture
def digits_lab(tmp_path, run_cli, monkeypatch):
    """A tenant whose job trains a small network long enough to be cancelled while it trains."""
    monkeypatch.chdir(tmp_path)
    db = Path("lab.sqlite")
    source = export_digits(tmp_path / "source", per_class=20)
    for args in (("tenant", "add", "alice"), ("dataset", "add", source, "--name", "digits"),
                 ("job", "add", "--tenant", "alice", "--dataset", "digits", "--models",
                  "mobilenet_v3_small,shufflenet_v2_x1_0", "--epochs", "200", "--image-size", "16")):
        out = run_cli("--db", db, *args)
        assert out.returncode == 0, out.stderr
    return db


def test_a_real_run_cancels_the_running_task_of_a_cancelled_job_and_starts_none_of_it(digits_lab, run_cli):
    run = subprocess.Popen([sys.executable, "-m", "easeml_gui", "--db", str(digits_lab), "run"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while "start t000001" not in run.stdout.readline() and time.monotonic() < deadline:
            pass
        out = run_cli("--db", digits_lab, "job", "cancel", "1")
        assert out.returncode == 0, out.stderr
        assert "1 running task(s): the running lab cancels them within a second" in out.stdout
        stdout, stderr = run.communicate(timeout=120)  # it ends by itself: the lab has no work left
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, stderr
    with LabStore.open_readonly(digits_lab) as store:
        assert [(t.task_id, t.state) for t in store.tasks()] == [("t000001", TaskState.CANCELLED)]
        assert store.job(1).state is JobState.CANCELLED
    listed = json.loads(run_cli("--db", digits_lab, "job", "list", "--json").stdout)
    assert (listed[0]["state"], listed[0]["models_left"]) == ("cancelled", 2)
