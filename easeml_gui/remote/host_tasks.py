"""The SSH executor's hands ON THE HOST: `python -m easeml_gui.remote.host_tasks COMMAND` run from the worker code
synced there (remote/code_sync.py), a JSON request on stdin, a JSON answer on stdout. Standard library and the
project's torch-free wire and process modules only: it starts fast on every poll.

  start  {"folder", "task", "env"}        write TASK.json into a fresh task folder, start the worker detached
                                           (own session, stdin /dev/null, stdout progress.jsonl, stderr worker.log)
                                           with `env` added to its environment (TORCH_HOME) -> {"pid"}
  poll   {"tasks": [[folder, pid]], "gpus"} whether each worker still runs and whether it left a result, and with
                                           "gpus" nvidia-smi's view of the GPUs -> {"tasks": {folder: {...}}, "smi"}
  sweep  {"area", "keep", "grace"}         stop every worker in the task area `area` except those of `keep`
                                           -> {"tasks": {folder: {"pid", "alive", "result"}}} for `keep`
  stop   {"folder", "pid", "grace"}        SIGTERM the worker's process group, SIGKILL after `grace` seconds
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any, Mapping

from ..execution.processes import launch_worker, runs_worker, stop_group, worker_env
from ..training import wire
from .host_commands import Command, serve
from .probe_script import nvidia_report

CODE_ROOT = str(Path(__file__).resolve().parents[2])  # the synced code folder: the worker imports this copy


def start(request: Mapping[str, Any]) -> dict[str, Any]:
    folder = Path(request["folder"])
    shutil.rmtree(folder, ignore_errors=True)  # a stale result.json must never be reported as this run's
    folder.mkdir(parents=True)
    (folder / wire.TASK_FILE).write_text(request["task"])
    process = launch_worker(sys.executable, folder, {**worker_env(CODE_ROOT), **request.get("env", {})})
    return {"pid": process.pid}  # the worker outlives this process: it leads its own session


def _state(folder: Path, pid: int | None) -> dict[str, Any]:
    return {"pid": pid, "alive": pid is not None and runs_worker(pid, folder),
            "result": wire.read_result(folder) is not None}


def poll(request: Mapping[str, Any]) -> dict[str, Any]:
    tasks = {folder: _state(Path(folder), pid) for folder, pid in request["tasks"]}
    return {"tasks": tasks, "smi": nvidia_report() if request.get("gpus") else None}


def sweep(request: Mapping[str, Any]) -> dict[str, Any]:
    keep = {str(Path(folder)) for folder in request["keep"]}
    area = Path(request["area"])
    for pid_file in area.glob(f"*/{wire.PID_FILE}") if area.is_dir() else ():
        folder = pid_file.parent
        if str(folder) in keep:
            continue
        pid = wire.read_pid(folder)
        if pid is not None and runs_worker(pid, folder):
            stop_group(pid, float(request["grace"]))
        wire.remove_pid(folder)
    return {"tasks": {folder: _state(Path(folder), wire.read_pid(Path(folder))) for folder in keep}}


def stop(request: Mapping[str, Any]) -> dict[str, Any]:
    folder, pid = Path(request["folder"]), int(request["pid"])
    if runs_worker(pid, folder):
        stop_group(pid, float(request["grace"]))
    return {}


COMMANDS: dict[str, Command] = {
    "start": start, "poll": poll, "sweep": sweep, "stop": stop}


if __name__ == "__main__":
    sys.exit(serve(__spec__.name, COMMANDS, sys.argv[1:]))
