"""Remote tasks as the driver sees them: how soon a decided task shows its first progress line on a host, and what
the driving process spends while many remote tasks train.

Real OpenSSH sshd servers on 127.0.0.1 (tests/sshd.py) play the hosts; the workers are the real training worker.
The baseline, timed in the same run, is the local executor on this machine (what the admin would have without
hosts: the same worker, started as a child process, its progress read from the local file).

  first progress   submit -> the task's first progress line read back by the driver (svc on 300 digits):
                   a host seen for the first time (code and dataset sent), then warm (median of 3)
  driver CPU       the driving process's CPU (every thread: SSH sessions, watchers, event reads) while 16 tasks
                   train at once, polled as `run` polls (results and every task's events each 0.5 s): 16 hosts
                   with one task each, against 16 local executors of one CPU each

    python bench/remote_tasks.py [--tasks 16] [--seconds 60]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the sshd the tests use

from sshd import Sshd, keygen  # noqa: E402

from easeml_gui.engine.ports import Executor  # noqa: E402
from easeml_gui.engine.types import Arm, Task  # noqa: E402
from easeml_gui.execution.local import LocalExecutor  # noqa: E402
from easeml_gui.remote.address import Endpoint  # noqa: E402
from easeml_gui.remote.connection import Credentials, scan_host_key  # noqa: E402
from easeml_gui.remote.executor import SSHExecutor  # noqa: E402
from easeml_gui.remote.placement import Placement  # noqa: E402
from easeml_gui.remote.session import HostLink  # noqa: E402
from easeml_gui.remote.trust import HostTrust, TrustedKey  # noqa: E402
from easeml_gui.store import KeySource  # noqa: E402
from easeml_gui.training.datasets import register_dataset  # noqa: E402
from easeml_gui.training.digits import export_digits  # noqa: E402

CPU_ONLY = Placement({"gpus": [], "devices": ["cpu"], "ready": True})
POLL_SECONDS = 0.5  # LiveLab.run's poll: results, then every running task's events


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # this process's threads, not its children
    return usage.ru_utime + usage.ru_stime


def ssh_executor(work: Path, server: Sshd, key: Path, name: str) -> SSHExecutor:
    endpoint = Endpoint("127.0.0.1", server.port, server.user)
    trusted = TrustedKey(scan_host_key(HostTrust(name, endpoint, ())).key, KeySource.ACCEPTED)
    link = HostLink(HostTrust(name, endpoint, (trusted,)), Credentials(key_path=key, agent=False), timeout=10)
    return SSHExecutor(link, CPU_ONLY, python=sys.executable, root=str(work / "hosts" / name),
                       local_dir=work / "fetched" / name, poll_seconds=1.0)


def first_progress(executor: Executor, task: Task, limit: float = 300) -> float:
    """Seconds from submit to the first progress line the driver reads back; the task then runs to its end."""
    started = time.perf_counter()
    executor.submit(task)
    seen = None
    while executor.running():
        if seen is None and executor.events(task.task_id, 0)[0]:
            seen = time.perf_counter() - started
        executor.wait(timeout=0.05)
        if time.perf_counter() - started > limit:
            raise RuntimeError(f"{task.task_id} showed no progress within {limit:.0f} s")
    if seen is None:
        raise RuntimeError(f"{task.task_id} ended before any progress line was read")
    return seen


def latency(executor: Executor, dataset: Path, label: str) -> tuple[float, float]:
    config = {"dataset": str(dataset)}
    device = executor.devices()[0]
    cold = first_progress(executor, Task(f"{label}-cold", "t", Arm("svc", 0), device, config=config))
    warm = statistics.median(first_progress(executor, Task(f"{label}-warm{i}", "t", Arm("svc", 0), device,
                                                           config=config)) for i in range(3))
    return cold, warm


def driver_cpu(executors: list[Executor], dataset: Path, seconds: float) -> dict[str, Any]:
    """One long network task per device, polled as `run` does; the driver's CPU over `seconds` from the moment all
    of them train; then every task is cancelled."""
    config = {"dataset": str(dataset), "image_size": 16, "epochs": 10_000}
    tasks: dict[str, Executor] = {}
    for executor in executors:
        for device in executor.devices():
            task_id = f"cpu-{len(tasks)}"
            executor.submit(Task(task_id, "t", Arm("mobilenet_v3_small", 1), device, config=config))
            tasks[task_id] = executor
    offsets = {task_id: 0 for task_id in tasks}
    training: set[str] = set()
    window: dict[str, float] = {}
    while "end" not in window:
        for executor in executors:
            if executor.wait(timeout=POLL_SECONDS / len(executors)):
                raise RuntimeError("a task ended before the measurement did; see its log")
        for task_id, executor in tasks.items():
            events, offsets[task_id] = executor.events(task_id, offsets[task_id])
            if events:  # its first progress line: the worker is up and training
                training.add(task_id)
        now = time.perf_counter()
        if "start" not in window and len(training) == len(tasks):
            window.update(start=now, cpu=cpu_seconds())
        elif "start" in window and now - window["start"] >= seconds:
            window.update(end=now, cpu_end=cpu_seconds())
    for task_id, executor in tasks.items():
        executor.cancel(task_id)
    left = len(tasks)
    while left:
        left -= sum(len(executor.wait(timeout=1.0)) for executor in executors)
    wall = window["end"] - window["start"]
    return {"wall": wall, "cpu_percent": 100 * (window["cpu_end"] - window["cpu"]) / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=16, help="tasks training at once for the driver CPU figure")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the driver CPU is measured")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        key = keygen(work / "id_ed25519")
        dataset = register_dataset(export_digits(work / "source", per_class=30), work / "data" / "digits").root
        servers = []
        try:
            for number in range(args.tasks):
                (work / f"sshd{number}").mkdir()
                servers.append(Sshd(work / f"sshd{number}", key).start())
            run(work, servers, key, Path(dataset), args.seconds)
        finally:
            for server in servers:
                server.stop()


def run(work: Path, servers: list[Sshd], key: Path, dataset: Path, seconds: float) -> None:
    local = LocalExecutor(work / "local", devices=["cpu"])
    remote = ssh_executor(work, servers[0], key, "box0")
    try:
        local_cold, local_warm = latency(local, dataset, "local")
        ssh_cold, ssh_warm = latency(remote, dataset, "ssh")
    finally:
        remote.close()
    print("decision -> first progress line (svc on 300 digits; loopback sshd; this machine's CPU)")
    print(f"  {'':14} {'local':>8} {'ssh':>8} {'ratio':>6}")
    print(f"  {'new host':14} {local_cold:7.2f}s {ssh_cold:7.2f}s {ssh_cold / local_cold:6.2f}"
          "   (ssh: code and dataset sent first)")
    print(f"  {'warm (median)':14} {local_warm:7.2f}s {ssh_warm:7.2f}s {ssh_warm / local_warm:6.2f}")

    count = len(servers)
    # one local executor per task: a local machine names its CPU once, as a host does
    baseline = driver_cpu([LocalExecutor(work / f"local-{i}", devices=["cpu"]) for i in range(count)], dataset,
                          seconds)
    hosts = [ssh_executor(work, server, key, f"box{i}") for i, server in enumerate(servers)]
    try:
        ours = driver_cpu(hosts, dataset, seconds)
    finally:
        for host in hosts:
            host.close()
    print(f"driver CPU while {count} tasks train at once (% of one core; polled every {POLL_SECONDS} s)")
    print(f"  {count} local executors:          {baseline['cpu_percent']:5.1f} %  (over {baseline['wall']:.0f} s)")
    print(f"  {count} ssh hosts, one task each: {ours['cpu_percent']:5.1f} %  (over {ours['wall']:.0f} s)  "
          f"ratio {ours['cpu_percent'] / max(baseline['cpu_percent'], 0.1):.2f}")


if __name__ == "__main__":
    main()
