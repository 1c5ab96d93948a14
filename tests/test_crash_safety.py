"""kill -9 at random moments: a real `LiveLab` process on a real store, killed again and again mid-decision,
mid-write and mid-task, loses no finished observation, duplicates none, leaves no task in `running`, and
decides exactly as one unbroken run with the same seed. The simulated executor makes tasks instant, so
decisions and store writes fill the run and the kills land in them (test_cli_run kills a real training run)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from easeml_gui.engine.types import Arm, TaskState
from easeml_gui.store import JobState, LabStore

TENANTS, ARMS, DEVICES = 40, 40, 3

# The child: run the lab in the store to the end (or until killed).
CHILD = f"""
import sys
from easeml_gui.engine.matrix import synthetic
from easeml_gui.engine.simulate import SimulatedExecutor
from easeml_gui.live_lab import LiveLab
from easeml_gui.store import LabStore

quality, _ = synthetic(rows={TENANTS}, arms={ARMS}, seed=11)
with LabStore(sys.argv[1]) as store:
    names = [t.name for t in store.tenants()]
    executor = SimulatedExecutor({{n: quality.values[i] for i, n in enumerate(names)}}, None, {DEVICES})
    LiveLab(store, executor, seed=5).run()
"""


def make_lab(db: Path) -> Path:
    """The lab, registered before any kill (registration is not what this test is about)."""
    arms = tuple(Arm(f"m{k:02d}", k) for k in range(ARMS))
    with LabStore(db) as store:
        for i in range(TENANTS):
            name = f"t{i:02d}"
            store.add_dataset(name, "/data/" + name, f"{i:064d}", manifest={}, stats={})
            store.add_tenant(name, weight=1.0 + i % 3)
            store.add_job(name, name, arms, epochs=1, image_size=32, seed=3)
    return db


def run_child(db: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(db)], stderr=subprocess.PIPE, text=True)


def wait_for_progress(db: Path, child: subprocess.Popen, tasks_before: int) -> None:
    deadline = time.monotonic() + 60
    while child.poll() is None and len(decided(db)) <= tasks_before and time.monotonic() < deadline:
        time.sleep(0.02)


def decided(db: Path) -> list[tuple[str, str]]:
    with LabStore.open_readonly(db) as store:
        tasks = sorted(store.tasks(), key=lambda t: t.task_id)
    return [(t.tenant, t.arm.name) for t in tasks if t.state is not TaskState.CANCELLED]


def observed(db: Path) -> list[tuple[str, str, float]]:
    with LabStore.open_readonly(db) as store:
        return [(o.tenant, o.arm.name, o.quality) for o in store.observations()]


def test_kill_9_at_random_moments_loses_nothing_and_decides_as_the_seed_implies(tmp_path):
    unbroken = make_lab(tmp_path / "unbroken.sqlite")
    whole = run_child(unbroken)
    assert whole.wait(timeout=300) == 0, whole.stderr.read()
    expected = decided(unbroken)
    assert len(expected) == TENANTS * ARMS

    db = make_lab(tmp_path / "crashed.sqlite")
    rng = np.random.default_rng(2026)
    kept: set[tuple[str, str, float]] = set()
    mid_run_kills = 0
    for kill in range(12):
        child = run_child(db)
        if kill == 0:
            time.sleep(float(rng.uniform(0.05, 0.5)))  # while it starts: opening, recovering, replaying
        else:  # once it decides again, at a random moment among its decisions and writes
            wait_for_progress(db, child, len(decided(db)))
            time.sleep(float(rng.uniform(0.0, 0.4)))
        child.send_signal(signal.SIGKILL)
        code = child.wait(timeout=60)
        if code == 0:
            break  # it finished before the kill came
        assert code == -signal.SIGKILL, child.stderr.read()
        now = observed(db)
        assert len(now) == len(set((t, a) for t, a, _ in now))  # no duplicate observation
        assert kept <= set(now)  # every finished observation survived
        mid_run_kills += 0 < len(now) < TENANTS * ARMS and len(set(now)) > len(kept)
        kept = set(now)
    assert mid_run_kills >= 3  # the kills did land in the middle of runs

    final = run_child(db)
    assert final.wait(timeout=300) == 0, final.stderr.read()
    assert decided(db) == expected  # the same decisions the seed implies, crash or not
    assert sorted(observed(db)) == sorted(observed(unbroken))
    with LabStore.open_readonly(db) as store:
        assert all(t.state is TaskState.DONE for t in store.tasks())  # none stuck in running or queued
        assert all(job.state is JobState.DONE for job in store.jobs())
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
