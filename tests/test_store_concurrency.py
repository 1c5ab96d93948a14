"""A read-only reader beside a real writer process: never "database is locked", and the writer's pace measured."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from easeml_gui.engine.types import Arm
from easeml_gui.store import LabStore, StoreError

REPO = Path(__file__).resolve().parents[1]
WRITE_SECONDS = 1.5

# The live loop's writes, as fast as they go: per task RUNNING, then the result with its observation, and a
# decision. Prints how many write transactions it committed in WRITE_SECONDS.
WRITER = textwrap.dedent("""
    import json, sys, time
    from easeml_gui.engine.types import Arm, Decision, Observation, Task, TaskResult, TaskState, TenantScore
    from easeml_gui.store import LabStore

    path, prefix, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    store = LabStore(path)
    jobs = store.jobs()
    print("ready", flush=True)
    commits, i, end = 0, 0, time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < end:
        job = jobs[i % len(jobs)]
        arm = job.arms[i % len(job.arms)]
        task = Task(f"{prefix}-{i}", job.tenant, arm, "cpu", config=job.to_job().config)
        store.record_decision(Decision(float(i), "cpu", job.tenant, arm, "ease-ei",
                                       (TenantScore(job.tenant, arm.name, 0.5, 0.1, 0.6, 1.0, 1.0, 0.4),)))
        store.task_state(task, TaskState.RUNNING)
        quality = (i % 97) / 100
        store.record_result(TaskResult(task.task_id, job.tenant, arm, "cpu", TaskState.DONE, quality, 1.0),
                            Observation(job.tenant, arm, quality, 1.0, float(i)))
        commits += 3
        i += 1
    print(json.dumps({"commits": commits, "seconds": time.perf_counter() - start}), flush=True)
""")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "lab.sqlite"
    with LabStore(path) as store:
        store.add_dataset("digits", "/d", "h", manifest={}, stats={})
        arms = [Arm(f"arm{k}", k) for k in range(5)]
        for t in range(10):
            store.add_tenant(f"t{t}")
            store.add_job(f"t{t}", "digits", arms, epochs=1, image_size=32)
    return path


def start_writer(path: Path, prefix: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), prefix, str(WRITE_SECONDS)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
    return proc


def writer_rate(proc: subprocess.Popen[str]) -> float:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    figures = json.loads(out.strip().splitlines()[-1])
    return figures["commits"] / figures["seconds"]


def read_while_writing(path: Path, pause: float) -> tuple[float, list[float], list[str]]:
    """Loop status() on a read-only reader (sleeping `pause` s between calls) while a writer process runs.
    Returns the writer's commits/s, the status() latencies and the reader's errors."""
    reader = LabStore.open_readonly(path)
    errors: list[str] = []
    latencies: list[float] = []
    proc = start_writer(path, f"pause{pause}")
    while proc.poll() is None:
        start = time.perf_counter()
        try:
            reader.status()
            if len(latencies) % 25 == 24:  # also open fresh readers while the writer commits
                reader.close()
                reader = LabStore.open_readonly(path)
        except StoreError as exc:  # "database is locked" would arrive here, translated
            errors.append(str(exc))
        latencies.append(time.perf_counter() - start)
        time.sleep(pause)
    reader.close()
    return writer_rate(proc), sorted(latencies), errors


def test_reader_beside_a_writer_process_is_never_locked(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alone = writer_rate(start_writer(db_path, "alone"))
    gui_rate, gui_latencies, gui_errors = read_while_writing(db_path, pause=0.05)  # a GUI refreshing at ~20 Hz
    tight_rate, latencies, errors = read_while_writing(db_path, pause=0.0)  # worst case: status() back to back

    assert gui_errors == [] and errors == []
    assert len(latencies) > 10 and len(gui_latencies) > 5
    with LabStore.open_readonly(db_path) as reader:
        final = reader.status()
    assert final["tasks"]["done"] == sum(t["tasks_done"] for t in final["tenants"]) > 0
    with capsys.disabled():
        print(f"\n[store] writer process, commits/s: alone {alone:,.0f}; beside a reader at ~20 Hz {gui_rate:,.0f} "
              f"({gui_rate / alone:.0%}); beside a reader looping status() {tight_rate:,.0f} ({tight_rate / alone:.0%}, "
              f"{len(latencies)} calls, p50 {latencies[len(latencies) // 2] * 1e3:.2f} ms, "
              f"max {latencies[-1] * 1e3:.1f} ms); lock errors: 0")


def test_reader_is_not_blocked_by_an_open_write_transaction(db_path: Path) -> None:
    with LabStore(db_path) as writer, LabStore.open_readonly(db_path, busy_timeout=0.2) as reader:
        before = reader.status()
        with writer._write():
            writer._conn.execute("UPDATE tenants SET weight = 5")
            start = time.perf_counter()
            during = reader.status()  # sees the last committed snapshot, at once
            waited = time.perf_counter() - start
        after = reader.status()
    assert during == before and waited < 0.2
    assert {t["weight"] for t in after["tenants"]} == {5.0}


def test_writers_in_two_processes_wait_for_each_other(db_path: Path) -> None:
    """`easeml-gui tenant add` beside a running lab: the busy timeout serialises the two writers."""
    proc = start_writer(db_path, "run")
    added = 0
    with LabStore(db_path) as cli:
        while proc.poll() is None:
            cli.add_tenant(f"late{added}")
            added += 1
    writer_rate(proc)
    with LabStore.open_readonly(db_path) as reader:
        assert len(reader.tenants()) == 10 + added and added > 0


def test_a_reader_held_beside_other_connections_of_its_process_sees_every_later_commit(db_path: Path) -> None:
    """The window holds its poller's reader open while its controllers open and close stores of their own on the
    same file; a CLI command in another process then writes and exits. Opening a store must never drop the POSIX
    locks that the held reader's connection owns (a plain open()/close() of the file does): the exiting writer
    would take itself for the last user, delete the -wal and -shm, and the held reader would read a deleted
    snapshot from then on."""
    held = LabStore.open_readonly(db_path)
    try:
        for number in range(3):
            with LabStore.open_readonly(db_path) as other:  # as a controller's read does
                other.tenants()
            with LabStore(db_path):  # and a controller's write
                pass
            subprocess.run([sys.executable, "-c", "import sys; from easeml_gui.store import LabStore\n"
                            "with LabStore(sys.argv[1]) as s: s.add_tenant(sys.argv[2], 1.0, None)",
                            str(db_path), f"later-{number}"], check=True, cwd=REPO, timeout=60)
            assert f"later-{number}" in {t.name for t in held.tenants()}
            assert db_path.with_name(db_path.name + "-wal").exists()  # the held reader keeps the WAL alive
    finally:
        held.close()
