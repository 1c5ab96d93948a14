"""The lab layer the command line and the window share: each operation on a real store, its refusals worded for
the user and changing nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from easeml_gui.engine.types import Arm, Observation, Task, TaskResult, TaskState
from easeml_gui.lab import datasets, demo, jobs, tenants
from easeml_gui.lab.errors import LabError
from easeml_gui.lab.runs import run_lock
from easeml_gui.lab.stores import open_reader, open_writer
from easeml_gui.training.digits import export_digits


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "lab" / "lab.sqlite"


def test_a_bad_dataset_registers_nothing_and_says_why(db: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad" / "only-class"
    bad.mkdir(parents=True)
    (bad / "x.png").write_bytes(b"not a png")
    with open_writer(db) as store:
        with pytest.raises(LabError, match="class"):
            datasets.register(store, "bad", bad.parent, tmp_path / "data")
        with pytest.raises(LabError, match="validation fraction must be between 0 and 1"):
            datasets.register(store, "digits", bad.parent, tmp_path / "data", val_fraction=1.5)
        with pytest.raises(LabError, match="invalid|name"):
            datasets.register(store, "../escape", bad.parent, tmp_path / "data")
        assert store.datasets() == []
    assert not (tmp_path / "data" / "datasets" / "bad").exists()


def test_register_then_a_job_over_the_fitting_arms(db: Path, tmp_path: Path) -> None:
    source = export_digits(tmp_path / "source", (0, 1, 2), per_class=20)
    with open_writer(db) as store:
        info = datasets.register(store, "digits", source, tmp_path / "data")
        with pytest.raises(LabError, match="already exists"):
            datasets.register(store, "DIGITS", source, tmp_path / "data")
        tenants.add(store, "alice", weight=2.0, quota_hours=1.5)
        with pytest.raises(LabError, match="unknown augmentation warp"):
            jobs.add(store, "alice", "digits", augment=["warp"])
        with pytest.raises(LabError, match="cannot take 16 px images"):
            jobs.add(store, "alice", "digits", models=["alexnet"], image_size=16)
        new = jobs.add(store, "alice", "digits", image_size=16, augment=["crop"])
        assert new.job.tenant == "alice" and "svc" in new.arms and new.schema.num_classes == 3
        assert new.dataset.content_hash == info.content_hash
    with open_reader(db) as store:
        assert [j.id for j in store.jobs()] == [new.job.id]
        assert tenants.status(store)["tenants"][0]["name"] == "alice"


def test_tenant_changes_are_checked_before_anything_changes(db: Path) -> None:
    with open_writer(db) as store:
        tenants.add(store, "alice")
        for change, message in (({}, "say what to change"), ({"weight": -1}, "positive"),
                                ({"quota_hours": 2, "no_quota": True}, "not both")):
            with pytest.raises(LabError, match=message):
                tenants.change(store, "alice", **change)
        with pytest.raises(LabError, match="bob"):
            tenants.change(store, "bob", weight=2)
        assert store.tenant("alice").weight == 1.0
        assert tenants.change(store, "alice", weight=3, quota_hours=2).quota_seconds == 7200
        assert tenants.set_paused(store, "alice", True).paused


def test_the_demo_lab_is_refused_on_a_store_that_has_its_names(db: Path, tmp_path: Path) -> None:
    with open_writer(db) as store:
        tenants.add(store, "digit-lab")
        with pytest.raises(LabError, match="already has digit-lab"):
            demo.create(store, tmp_path / "data")
        assert store.datasets() == []


def test_one_run_per_store(db: Path) -> None:
    with open_writer(db):
        pass
    with run_lock(db):
        with pytest.raises(LabError, match="another `easeml-gui run` is using"):
            with run_lock(db):
                pass
    with run_lock(db):  # released with its holder
        pass


def test_a_reader_never_creates_a_store(db: Path) -> None:
    with pytest.raises(LabError, match="no lab store at"):
        with open_reader(db):
            pass
    assert not db.exists()


def test_the_run_lock_names_its_process_and_a_stale_pid_is_no_run(db: Path) -> None:
    import os

    from easeml_gui.lab.runs import lock_path, running_pid

    with open_writer(db):
        pass
    assert running_pid(db) is None
    with run_lock(db):
        assert lock_path(db).read_text().strip() == str(os.getpid()) and running_pid(db) == os.getpid()
        with pytest.raises(LabError):
            with run_lock(db):
                pass
        assert running_pid(db) == os.getpid()  # the refused second run left the holder's pid alone
    assert running_pid(db) is None
    lock_path(db).write_text(f"{os.getpid()}\n")  # a live pid, but nobody holds the lock: a crashed run's leftover
    assert running_pid(db) is None


def test_a_cancelled_registration_leaves_nothing(db: Path, tmp_path: Path) -> None:
    from easeml_gui.lab.errors import Cancelled

    source = export_digits(tmp_path / "source", (0, 1), per_class=12)
    seen: list[tuple[int, int, str]] = []
    with open_writer(db) as store:
        with pytest.raises(Cancelled, match="nothing was registered"):
            datasets.register(store, "digits", source, tmp_path / "data", progress=lambda *step: seen.append(step),
                              cancel=lambda: len(seen) >= 30)
        assert store.datasets() == []
        assert [p.name for p in (tmp_path / "data" / "datasets").iterdir()] == []
        assert {stage for _, _, stage in seen} == {"checking", "copying"}
        info = datasets.register(store, "digits", source, tmp_path / "data")
        picked = datasets.samples(store.dataset("digits"), per_class=3)
    assert list(picked) == ["0", "1"] and all(len(paths) == 3 and paths[0].is_file() for paths in picked.values())
    assert info.num_images == 24


def test_no_model_to_export_yet(db: Path, tmp_path: Path) -> None:
    from easeml_gui.lab.export import export_best

    with open_writer(db) as store:
        tenants.add(store, "alice")
    with open_reader(db) as store:
        with pytest.raises(LabError, match="no trained model yet"):
            export_best(store, "alice", tmp_path / "out")
        with pytest.raises(LabError, match="bob"):
            export_best(store, "bob", tmp_path / "out")


def test_a_jobs_predicted_seconds_are_what_the_labs_finished_tasks_taught(db: Path, tmp_path: Path) -> None:
    source = export_digits(tmp_path / "source", (0, 1, 2), per_class=20)
    with open_writer(db) as store:
        datasets.register(store, "digits", source, tmp_path / "data")
        tenants.add(store, "alice")
        before = {c.name: c for c in jobs.fitting(store, "digits").arms}
        assert jobs.fitting(store, "digits").device == "cpu"  # nothing ran yet
        new = jobs.add(store, "alice", "digits", models=["svc", "resnet18"])
        arm = Arm("svc", new.job.arms[0].index)
        task = Task("t1", "alice", arm, "cuda:0", config=new.job.to_job().config)
        store.task_state(task, TaskState.RUNNING)
        seconds = 40 * before["svc"].seconds  # this lab's svc is far slower than the prior guessed
        store.record_result(TaskResult("t1", "alice", arm, "cuda:0", TaskState.DONE, 0.9, seconds),
                            Observation("alice", arm, 0.9, seconds, 1.0))
        after = jobs.fitting(store, "digits")
    svc = next(c for c in after.arms if c.name == "svc")
    assert after.device == "cuda:0" and 0.5 * seconds < svc.seconds < 2 * seconds  # priced from what it took
    assert [c.seconds for c in after.arms] == sorted(c.seconds for c in after.arms)  # quickest first
