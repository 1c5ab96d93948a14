"""LocalExecutor: each task is a worker subprocess on this machine, one task per device at a time.

A task runs `python -m easeml_gui.training.worker TASK.json` in its own folder under `work_dir`
(`<task id>-<attempt>/`, holding the files of the wire contract, training/wire.py: the worker's stdout is
progress.jsonl, its stderr worker.log) and in its own process group, so a cancel reaches the whole worker and a
Ctrl-C in the terminal that started the app does not. Task.config carries what the worker reads from TASK.json (wire.TaskRequest: dataset,
epochs, image_size, max_seconds, batch_size, augment, threads); the executor adds task_id, arm, device, seed and
output_dir. A waiter thread per task turns process exits into a queue that `wait` drains.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import easeml_gui
from easeml_gui.engine.types import Task, TaskResult, TaskState
from easeml_gui.training import wire

from .devices import local_devices

LOG_TAIL_CHARS = 2000


@dataclass
class _Run:
    task: Task
    folder: Path
    process: subprocess.Popen[bytes]
    started: float  # monotonic
    cancelled: bool = False
    killer: threading.Timer | None = field(default=None)


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
        self._stop_orphans()

    # --- Executor protocol -------------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time()

    def devices(self) -> Sequence[str]:
        return self._devices

    def running(self) -> Sequence[Task]:
        with self._lock:
            return [run.task for run in self._runs.values()]

    def submit(self, task: Task) -> None:
        with self._lock:
            if task.device not in self._devices:
                raise ValueError(f"unknown device {task.device!r}; this executor has {', '.join(self._devices)}")
            if task.task_id in self._runs:
                raise ValueError(f"task {task.task_id!r} is already running")
            busy = next((run.task.task_id for run in self._runs.values() if run.task.device == task.device), None)
            if busy is not None:
                raise ValueError(f"device {task.device} is busy with task {busy!r}; wait for it first")
            folder = self.task_folder(task)
            shutil.rmtree(folder, ignore_errors=True)  # a stale result.json must never be reported as this run's
            folder.mkdir(parents=True)
            request = wire.TaskRequest.from_mapping({**task.config, "task_id": task.task_id, "arm": task.arm.name,
                                                     "device": task.device, "seed": task.seed,
                                                     "output_dir": str(folder)})
            (folder / wire.TASK_FILE).write_text(request.to_json())
            with open(folder / wire.PROGRESS_FILE, "wb") as stdout, open(folder / wire.LOG_FILE, "wb") as stderr:
                process = subprocess.Popen([self._python, "-m", wire.WORKER_MODULE, str(folder / wire.TASK_FILE)],
                                           cwd=folder,
                                           stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                           env=_worker_env(), start_new_session=True)
            wire.write_pid(folder, process.pid)
            self._runs[task.task_id] = _Run(task, folder, process, time.monotonic())
        threading.Thread(target=self._reap, args=(task.task_id, process), daemon=True,
                         name=f"reap-{task.task_id}").start()

    def wait(self, timeout: float | None = None) -> list[TaskResult]:
        with self._lock:
            if not self._runs:
                return []  # nothing can end: blocking would hang the caller
        try:
            ended = [self._ended.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                ended.append(self._ended.get_nowait())
            except queue.Empty:
                break
        return [self._report(task_id) for task_id in ended]

    def cancel(self, task_id: str) -> None:
        """Stop a running task (SIGTERM, then SIGKILL after the grace period). Unknown or reported ids are ignored."""
        with self._lock:
            run = self._runs.get(task_id)
            if run is None or run.cancelled:
                return
            run.cancelled = True
            if run.process.poll() is None:
                _signal_group(run.process, signal.SIGTERM)
                run.killer = threading.Timer(self._grace, _signal_group, (run.process, signal.SIGKILL))
                run.killer.daemon = True
                run.killer.start()

    # --- beyond the protocol -----------------------------------------------------------------------------------

    def task_folder(self, task: Task) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", task.task_id)  # ids are data, never a path
        return self._work_dir / f"{safe}-{task.attempt}"

    def progress(self, task_id: str) -> list[dict[str, Any]]:
        """The JSON-lines events a running task has printed so far (for a progress display)."""
        with self._lock:
            run = self._runs.get(task_id)
        if run is None:
            return []
        return wire.read_events(run.folder / wire.PROGRESS_FILE)[0]

    def close(self) -> None:
        """Cancel every running task and wait for the workers to exit; their results are not reported."""
        for task in self.running():
            self.cancel(task.task_id)
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.process.wait()
            if run.killer is not None:
                run.killer.cancel()

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ---------------------------------------------------------------------------------------------

    def _stop_orphans(self) -> None:
        """Workers a killed `run` left running (one run per store, so any live worker here is an orphan): stop
        them before new ones start, or the re-run of an interrupted task would share its device with the orphan.
        A pid is trusted only while /proc shows it running the worker on that very folder (pids get reused)."""
        for pid_file in self._work_dir.glob(f"*/{wire.PID_FILE}"):
            try:
                pid = int(pid_file.read_text())
                command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except (OSError, ValueError):
                pid_file.unlink(missing_ok=True)  # gone, or unreadable: nothing to stop
                continue
            if wire.is_worker_command(command, pid_file.parent):
                _stop_group(pid, self._grace)
            pid_file.unlink(missing_ok=True)

    def _reap(self, task_id: str, process: subprocess.Popen[bytes]) -> None:
        process.wait()
        self._ended.put(task_id)

    def _report(self, task_id: str) -> TaskResult:
        with self._lock:
            run = self._runs.pop(task_id)
        if run.killer is not None:
            run.killer.cancel()
        wire.remove_pid(run.folder)
        task, seconds = run.task, time.monotonic() - run.started  # device time includes the worker's start-up
        common = dict(task_id=task.task_id, tenant=task.tenant, arm=task.arm, device=task.device, cost=seconds)
        result = wire.read_result(run.folder)
        details = {**result, "exit_code": run.process.returncode, "folder": str(run.folder)}
        if run.cancelled:
            return TaskResult(state=TaskState.CANCELLED, error="cancelled", details=details, **common)
        if run.process.returncode == 0 and result.get("state") == "done":
            return TaskResult(state=TaskState.DONE, quality=float(result["accuracy"]), details=details, **common)
        tail = _tail(run.folder / wire.LOG_FILE)
        reason = result.get("error") or f"the worker exited with code {run.process.returncode}: {tail or 'no output'}"
        return TaskResult(state=TaskState.FAILED, error=reason, details={**details, "log_tail": tail}, **common)


def _worker_env() -> dict[str, str]:
    """The worker imports this very copy of easeml_gui, installed or not."""
    root = str(Path(easeml_gui.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"  # progress lines reach progress.jsonl as they happen
    return env


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signum)  # the worker leads its own session, so its group id is its pid
    except ProcessLookupError:
        pass  # it ended in between


def _stop_group(pid: int, grace: float) -> None:
    """SIGTERM a worker's process group, SIGKILL it if it outlives `grace` seconds."""
    for signum, patience in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
                return
            time.sleep(0.05)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return False


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-LOG_TAIL_CHARS:].strip()
    except OSError:
        return ""
