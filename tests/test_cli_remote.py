"""`easeml-gui run --devices HOST` end to end against a real sshd on 127.0.0.1 (tests/sshd.py): a model trained on
the host and exported here, a `run` killed with kill -9 re-attaching over SSH, hosts that cannot be used refused
before anything starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_runner import run_cli  # noqa: F401 (a fixture)
from sshd import client_key, ssh_home, sshd, sshd_factory  # noqa: F401 (fixtures)

from easeml_gui.engine.types import TaskState
from easeml_gui.store import LabStore
from easeml_gui.training.digits import export_digits


# The admin's laptop: no torch at all (importing it fails), only the hosts have it.
WITHOUT_TORCH = """
import importlib.abc, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ImportError("torch is not installed on this machine")
sys.meta_path.insert(0, NoTorch())
from easeml_gui.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture
def lab(tmp_path, run_cli, ssh_home, monkeypatch):
    monkeypatch.setenv("EASEML_REMOTE_DIR", str(tmp_path / "remote"))  # the host's work folder: the test's own
    db = tmp_path / "lab.sqlite"
    source = export_digits(tmp_path / "source", per_class=20)
    for args in (("tenant", "add", "alice"), ("dataset", "add", source, "--name", "digits")):
        out = run_cli("--db", db, *args)
        assert out.returncode == 0, out.stderr
    return db


def cli_ok(run_cli, db: Path, *args) -> str:
    out = run_cli("--db", db, *args)
    assert out.returncode == 0, out.stderr
    return out.stdout


def stop_worker(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def add_host(run_cli, db: Path, server, key: Path, trust: bool = True) -> None:
    cli_ok(run_cli, db, "host", "add", "box", "--address", server.address, "--key", key, "--python", sys.executable)
    if trust:
        cli_ok(run_cli, db, "host", "trust", "box", "--yes")


def without_torch(db: Path, *args) -> str:
    done = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, "--db", str(db), *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_machine_without_torch_trains_on_a_host_records_it_and_exports(lab, run_cli, sshd, client_key, tmp_path):
    add_host(run_cli, lab, sshd, client_key)
    cli_ok(run_cli, lab, "job", "add", "--tenant", "alice", "--dataset", "digits", "--models", "svc")
    out = without_torch(lab, "run", "--devices", "box")  # the admin's laptop: only the host has torch
    assert "on box/cpu" in out and "done   accuracy" in out
    with LabStore.open_readonly(lab) as store:
        [task] = store.tasks()
    assert (task.state, task.host, task.device) == (TaskState.DONE, "box", "box/cpu")
    assert task.remote_dir.startswith(str(tmp_path / "remote" / "tasks"))
    assert Path(task.details["folder"]) == tmp_path / "tasks" / "box" / "t000001-1"  # fetched back here
    without_torch(lab, "export", "alice", "--out", tmp_path / "model")
    card = json.loads((tmp_path / "model" / "model_card.json").read_text())
    assert card["host"] == "box" and card["architecture"] == "svc" and card["test_accuracy"] is not None


def test_a_run_killed_mid_task_re_attaches_over_ssh_and_trains_nothing_twice(lab, run_cli, sshd, client_key,
                                                                             tmp_path):
    add_host(run_cli, lab, sshd, client_key)
    cli_ok(run_cli, lab, "job", "add", "--tenant", "alice", "--dataset", "digits", "--models", "mobilenet_v3_small",
           "--epochs", "4", "--image-size", "16")
    command = [sys.executable, "-m", "easeml_gui", "--db", str(lab), "run", "--devices", "box"]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not any('"epoch"' in p.read_text() for p in (tmp_path / "remote" / "tasks").glob("*/*/progress.jsonl")):
        assert time.monotonic() < deadline and first.poll() is None, "the remote task never started training"
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait()
    [pid_file] = (tmp_path / "remote" / "tasks").glob("*/t000001-1/worker.pid")
    try:
        again = subprocess.run(command, capture_output=True, text=True, timeout=240)
    finally:
        stop_worker(int(pid_file.read_text()))  # a test that failed leaves no worker training
    assert again.returncode == 0, again.stderr
    assert "re-attached to t000001 alice/mobilenet_v3_small" in again.stdout and "done   accuracy" in again.stdout
    with LabStore.open_readonly(lab) as store:
        [task] = store.tasks()
        assert (task.state, task.attempt, task.host) == (TaskState.DONE, 1, "box")  # the first attempt counted
        assert len(store.observations()) == 1
    assert not list((tmp_path / "remote" / "tasks").glob("*/t000001-2"))
    assert pid_file.parent.joinpath("result.json").is_file()


def test_hosts_that_cannot_be_used_are_refused_before_anything_starts(lab, run_cli, sshd, client_key):
    cli_ok(run_cli, lab, "job", "add", "--tenant", "alice", "--dataset", "digits", "--models", "svc")
    out = run_cli("--db", lab, "run", "--devices", "local,nobox")
    assert out.returncode == 1 and "no host named 'nobox'" in out.stderr and "host add nobox" in out.stderr
    add_host(run_cli, lab, sshd, client_key, trust=False)
    out = run_cli("--db", lab, "run", "--devices", "box")
    assert out.returncode == 1 and "easeml-gui host trust box" in out.stderr and "nothing was started" in out.stderr
    status = json.loads(cli_ok(run_cli, lab, "status", "--json"))
    assert status["tasks"] == {"queued": 0, "running": 0, "done": 0, "failed": 0}


def test_two_hosts_serve_one_lab_at_once(lab, run_cli, sshd_factory, client_key):
    for name in ("box1", "box2"):
        server = sshd_factory()
        cli_ok(run_cli, lab, "host", "add", name, "--address", server.address, "--key", client_key,
               "--python", sys.executable)
        cli_ok(run_cli, lab, "host", "trust", name, "--yes")
    cli_ok(run_cli, lab, "job", "add", "--tenant", "alice", "--dataset", "digits", "--models",
           "svc,logistic_regression")
    out = cli_ok(run_cli, lab, "run", "--devices", "box1,box2")
    assert "box1/cpu" in out and "box2/cpu" in out
    with LabStore.open_readonly(lab) as store:
        tasks = store.tasks()
    assert {t.state for t in tasks} == {TaskState.DONE} and {t.host for t in tasks} == {"box1", "box2"}
