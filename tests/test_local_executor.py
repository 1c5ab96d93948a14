"""What the local executor adds to the shared contract: device discovery, task folders, progress, budgets."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from training_fixtures import small_digits  # noqa: F401 (a fixture)

from easeml_gui.engine.types import Arm, Task, TaskState
from easeml_gui.training import wire
from easeml_gui.execution.devices import local_devices
from easeml_gui.execution.local import LocalExecutor


def alive(pid: int) -> bool:
    try:
        return not Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except OSError:
        return False


def test_without_visible_gpus_the_cpu_is_the_one_device() -> None:
    assert local_devices({"CUDA_VISIBLE_DEVICES": "-1"}) == ("cpu",)
    assert len(local_devices()) >= 1


def test_a_seconds_budget_ends_a_long_task_done_with_progress_on_the_way(small_digits: Path, tmp_path: Path) -> None:
    with LocalExecutor(tmp_path / "tasks", devices=("cpu",)) as executor:
        task = Task("t/1", "tenant", Arm("mobilenet_v3_small", 0), "cpu",
                    config={"dataset": str(small_digits), "epochs": 10_000, "max_seconds": 4, "image_size": 16})
        executor.submit(task)
        with pytest.raises(ValueError, match="device cpu is busy with task 't/1'"):
            executor.submit(Task("t2", "tenant", task.arm, "cpu", config=task.config))
        with pytest.raises(ValueError, match="unknown device 'cuda:7'"):
            executor.submit(Task("t3", "tenant", task.arm, "cuda:7", config=task.config))
        deadline = time.monotonic() + 60
        while not any(isinstance(e, wire.Start) for e in executor.events("t/1")[0]):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        [result] = executor.wait(timeout=120)
    assert result.state is TaskState.DONE
    assert result.details["stopped_by_time"] and result.details["epochs_run"] < 10_000
    assert result.cost >= result.details["seconds"]  # the executor's clock includes the worker's start-up
    folder = tmp_path / "tasks" / "t_1-1"  # ids are data: the slash never becomes a path
    assert {"TASK.json", "progress.jsonl", "worker.log", "result.json", "best.pt"} <= {p.name for p in folder.iterdir()}


def test_a_worker_nobody_adopts_is_stopped_before_new_work_starts(small_digits: Path, tmp_path: Path) -> None:
    config = {"dataset": str(small_digits), "epochs": 10_000, "image_size": 16}
    first = LocalExecutor(tmp_path / "tasks", devices=("cpu",), grace_seconds=5)
    first.submit(Task("orphan", "tenant", Arm("mobilenet_v3_small", 0), "cpu", config=config))
    orphan = first.location("orphan").pid
    first.detach()  # as a `run` killed by kill -9 leaves it
    assert alive(orphan)
    with LocalExecutor(tmp_path / "tasks", devices=("cpu",), grace_seconds=5) as second:
        assert second.adopt([]) == set()  # the lab no longer wants it (its job ended, say)
        assert not alive(orphan) and not (tmp_path / "tasks" / "orphan-1" / wire.PID_FILE).exists()


def test_a_task_that_ended_while_nobody_watched_is_adopted_and_reported_with_its_result(
        small_digits: Path, tmp_path: Path) -> None:
    task = Task("unseen", "tenant", Arm("svc", 0), "cpu", config={"dataset": str(small_digits)})
    first = LocalExecutor(tmp_path / "tasks", devices=("cpu",))
    first.submit(task)
    where = first.location("unseen")
    first.detach()
    result_file = Path(where.folder) / wire.RESULT_FILE
    deadline = time.monotonic() + 120
    while not result_file.exists() or alive(where.pid):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    with LocalExecutor(tmp_path / "tasks", devices=("cpu",)) as second:
        assert second.adopt([(task, where)]) == {"unseen"}
        [result] = second.wait(timeout=10)
        assert result.state is TaskState.DONE and result.quality == json.loads(result_file.read_text())["accuracy"]
        assert result.cost >= result.details["seconds"] and result.details["exit_code"] is None
        assert second.wait(timeout=0.3) == []
