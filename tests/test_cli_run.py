"""`easeml-gui run` end to end: real worker subprocesses training on real digits, a real store; a crash (kill -9)
mid-training loses nothing and the next run finishes the job; `export` gives a model plain torch can run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from cli_runner import run_cli  # noqa: F401 (a fixture)

from easeml_gui.engine.types import TaskState
from easeml_gui.live_lab import lab_upper_bounds
from easeml_gui.store import LabStore, StoreError
from easeml_gui.training.digits import export_digits

MODELS = "mobilenet_v3_small,shufflenet_v2_x1_0"


@pytest.fixture
def lab(tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths, as a user types them
    db = Path("lab.sqlite")
    source = export_digits(tmp_path / "source", per_class=20)
    for args in (("tenant", "add", "alice"), ("dataset", "add", source, "--name", "digits"),
                 ("job", "add", "--tenant", "alice", "--dataset", "digits", "--models", MODELS, "--epochs", "1",
                  "--image-size", "16")):
        out = run_cli("--db", db, *args)
        assert out.returncode == 0, out.stderr
    return db


def easeml(db: Path, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "easeml_gui", "--db", str(db), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's new parent may never reap it)."""
    try:
        return not Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except OSError:
        return False


def test_run_trains_every_model_then_export_gives_a_torchscript_model(lab, tmp_path, run_cli):
    out = run_cli("--db", lab, "run")
    assert out.returncode == 0, out.stderr
    assert "done   accuracy" in out.stdout
    status = json.loads(run_cli("--db", lab, "status", "--json").stdout)
    assert status["tasks"]["done"] == 2 and status["tasks"]["running"] == 0
    assert status["tenants"][0]["best_model"] in MODELS.split(",")
    exported = run_cli("--db", lab, "export", "alice", "--out", tmp_path / "model")
    assert exported.returncode == 0, exported.stderr
    card = json.loads((tmp_path / "model" / "model_card.json").read_text())
    assert card["architecture"] == status["tenants"][0]["best_model"]
    assert card["classes"] == [str(d) for d in range(10)] and card["dataset_hash"]
    import torch  # only the test loads torch: the model runs without easeml-gui

    model = torch.jit.load(str(tmp_path / "model" / "model.pt"))
    size = card["preprocessing"]["image_size"]
    probabilities = model(torch.rand(3, card["preprocessing"]["channels"], size, size))
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(dim=1).detach().numpy(), 1.0, rtol=1e-5)
    # A user's path: PIL and the card's preprocessing on the held-out test images give the card's test
    # accuracy (not the validation one: the delivered model may have been refit on the validation images).
    registered = tmp_path / "datasets" / "digits"
    test = json.loads((registered / "manifest.json").read_text())["split"]["test"]
    correct = 0
    for path in test:
        image = Image.open(registered / path).convert("L").resize((size, size), Image.BILINEAR)
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)[None, None]
        correct += card["classes"][int(model(pixels).argmax())] == path.split("/")[0]
    assert abs(correct / len(test) - card["test_accuracy"]) <= 0.02


def crash_mid_training(lab: Path) -> int:
    """Start `run`, kill -9 it while its first worker trains; returns the worker's pid."""
    run = easeml(lab, "run")
    deadline = time.monotonic() + 120
    line = ""
    while "start t000001" not in line and time.monotonic() < deadline:
        line = run.stdout.readline()
    assert "start t000001" in line
    time.sleep(1.0)  # the worker is training now
    run.send_signal(signal.SIGKILL)
    run.wait()
    with LabStore.open_readonly(lab) as store:
        [task] = store.tasks()
        assert task.state is TaskState.RUNNING  # what the crash left behind, with where it runs
        assert task.location.folder == str(Path("tasks/t000001-1").absolute()) and task.location.host is None
    assert task.location.pid == int(Path("tasks/t000001-1/worker.pid").read_text())
    return task.location.pid


def finish(again: subprocess.Popen, lab: Path) -> list:
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    with LabStore.open_readonly(lab) as store:
        tasks = store.tasks()
        assert {t.state for t in tasks} == {TaskState.DONE}
        observations = store.observations()
        assert len(observations) == len({o.arm.name for o in observations}) == 2  # no duplicate
        assert all(j.state.value == "done" for j in store.jobs())
    return tasks


def test_a_crash_mid_training_re_attaches_to_the_still_running_worker_and_trains_nothing_twice(lab):
    worker = crash_mid_training(lab)
    assert running(worker)  # kill -9 of `run` leaves its worker training
    again = easeml(lab, "run")
    while "t000001" not in (line := again.stdout.readline()) and line:
        pass
    assert "re-attached to t000001 alice/" in line and "not run twice" in line
    assert running(worker) or (Path("tasks/t000001-1/result.json")).exists()  # left alone: it was not stopped
    tasks = finish(again, lab)
    assert tasks[0].task_id == "t000001" and tasks[0].attempt == 1  # the first attempt's own result counted
    assert not Path("tasks/t000001-2").exists()


def test_a_crash_that_took_the_worker_too_runs_the_task_again_first(lab):
    worker = crash_mid_training(lab)
    os.killpg(worker, signal.SIGKILL)  # the machine rebooted, say: no worker, no result
    while running(worker):
        time.sleep(0.05)
    again = easeml(lab, "run")
    while "start t000001" not in (line := again.stdout.readline()) and line:
        pass
    assert "again: a restart found it unfinished; attempt 2" in line
    tasks = finish(again, lab)
    assert tasks[0].task_id == "t000001" and tasks[0].attempt == 2  # the interrupted task ran again first


def test_a_dataset_changed_on_disk_is_caught_before_training(lab, tmp_path, run_cli):
    victim = next((tmp_path / "datasets" / "digits").rglob("*.png"))
    victim.write_bytes(victim.read_bytes() + b"tampered")
    out = run_cli("--db", lab, "run")
    assert out.returncode == 1
    assert "changed on disk since it was registered" in out.stderr and victim.name in out.stderr
    status = json.loads(run_cli("--db", lab, "status", "--json").stdout)
    assert status["tasks"] == {"queued": 0, "running": 0, "done": 0, "failed": 0}


def test_a_second_run_on_the_same_store_is_refused(lab, run_cli):
    first = easeml(lab, "run")
    try:
        deadline = time.monotonic() + 120
        while "start t000001" not in first.stdout.readline() and time.monotonic() < deadline:
            pass
        out = run_cli("--db", lab, "run")
        assert out.returncode == 1 and "another `easeml-gui run` is using" in out.stderr
    finally:
        first.send_signal(signal.SIGINT)  # Ctrl-C: the running task finishes and is recorded
        stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert "waiting for 1 running task(s)" in stderr and "done   accuracy" in stdout and "t000002" not in stdout
    with LabStore.open_readonly(lab) as store:
        assert [(t.task_id, t.state) for t in store.tasks()] == [("t000001", TaskState.DONE)]


def test_status_polled_beside_a_run_never_sees_a_locked_store(lab):
    """What the GUI's poller and `status` in a loop do, against a real `run` writing its decisions and results."""
    run = easeml(lab, "run")
    reads, done_counts, errors = 0, [], []
    with LabStore.open_readonly(lab) as reader:
        while run.poll() is None:
            try:
                status = reader.status(lab_upper_bounds(reader))
            except StoreError as error:  # "database is locked" would arrive as this
                errors.append(str(error))
                continue
            reads += 1
            done_counts.append(status["tasks"]["done"])
            time.sleep(0.02)
    stdout, stderr = run.communicate()
    assert run.returncode == 0, stderr
    assert errors == [] and reads > 50
    assert done_counts == sorted(done_counts) and done_counts[-1] <= 2  # consistent snapshots, never going back
    with LabStore.open_readonly(lab) as reader:
        assert reader.status()["tasks"]["done"] == 2


@pytest.mark.parametrize("options,signum", [(("--on-interrupt", "cancel"), signal.SIGINT), ((), signal.SIGTERM)],
                         ids=["ctrl-c-cancel", "sigterm"])
def test_a_stop_that_cancels_records_the_running_task_cancelled_and_the_next_run_trains_it(lab, options, signum):
    run = easeml(lab, "run", *options)
    deadline = time.monotonic() + 120
    while "start t000001" not in run.stdout.readline() and time.monotonic() < deadline:
        pass
    run.send_signal(signum)
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    assert "cancelling 1 running task(s)" in stderr and "cancelled" in stdout
    with LabStore.open_readonly(lab) as store:
        assert [(t.task_id, t.state) for t in store.tasks()] == [("t000001", TaskState.CANCELLED)]
        assert store.observations() == []
    again = easeml(lab, "run")
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    with LabStore.open_readonly(lab) as store:
        done = [t for t in store.tasks() if t.state is TaskState.DONE]
        assert sorted(t.arm.name for t in done) == sorted(MODELS.split(","))  # the cancelled model ran after all
