"""Start lab from the window: a dialog chooses the devices (this machine, ready hosts with their GPUs, all), the
policy and a task limit, remembers the choice, and starts exactly `easeml-gui run` with those flags (the command
line heads the run log). A host that is not ready says why and cannot be chosen. End to end against a real sshd on
127.0.0.1: Start lab on that host trains svc there and the task records the host."""

from __future__ import annotations

import sys
from typing import Iterator

import pytest
from PySide6 import QtCore
from PySide6.QtCore import Qt
from sshd import client_key, ssh_home, sshd, sshd_factory  # noqa: F401  (fixtures)
from window_fixtures import open_window  # noqa: F401  (a fixture)

from easeml_gui.engine.types import TaskState
from easeml_gui.lab import datasets, hosts, jobs, runs, tenants
from easeml_gui.lab.stores import open_reader, open_writer
from easeml_gui.training.digits import export_digits
from easeml_gui.views.host_rows import GpuRow, HostRow
from easeml_gui.views.run_dialog import RunDialog

RUN_TIMEOUT_MS = 240_000  # the run starts, syncs the dataset over SSH and trains svc: seconds, on 2 shared cores


@pytest.fixture
def settings() -> Iterator[QtCore.QSettings]:
    """The app's own settings (organisation and application "easeml-gui"), emptied before and after the test."""
    settings = QtCore.QSettings("easeml-gui", "easeml-gui")
    settings.clear()
    yield settings
    settings.clear()
    settings.sync()


class NoRun:
    """Stands in for the run controller: records what Start would start, starts nothing."""

    def __init__(self) -> None:
        self.started: list[runs.RunChoice] = []

    def start(self, choice: runs.RunChoice) -> None:
        self.started.append(choice)


def host(name: str, ready: bool = True, status: str = "ready", gpus: int = 0) -> HostRow:
    rows = tuple(GpuRow(i, "NVIDIA A100", "39.1 of 40.0 GiB free", "", f"GPU {i} ready") for i in range(gpus))
    return HostRow(name, f"lab@{name}:22", None, "SHA256:x", status, ready, 1.0, rows, None, "python3")


def test_the_dialogs_choices_are_the_exact_run_command(qtbot, settings, tmp_path):
    run = NoRun()
    dialog = RunDialog(run, [host("gpu1", gpus=2), host("gpu2")], settings)
    qtbot.addWidget(dialog)
    assert dialog.local.isChecked() and dialog.policy.currentText() == "default"  # the defaults: as a plain `run`
    assert dialog.hosts["gpu1"].text() == "gpu1: 2 GPUs (NVIDIA A100)"
    assert dialog.hosts["gpu2"].text() == "gpu2: CPU only"
    db = tmp_path / "lab.sqlite"
    assert runs.command(db, dialog.choice(), python="py") == [
        "py", "-m", "easeml_gui", "--log-file", str(runs.log_path(db)), "--db", str(db), "run", "--devices", "local",
        "--policy", "default"]
    dialog.local.setChecked(False)
    dialog.hosts["gpu1"].setChecked(True)
    dialog.hosts["gpu2"].setChecked(True)
    dialog.policy.setCurrentText("fifo")
    dialog.max_tasks.setValue(3)
    assert dialog.command.text() == "runs: easeml-gui run --devices gpu1,gpu2 --policy fifo --max-tasks 3"
    qtbot.mouseClick(dialog.go, Qt.MouseButton.LeftButton)
    assert run.started == [runs.RunChoice(("gpu1", "gpu2"), "fifo", 3)]
    assert runs.command(db, run.started[0], tmp_path / "data", python="py")[7:] == [
        "--data-dir", str(tmp_path / "data"), "run", "--devices", "gpu1,gpu2", "--policy", "fifo", "--max-tasks", "3"]

    dialog.all.setChecked(True)  # all: this machine and every ready host, whatever else was ticked
    assert not dialog.local.isEnabled() and not dialog.hosts["gpu1"].isEnabled()
    assert dialog.choice().flags() == ["--devices", "all", "--policy", "fifo", "--max-tasks", "3"]
    dialog.all.setChecked(False)
    for box in (dialog.local, *dialog.hosts.values()):
        box.setChecked(False)
    assert not dialog.go.isEnabled() and "Choose where to train" in dialog.command.text()


def test_the_last_choice_is_remembered_for_the_next_start(qtbot, settings):
    first = RunDialog(NoRun(), [host("gpu1"), host("gpu2")], settings)
    qtbot.addWidget(first)
    first.hosts["gpu2"].setChecked(True)
    first.policy.setCurrentText("round-robin")
    first.max_tasks.setValue(5)
    qtbot.mouseClick(first.go, Qt.MouseButton.LeftButton)
    again = RunDialog(NoRun(), [host("gpu1"), host("gpu2")], QtCore.QSettings("easeml-gui", "easeml-gui"))
    qtbot.addWidget(again)
    assert again.choice() == runs.RunChoice(("local", "gpu2"), "round-robin", 5)
    # a remembered host that is not ready any more is not chosen again; this machine stays
    later = RunDialog(NoRun(), [host("gpu2", ready=False, status="unreachable: timed out")], settings)
    qtbot.addWidget(later)
    assert later.choice() == runs.RunChoice(("local",), "round-robin", 5)


def test_a_host_that_is_not_ready_says_why_and_cannot_be_chosen(qtbot, settings):
    status = "not ready: torch is not installed for /usr/bin/python3 (pip install torch there)"
    dialog = RunDialog(NoRun(), [host("gpu1", ready=False, status=status), host("gpu2", gpus=1)], settings)
    qtbot.addWidget(dialog)
    unready = dialog.hosts["gpu1"]
    assert not unready.isEnabled() and unready.text() == "gpu1: not ready" and status in unready.toolTip()
    assert dialog.reasons["gpu1"].text() == status and "gpu2" not in dialog.reasons  # said in the dialog
    assert "Probe it again" in unready.toolTip()
    unready.setChecked(True)  # even set by hand, it is not started on
    assert "gpu1" not in dialog.choice().devices
    dialog.all.setChecked(True)
    dialog.all.setChecked(False)
    assert not unready.isEnabled() and dialog.hosts["gpu2"].isEnabled()


def test_a_refused_choice_is_said_before_a_process_starts(tmp_path):
    for choice, said in ((runs.RunChoice(()), "choose the devices"),
                         (runs.RunChoice(("all", "gpu1")), "choose it alone"),
                         (runs.RunChoice(policy="fastest"), "unknown policy 'fastest'"),
                         (runs.RunChoice(max_tasks=0), "at least 1")):
        with pytest.raises(runs.LabError, match=said):
            runs.start(tmp_path / "lab.sqlite", choice=choice)
    assert not runs.log_path(tmp_path / "lab.sqlite").exists()


@pytest.mark.slow
def test_start_lab_on_a_ready_host_trains_there(open_window, qtbot, sshd, client_key, ssh_home, tmp_path,
                                                 settings, monkeypatch):
    monkeypatch.setenv("EASEML_REMOTE_DIR", str(tmp_path / "remote"))  # the host's work folder (the run inherits it)
    db = tmp_path / "lab.sqlite"
    with open_writer(db) as store:
        datasets.register(store, "digits", export_digits(tmp_path / "src", (0, 1, 2), per_class=20), tmp_path)
        tenants.add(store, "alice")
        jobs.add(store, "alice", "digits", models=["svc"])
        hosts.add(store, "box", sshd.address, key=client_key, python=sys.executable)
        hosts.accept(store, "box", hosts.check_key(store, "box").scan)
        assert hosts.probe(store, "box")["ready"]
    window = open_window(db)
    qtbot.waitUntil(lambda: window.hosts.row("box") is not None and window.hosts.row("box").ready)
    window.start_action.trigger()
    dialog = window.dialog
    assert isinstance(dialog, RunDialog) and dialog.hosts["box"].isEnabled()
    dialog.local.setChecked(False)
    dialog.hosts["box"].setChecked(True)
    qtbot.mouseClick(dialog.go, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.run.running, timeout=30_000)
    try:
        qtbot.waitUntil(lambda: not window.run.running and "task(s) ended" in window.run.state.log_tail,
                        timeout=RUN_TIMEOUT_MS)
    finally:
        if runs.running_pid(db) is not None:
            runs.stop(db, cancel=True)
    log = runs.log_path(db).read_text()
    first = log.splitlines()[0]
    assert first.endswith(f"--db {db} --data-dir {tmp_path} run --devices box --policy default"), first
    assert "box/cpu" in log
    with open_reader(db) as store:
        [task] = store.tasks()
    assert (task.state, task.host, task.device) == (TaskState.DONE, "box", "box/cpu")
