"""The Jobs tab: every job as `easeml-gui job list` prints it (models done, left, failed, device time, best), and
Cancel… from the window: its queued tasks dropped, the job cancelled, its history kept."""

from __future__ import annotations

import json
from pathlib import Path

from cli_runner import run_cli  # noqa: F401  (a fixture)
from window_fixtures import open_window  # noqa: F401  (a fixture)

from easeml_gui.engine.types import Arm, Observation, Task, TaskResult, TaskState
from easeml_gui.store import JOB_KEY, LabStore

ARMS = tuple(Arm(f"m{k}", k) for k in range(3))


def make_lab(path: Path) -> None:
    """ana: job 1, m0 done (0.8, 30 s), m1 failed for good, m2 queued; ben: job 2, nothing tried yet."""
    with LabStore(path) as store:
        for i, name in enumerate(("ana", "ben")):
            store.add_dataset(f"{name}-data", f"/data/{name}", f"{i:064d}", manifest={}, stats={})
            store.add_tenant(name)
            store.add_job(name, f"{name}-data", ARMS, epochs=1, image_size=32)
        for task_id, arm, state, quality in (("t1", ARMS[0], TaskState.DONE, 0.8), ("t2", ARMS[1], TaskState.FAILED,
                                                                                    None)):
            task = Task(task_id, "ana", arm, "cpu", config={JOB_KEY: 1})
            store.task_state(task, TaskState.RUNNING)
            store.record_result(TaskResult(task_id, "ana", arm, "cpu", state, quality, 30.0, error="boom"),
                                Observation("ana", arm, quality, 30.0, 0.0) if quality is not None else None)
        store.task_state(Task("t3", "ana", ARMS[2], "cpu", config={JOB_KEY: 1}), TaskState.QUEUED)


def test_the_jobs_tab_shows_job_list_and_cancels_a_job_keeping_its_history(open_window, qtbot, tmp_path, run_cli):
    db = tmp_path / "lab.sqlite"
    make_lab(db)
    window = open_window(db)
    jobs = window.jobs
    qtbot.waitUntil(lambda: jobs.model.rowCount() == 2, timeout=10000)
    listed = json.loads(run_cli("--db", db, "job", "list", "--json").stdout)
    assert [(j.id, j.tenant, j.dataset, j.state.value, j.models_done, j.models_left, j.models_failed,
             j.device_seconds, j.best_accuracy) for j in jobs.model.rows()] == [
        (j["id"], j["tenant"], j["dataset"], j["state"], j["models_done"], j["models_left"], j["models_failed"],
         j["device_seconds"], j["best_accuracy"]) for j in listed]
    ana = next(j for j in jobs.model.rows() if j.tenant == "ana")
    assert (ana.models_done, ana.models_failed, ana.models_left, ana.best_accuracy) == (1, 1, 1, 0.8)

    jobs.select(ana.id)
    assert jobs.cancel_button.isEnabled()
    asked = []
    jobs.confirm = lambda question: asked.append(question) or True
    jobs.cancel_button.click()
    assert "ana" in asked[0]
    qtbot.waitUntil(lambda: next(j for j in jobs.model.rows() if j.tenant == "ana").state.value == "cancelled",
                    timeout=10000)
    assert not jobs.cancel_button.isEnabled()  # an ended job cannot be cancelled again
    after = {j["tenant"]: j for j in json.loads(run_cli("--db", db, "job", "list", "--json").stdout)}
    assert after["ana"]["state"] == "cancelled" and after["ben"]["state"] == "active"
    assert after["ana"]["models_done"] == 1 and after["ana"]["best_accuracy"] == 0.8  # its history stays
    with LabStore.open_readonly(db) as reader:
        assert not reader.tasks(TaskState.QUEUED)  # its queued task was dropped (no run holds it)
        assert {t.task_id: t.state for t in reader.tasks(tenant="ana")}.get("t1") is TaskState.DONE
    assert "Cancelled job" in window.notice.text()
