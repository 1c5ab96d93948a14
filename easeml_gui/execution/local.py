"""LocalExecutor: each task is a worker subprocess on this machine, one task per device at a time.

A task runs `python -m easeml_gui.training.worker TASK.json` in its own folder under `work_dir`
(`<task id>-<attempt>/`, holding the files of the wire contract, training/wire.py: the worker's stdout is
progress.jsonl, its stderr worker.log) and in its own session and process group, so a cancel reaches the whole
worker, a Ctrl-C in the terminal that started the app does not, and the worker outlives a `run` that crashed or
detached: the next run adopts it (its pid file names it; /proc confirms it is still that worker) instead of
training it twice. Task.config carries what the worker reads from TASK.json (wire.TaskRequest: dataset, epochs,
image_size, max_seconds, batch_size, augment, threads); the executor adds task_id, arm, device, seed and
output_dir. A waiter thread per task turns worker exits into a queue that `wait` drains.
"""

from __future__ import annotations

import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import easeml_gui
from easeml_gui.engine.types import Task, TaskLocation, TaskResult
from easeml_gui.training import wire

from .devices import local_devices
from .processes import launch_worker, runs_worker, signal_group, stop_group, tail, worker_env
from .tasks import ended_so_far, folder_name, task_request, task_result

ADOPTED_POLL_SECONDS = 0.2  # an adopted worker is another process's child: its end is seen by polling /proc


@dataclass
class _Run:
    task: Task
    folder: Path
    pid: int  # leads the worker's process group
    started: float  # monotonic
    process: subprocess.Popen[bytes] | None  # None for an adopted worker, which this process did not start
    cancelled: bool = False
    killer: threading.Timer | None = field(default=None)

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return runs_worker(self.pid, self.folder)

    def wait(self) -> None:
        if self.process is not None:
            self.process.wait()
            return
        while runs_worker(self.pid, self.folder):
            time.sleep(ADOPTED_POLL_SECONDS)


class LocalExecutor:
    """Implements engine.ports.Executor with worker subprocesses on the local CPU or GPUs."""

    def __init__(self, work_dir: Path | str, devices: Sequence[str] | None = None, *,
                 python: str = sys.executable, grace_seconds: float = 10.0) -> None:
        self._work_dir = Path(work_dir).absolute()  # workers run inside their task folder
        self._work_dir.mkdir(parents=True, exist_ok=True)
        self._devices = tuple(devices) if devices is not None else local_devices()
        self._python = python
        self._grace = grace_seconds  # after SIGTERM, before SIGKILL
        self._runs: dict[str, _Run] = {}
        self._ended: queue.Queue[str] = queue.Queue()
        self._lock = threading.Lock()
        self._adopted_once = False

    # --- Executor protocol -------------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time()

    def devices(self) -> Sequence[str]:
        return self._devices

    def free_memory_mib(self, device: str) -> float | None:
        return None  # this machine's GPUs are the admin's own: a worker that runs out of memory halves its batch

    def running(self) -> Sequence[Task]:
        with self._lock:
            return [run.task for run in self._runs.values()]

    def location(self, task_id: str) -> TaskLocation | None:
        with self._lock:
            run = self._runs.get(task_id)
        return None if run is None else TaskLocation(folder=str(run.folder), pid=run.pid)

    def adopt(self, tasks: Sequence[tuple[Task, TaskLocation]]) -> set[str]:
        """Watch again the workers of `tasks` that still run here (or ended with a result nobody reported), and
        stop every other worker left in work_dir: one run per store, so those are orphans of a killed run."""
        wanted = {Path(where.folder): (task, where) for task, where in tasks
                  if where.host is None and Path(where.folder).parent == self._work_dir}
        adopted: list[_Run] = []
        with self._lock:
            self._adopted_once = True
            self._stop_orphans(keep=set(wanted))
            for folder, (task, where) in wanted.items():
                pid = where.pid or wire.read_pid(folder)
                alive = pid is not None and runs_worker(pid, folder)
                ended_unseen = not alive and wire.read_result(folder) is not None
                if pid is None or not (alive or ended_unseen) or task.task_id in self._runs:
                    continue  # gone: the caller re-queues it
                if task.device not in self._devices or self._busy(task.device):
                    stop_group(pid, self._grace)  # its device is no longer this executor's to use
                    continue
                run = _Run(task, folder, pid, time.monotonic(), process=None)
                self._runs[task.task_id] = run
                adopted.append(run)
        for run in adopted:
            self._watch(run)
        return {run.task.task_id for run in adopted}

    def submit(self, task: Task) -> None:
        if not self._adopted_once:
            self.adopt([])  # a first run on this folder: nothing to adopt, but leftovers must not share devices
        with self._lock:
            if task.device not in self._devices:
                raise ValueError(f"unknown device {task.device!r}; this executor has {', '.join(self._devices)}")
            if task.task_id in self._runs:
                raise ValueError(f"task {task.task_id!r} is already running")
            busy = self._busy(task.device)
            if busy is not None:
                raise ValueError(f"device {task.device} is busy with task {busy!r}; wait for it first")
            folder = self.task_folder(task)
            shutil.rmtree(folder, ignore_errors=True)  # a stale result.json must never be reported as this run's
            folder.mkdir(parents=True)
            (folder / wire.TASK_FILE).write_text(task_request(task, str(folder)).to_json())
            process = launch_worker(self._python, folder, _worker_env())
            run = _Run(task, folder, process.pid, time.monotonic(), process)
            self._runs[task.task_id] = run
        self._watch(run)

    def wait(self, timeout: float | None = None) -> list[TaskResult]:
        with self._lock:
            if not self._runs:
                return []  # nothing can end: blocking would hang the caller
        ended = ended_so_far(self._ended, timeout)
        return [result for result in map(self._report, ended) if result is not None]

    def cancel(self, task_id: str) -> None:
        """Stop a running task (SIGTERM, then SIGKILL after the grace period). Unknown or reported ids are ignored."""
        with self._lock:
            run = self._runs.get(task_id)
            if run is None or run.cancelled:
                return
            run.cancelled = True
            if run.alive():
                _signal_group(run, signal.SIGTERM)
                run.killer = threading.Timer(self._grace, _signal_group, (run, signal.SIGKILL))
                run.killer.daemon = True
                run.killer.start()

    def events(self, task_id: str, offset: int = 0) -> tuple[list[wire.Event], int]:
        with self._lock:
            run = self._runs.get(task_id)
        if run is None:
            return [], offset
        return wire.read_events(run.folder / wire.PROGRESS_FILE, offset)

    def detach(self) -> None:
        """Forget the running workers without stopping them; their pid files stay for the next run to adopt."""
        with self._lock:
            for run in self._runs.values():
                if run.killer is not None:
                    run.killer.cancel()
            self._runs.clear()

    # --- beyond the protocol -----------------------------------------------------------------------------------

    def task_folder(self, task: Task) -> Path:
        return self._work_dir / folder_name(task)

    def close(self) -> None:
        """Cancel every running task and wait for the workers to exit; their results are not reported."""
        for task in self.running():
            self.cancel(task.task_id)
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.wait()
            if run.killer is not None:
                run.killer.cancel()

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ---------------------------------------------------------------------------------------------

    def _busy(self, device: str) -> str | None:
        return next((run.task.task_id for run in self._runs.values() if run.task.device == device), None)

    def _stop_orphans(self, keep: set[Path]) -> None:
        """Stop the workers left in work_dir other than those in `keep`, before new ones start, or a task's
        re-run would share its device with its orphan."""
        for pid_file in self._work_dir.glob(f"*/{wire.PID_FILE}"):
            folder = pid_file.parent
            if folder in keep:
                continue
            pid = wire.read_pid(folder)
            if pid is not None and runs_worker(pid, folder):
                stop_group(pid, self._grace)
            wire.remove_pid(folder)

    def _watch(self, run: _Run) -> None:
        def reap() -> None:
            run.wait()
            self._ended.put(run.task.task_id)

        threading.Thread(target=reap, daemon=True, name=f"reap-{run.task.task_id}").start()

    def _report(self, task_id: str) -> TaskResult | None:
        with self._lock:
            run = self._runs.pop(task_id, None)
        if run is None:
            return None  # detached meanwhile: the next run reports it
        if run.killer is not None:
            run.killer.cancel()
        wire.remove_pid(run.folder)
        result = wire.read_result(run.folder)
        seconds = time.monotonic() - run.started  # device time includes the worker's start-up
        if run.process is None and result is not None:  # adopted: it started before this executor saw it
            seconds = max(seconds, result.seconds or 0.0)
        return task_result(run.task, result, cost=seconds, cancelled=run.cancelled,
                           exit_code=None if run.process is None else run.process.returncode,
                           log_tail=lambda: tail(run.folder / wire.LOG_FILE), details={"folder": str(run.folder)})


def _worker_env() -> dict[str, str]:
    """The worker imports this very copy of easeml_gui, installed or not."""
    return worker_env(str(Path(easeml_gui.__file__).resolve().parent.parent))


def _signal_group(run: _Run, signum: int) -> None:
    if run.alive():
        signal_group(run.pid, signum)
