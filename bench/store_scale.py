"""Store at lab scale: 200 tenants x 20 arms x 10 observations each (40,000 tasks, each through the live loop's
writes: decision, RUNNING, result + observation). Prints insert time, status() latency (p50/p99 on the writer
and on a read-only reader), the history matrix time and the file size.

    .venv/bin/python bench/store_scale.py [--tenants 200] [--arms 20] [--per-arm 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from easeml_gui.engine.types import Arm, Decision, Observation, Task, TaskResult, TaskState, TenantScore
from easeml_gui.live_lab import lab_upper_bounds
from easeml_gui.store import JobState, LabStore


def percentiles(samples: list[float]) -> str:
    ms = np.array(samples) * 1e3
    return f"p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms, max {ms.max():.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--arms", type=int, default=20)
    parser.add_argument("--per-arm", type=int, default=10)
    parser.add_argument("--status-calls", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    arms = tuple(Arm(f"arm{k:02d}", k) for k in range(args.arms))

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lab.sqlite"
        store = LabStore(path)
        start = time.perf_counter()
        jobs = []
        for t in range(args.tenants):
            name = f"tenant{t:03d}"
            store.add_tenant(name, weight=float(1 + t % 3))
            store.add_dataset(f"data{t:03d}", f"/data/{t}", f"hash{t}", manifest={"files": 1000},
                              stats={"classes": list("0123456789"), "channels": 3})
            jobs.append(store.add_job(name, f"data{t:03d}", arms, epochs=5, image_size=64, seed=t))
        registry_s = time.perf_counter() - start

        # A decision explains itself with every tenant's numbers, as the live loop records it.
        scores = tuple(TenantScore(j.tenant, "arm00", 0.5, 0.1, 0.6, 30.0, 1.0, 0.4) for j in jobs)
        tasks = [(job, arm, r) for r in range(args.per_arm) for job in jobs for arm in arms]
        start = time.perf_counter()
        for i, (job, arm, r) in enumerate(tasks):
            task = Task(f"{job.tenant}-{arm.name}-{r}", job.tenant, arm, "cuda:0", config=job.to_job().config)
            store.record_decision(Decision(float(i), "cuda:0", job.tenant, arm, "ease-ei", scores))
            store.task_state(task, TaskState.RUNNING)
            quality = float(rng.uniform(0.3, 0.99))
            store.record_result(TaskResult(task.task_id, job.tenant, arm, "cuda:0", TaskState.DONE, quality, 30.0),
                                Observation(job.tenant, arm, quality, 30.0, float(i)))
        insert_s = time.perf_counter() - start
        for job in jobs[::2]:  # half the lab finished (the prior's history), half still selecting
            store.set_job_state(job.id, JobState.DONE)

        writer_status = []
        for _ in range(args.status_calls):
            start = time.perf_counter()
            status = store.status()
            writer_status.append(time.perf_counter() - start)
        reader = LabStore.open_readonly(path)
        reader_status = []
        for _ in range(args.status_calls):
            start = time.perf_counter()
            reader.status()
            reader_status.append(time.perf_counter() - start)
        start = time.perf_counter()
        history = reader.history_matrix()
        history_s = time.perf_counter() - start
        reader.status(lab_upper_bounds(reader))  # the first call pays scikit-learn's import
        bounded = []
        for _ in range(5):
            start = time.perf_counter()
            reader.status(lab_upper_bounds(reader))  # what `easeml-gui status` and the GUI's poller compute
            bounded.append(time.perf_counter() - start)
        start = time.perf_counter()
        LabStore(path).close()
        reopen_s = time.perf_counter() - start
        reader.close()
        store.close()
        size_mb = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6

    n = len(tasks)
    print(f"store scale: {args.tenants} tenants x {args.arms} arms x {args.per_arm} observations = {n:,} tasks")
    print(f"  registry (tenants, datasets, jobs): {registry_s:.2f} s")
    print(f"  live-loop writes: {insert_s:.1f} s for {n:,} tasks = {insert_s / n * 1e3:.2f} ms per task "
          f"(3 commits: decision, running, result+observation), {3 * n / insert_s:,.0f} commits/s")
    print(f"  status() on the writer: {percentiles(writer_status)}")
    print(f"  status() on a read-only reader: {percentiles(reader_status)}")
    print(f"  history matrix {history.quality.shape}: {history_s * 1e3:.1f} ms")
    print(f"  status with the GP upper bounds (prior fit on the finished half, GP replay of the active half): "
          f"{percentiles(bounded)}")
    print(f"  reopen (checks + migrate no-op): {reopen_s * 1e3:.1f} ms; files on disk: {size_mb:.0f} MB")
    assert status["tasks"]["done"] == n and len(status["tenants"]) == args.tenants


if __name__ == "__main__":
    main()
