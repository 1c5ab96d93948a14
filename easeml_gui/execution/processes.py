"""Worker processes on the machine this code runs on: start one detached, tell whether a pid is still it, stop its
process group. Standard library only: the local executor uses it here, and the SSH executor's host side
(remote/host_tasks.py) runs it on a remote host, from the worker code synced there."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Mapping

from ..training import wire

LOG_TAIL_CHARS = 2000


def worker_env(code_root: str, base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment a worker runs in: it imports the easeml_gui found in `code_root` first."""
    env = dict(base)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (code_root, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"  # progress lines reach progress.jsonl as they happen
    env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"  # cuda:N is nvidia-smi's GPU N, as placement and probes number them
    return env


def launch_worker(python: str, folder: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start the worker of the task folder (its TASK.json written) in its own session and process group, so a
    cancel reaches the whole worker, a Ctrl-C in a terminal does not, and it outlives whoever started it; its
    stdout is progress.jsonl, its stderr worker.log, and its pid is recorded in worker.pid."""
    with open(folder / wire.PROGRESS_FILE, "wb") as stdout, open(folder / wire.LOG_FILE, "wb") as stderr:
        process = subprocess.Popen([python, "-m", wire.WORKER_MODULE, str(folder / wire.TASK_FILE)], cwd=folder,
                                   stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=dict(env),
                                   start_new_session=True)
    wire.write_pid(folder, process.pid)
    return process


def runs_worker(pid: int, folder: Path) -> bool:
    """Whether `pid` is alive and still the worker of `folder` (pids get reused; a zombie is not alive)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return wire.is_worker_command(command, folder) and not is_zombie(pid)


def signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)  # the worker leads its own session, so its group id is its pid
    except ProcessLookupError:
        pass  # it ended in between


def stop_group(pid: int, grace: float) -> None:
    """SIGTERM a worker's process group, SIGKILL it if it outlives `grace` seconds."""
    for signum, patience in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            if not Path(f"/proc/{pid}").exists() or is_zombie(pid):
                return
            time.sleep(0.05)


def is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return False


def tail(path: Path) -> str:
    """The end of a worker's log, for a failure's message."""
    try:
        with open(path, "rb") as stream:
            stream.seek(max(0, stream.seek(0, os.SEEK_END) - LOG_TAIL_CHARS))
            return stream.read().decode(errors="replace")[-LOG_TAIL_CHARS:].strip()
    except OSError:
        return ""
