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

from easeml_gui.engine.types import TaskState
from easeml_gui.store import JobState, LabStore

TENANTS, ARMS, DEVICES = 40, 40, 3

# The child: build the lab if the store is new, then run it to the end (or until killed).
CHILD = f"""
import sys
from easeml_gui.engine.matrix import synthetic
from easeml_gui.engine.simulate import SimulatedExecutor
from easeml_gui.engine.types import Arm
from easeml_gui.live_lab import LiveLab
from easeml_gui.store import LabStore

arms = tuple(Arm(f"m{{k:02d}}", k) for k in range({ARMS}))
quality, _ = synthetic(rows={TENANTS}, arms={ARMS}, seed=11)
names = [f"t{{i:02d}}" for i in range({TENANTS})]
with LabStore(sys.argv[1]) as store:
    if not store.tenants():
        for i, name in enumerate(names):
            store.add_dataset(name, "/data/" + name, f"{{i:064d}}", manifest={{}}, stats={{}})
            store.add_tenant(name, weight=1.0 + i % 3)
            store.add_job(name, name, arms, epochs=1, image_size=32, seed=3)
    executor = SimulatedExecutor({{n: quality.values[i] for i, n in enumerate(names)}}, None, {DEVICES})
    LiveLab(store, executor, seed=5).run()
"""


def run_child(db: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(db)], stderr=subprocess.PIPE, text=True)


def decided(db: Path) -> list[tuple[str, str]]:
    with LabStore.open_readonly(db) as store:
        tasks = sorted(store.tasks(), key=lambda t: t.task_id)
    return [(t.tenant, t.arm.name) for t in tasks if t.state is not TaskState.CANCELLED]


def observed(db: Path) -> list[tuple[str, str, float]]:
    with LabStore.open_readonly(db) as store:
        return [(o.tenant, o.arm.name, o.quality) for o in store.observations()]


def test_kill_9_at_random_moments_loses_nothing_and_decides_as_the_seed_implies(tmp_path):
    unbroken = tmp_path / "unbroken.sqlite"
    whole = run_child(unbroken)
    assert whole.wait(timeout=300) == 0, whole.stderr.read()
    expected = decided(unbroken)
    assert len(expected) == TENANTS * ARMS

    db = tmp_path / "crashed.sqlite"
    rng = np.random.default_rng(2026)
    kept: set[tuple[str, str, float]] = set()
    mid_run_kills = 0
    for _ in range(12):
        child = run_child(db)
        time.sleep(float(rng.uniform(0.5, 2.0)))  # start-up takes ~0.7 s, the whole run ~5 s
        child.send_signal(signal.SIGKILL)
        code = child.wait(timeout=60)
        if code == 0:
            break  # it finished before the kill came
        assert code == -signal.SIGKILL, child.stderr.read()
        now = observed(db) if db.exists() else []
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
