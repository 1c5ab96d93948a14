"""Running the lab from the window: Start spawns `easeml-gui run` as a background process of its own; the
tenant's accuracy and the decision log appear as it trains (the classical arm svc on small digits: seconds, no
torch); Stop lets running tasks finish; closing the window during a run asks, and leaves no thread behind in the
window's process (and, when asked to stop the lab, no process behind either)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from window_fixtures import open_window  # noqa: F401  (a fixture)

from easeml_gui.lab import datasets, jobs, runs, tenants
from easeml_gui.lab.stores import open_writer
from easeml_gui.training.digits import export_digits

RUN_TIMEOUT_MS = 240_000  # a run's process starts, trains svc and ends in ~15 s here; the 2-core machine is shared


QT_GLOBAL_POOL = "Thread (pooled)"  # Qt's global pool: not the window's; its threads expire on their own clock


def os_threads() -> list[str]:
    """The names of the process's threads as the kernel lists them, less Qt's global pool (the window's pool names
    its threads "lab-operations"); a thread that ends while it is listed is left out."""
    names = []
    for task in os.listdir("/proc/self/task"):
        try:
            names.append(Path(f"/proc/self/task/{task}/comm").read_text().strip())
        except FileNotFoundError:
            continue
    return sorted(name for name in names if name != QT_GLOBAL_POOL)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """digits 0-2 (20 images each), tenant alice with one job: the classical learner svc."""
    path = tmp_path / "lab.sqlite"
    with open_writer(path) as store:
        datasets.register(store, "digits", export_digits(tmp_path / "src", (0, 1, 2), per_class=20), tmp_path)
        tenants.add(store, "alice")
        jobs.add(store, "alice", "digits", models=["svc"])
    yield path
    if runs.running_pid(path) is not None:  # never leave a run behind a failed test
        runs.stop(path, cancel=True)


def pause_alice(db: Path) -> None:
    """A lab whose only tenant is paused runs and waits: a run that stays up until it is stopped."""
    with open_writer(db) as store:
        tenants.set_paused(store, "alice", True)


def idling(window) -> bool:
    """The run is up and waiting for a tenant to serve (so its Ctrl-C and SIGTERM handlers are in place)."""
    return window.run.running and "waiting" in window.run.state.log_tail


def cell(window, row: int, column: int) -> str:
    model = window.lab.tenants.source_model
    return model.data(model.index(row, column))


def start_lab(qtbot, window) -> None:
    """Start lab, and Start in its dialog (this machine, as the dialog offers first)."""
    window.start_action.trigger()
    qtbot.mouseClick(window.dialog.go, Qt.MouseButton.LeftButton)


def test_start_a_run_and_watch_the_tenant_and_the_decisions_appear(open_window, qtbot, db):
    window = open_window(db)
    qtbot.waitUntil(lambda: window.lab.tenants.source_model.rowCount() == 1)
    assert window.start_action.isEnabled() and not window.stop_action.isEnabled()
    start_lab(qtbot, window)
    qtbot.waitUntil(lambda: cell(window, 0, 5) != "—", timeout=RUN_TIMEOUT_MS)
    assert 0.5 < float(cell(window, 0, 5)) <= 1.0 and cell(window, 0, 7) == "svc" and cell(window, 0, 3) == "1"
    qtbot.waitUntil(lambda: window.lab.why.current() is not None, timeout=10_000)
    decision = window.lab.why.current()
    assert (decision.tenant, decision.arm.name) == ("alice", "svc")
    # Every model of the job was tried: the run ends by itself, and the window sees it end.
    qtbot.waitUntil(lambda: not window.run.running and window.start_action.isEnabled(), timeout=RUN_TIMEOUT_MS)
    assert "task(s) ended" in window.run.state.log_tail
    qtbot.waitUntil(lambda: not window.lab.accuracy_plot.pending)
    assert window.lab.accuracy_plot.names() == ["alice"]

    # The tenant's best model, exported from the tenant view as `easeml-gui export` does.
    window.lab.tenants.selectRow(0)
    assert window.lab.tenant_actions.export.isEnabled()
    window.export_to("alice", db.parent / "export")
    qtbot.waitUntil(lambda: window.notice.text().startswith("Exported") or bool(window.last_error), timeout=120_000)
    assert not window.last_error and "alice's svc" in window.notice.text()
    assert (db.parent / "export" / "model_card.json").is_file()


def test_stop_lets_the_run_end(open_window, qtbot, db):
    pause_alice(db)
    window = open_window(db)
    start_lab(qtbot, window)
    qtbot.waitUntil(lambda: idling(window), timeout=RUN_TIMEOUT_MS)
    pid = window.run.state.pid
    assert runs.running_pid(db) == pid != os.getpid()  # its own process, named in the run lock
    assert window.stop_action.isEnabled() and "lab running" in window.run_label.text()
    window.stop_action.trigger()
    qtbot.waitUntil(lambda: not window.run.running, timeout=60_000)
    assert runs.running_pid(db) is None and "lab not running" in window.run_label.text()


def test_a_run_started_from_a_terminal_shows_up_and_can_be_stopped(open_window, qtbot, db):
    pause_alice(db)
    child = runs.start(db)  # as a terminal's `easeml-gui run` would hold the lock
    try:
        window = open_window(db)
        qtbot.waitUntil(lambda: idling(window), timeout=RUN_TIMEOUT_MS)
        assert window.run.state.pid == child.pid
        window.cancel_action.trigger()  # SIGTERM
        qtbot.waitUntil(lambda: not window.run.running, timeout=60_000)
        assert child.wait(30) == 0  # it stopped as the run stops, not killed
    finally:
        if child.poll() is None:
            child.kill()


@pytest.mark.parametrize("answer", ["stop", "keep"])
def test_closing_during_a_run_asks_and_leaves_no_thread(open_window, qtbot, db, answer):
    pause_alice(db)
    threads_before = os_threads()
    window = open_window(db)
    start_lab(qtbot, window)
    qtbot.waitUntil(lambda: idling(window), timeout=RUN_TIMEOUT_MS)
    pid = window.run.state.pid
    asked = []
    window.close_question = lambda: asked.append(True) or "stay"
    window.close()
    assert asked and window.isVisible()  # "Cancel": the window stays, the lab runs on
    window.close_question = lambda: answer
    window.close()
    assert not window.isVisible()
    assert not window.poller.thread.isRunning() and window.runner.pool.activeThreadCount() == 0
    # The poller's and the pool's threads are gone, not just idle (a joined thread leaves the kernel's list a
    # moment after Qt let go of it).
    qtbot.waitUntil(lambda: os_threads() == threads_before, timeout=5_000)
    if answer == "stop":
        qtbot.waitUntil(lambda: runs.running_pid(db) is None, timeout=60_000)
    else:
        assert runs.running_pid(db) == pid  # the lab outlives the window
        runs.stop(db)
        qtbot.waitUntil(lambda: runs.running_pid(db) is None, timeout=60_000)
