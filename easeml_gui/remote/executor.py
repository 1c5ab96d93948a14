"""SSHExecutor: the engine's tasks on one remote host, over one SSH connection (remote/session.py).

Starting a task (in a thread of its own, so `submit` returns at once): the worker code is synced to the host
(code_sync.py), then the task's dataset (dataset_sync.py; two tasks of one dataset share one sync) and, for a
pretrained arm, the lab's checked weight file (weights_sync.py; the worker's $TORCH_HOME is the lab's own on the
host), then host_tasks.py writes TASK.json into `<root>/tasks/<area>/<task folder>/` and starts the worker detached (own
session, stdin /dev/null, stdout progress.jsonl, stderr worker.log, worker.pid). The worker outlives the
connection and this process: a dropped connection is reopened and the tasks re-attached, a restarted `run` adopts
them. A watcher thread polls every running task of the host in one remote command; a task that ended has its
result.json and checkpoint fetched into `<local_dir>/<task folder>/` (details["folder"], what `export` reads).

A host away longer than `unreachable_timeout` has its tasks reported CANCELLED (the engine hands their models out
again, on devices that are there); when it returns, the first thing on the new connection is a sweep that stops
every worker in the task area that this executor does not watch, so an abandoned task is never reported or run
twice. The same sweep stops an earlier run's leftovers at adoption.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Mapping, Sequence

from ..engine.types import MAX_RETRIES, RETRYABLE, Task, TaskLocation, TaskResult, TaskState
from ..execution.processes import LOG_TAIL_CHARS
from ..execution.tasks import ended_so_far, folder_name, task_request, task_result
from ..training import wire
from ..training.arms import arm_spec
from ..training.errors import DatasetError
from ..training.weights_registry import weights_for
from .code_sync import ensure_code
from .dataset_sync import sync_dataset
from .disk import free_mib
from .errors import RemoteError, Unreachable
from .placement import Placement
from .probe import LOW_DISK_MIB
from .session import HostLink, call
from .transfer import FileTransfer
from .weights_sync import ensure_weights, torch_home

MODULE = "easeml_gui.remote.host_tasks"
POLL_SECONDS = 1.0
GPU_POLL_SECONDS = 5.0  # nvidia-smi on the host at most this often (placement's view of free memory and users)
UNREACHABLE_TIMEOUT_S = 300.0
# A host that could not start a task (full disk, broken python, a sync that failed, a connection lost on the way)
# takes no new task for a while, doubling with each failure in a row up to the cap, so the model it failed is
# retried on another device instead of burning its retries here; the first start that works ends the rest.
START_REST_S, START_REST_MAX_S = 30.0, 600.0
EVENTS_READ_BYTES = 1 << 20  # per events() call: progress lines are short; the rest comes next time


@dataclass
class _Run:
    task: Task
    folder: str  # on the host
    started: float  # monotonic
    pid: int | None = None  # None until the worker started (the code and dataset syncs come first)
    adopted: bool = False
    cancelled: bool = False
    stopping: bool = False  # a stop is on its way to the host
    ended: bool = False  # its report is queued: never polled, swept or reported again


class SSHExecutor:
    """Implements engine.ports.Executor on one host reached by SSH."""

    def __init__(self, link: HostLink, placement: Placement, *, python: str, root: str, local_dir: Path | str,
                 area: str = "lab", grace_seconds: float = 10.0, poll_seconds: float = POLL_SECONDS,
                 unreachable_timeout: float = UNREACHABLE_TIMEOUT_S) -> None:
        self.host = link.name
        self._link, self._placement, self._python = link, placement, python
        self._root_spec, self._area_name = root, area
        self._local_dir = Path(local_dir).absolute()
        self._grace, self._poll, self._unreachable_timeout = grace_seconds, poll_seconds, unreachable_timeout
        self._runs: dict[str, _Run] = {}
        self._ended: queue.Queue[TaskResult] = queue.Queue()
        self._lock = threading.Lock()  # guards _runs and the runs' flags
        self._session_lock = threading.Lock()  # one (re)connection, code check and sweep at a time
        self._dataset_locks: dict[str, threading.Lock] = {}
        self._root: str | None = None
        self._code: str | None = None
        self._swept = 0  # the link's connection count at the last sweep: a new connection sweeps again
        self._adopted_once = False
        self._down_since: float | None = None
        self._failed_starts = 0  # in a row
        self._resting_until = float("-inf")  # monotonic
        self._smi: Mapping[str, Any] | None = None
        self._smi_at = float("-inf")
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._starters: list[threading.Thread] = []
        self.code_sends = 0  # how often the worker code was sent (tests: once per version)
        self.files_sent = 0  # dataset objects sent (tests: a dataset's files once per host)

    # --- Executor protocol -------------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time()

    def devices(self) -> Sequence[str]:
        """The devices that may take a task now: none while the host is away or resting after a failed start; a
        busy or full GPU is left out."""
        if self._down_since is not None or time.monotonic() < self._resting_until:
            return []
        with self._lock:
            ours = [run.task.device for run in self._runs.values()]
        return self._placement.usable(self._smi, ours)

    def free_memory_mib(self, device: str) -> float | None:
        """A GPU's free memory in nvidia-smi's latest view (polled every GPU_POLL_SECONDS); None for the CPU."""
        return self._placement.free_mib(self._smi, device)

    def running(self) -> Sequence[Task]:
        with self._lock:
            return [run.task for run in self._runs.values()]

    def location(self, task_id: str) -> TaskLocation | None:
        with self._lock:
            run = self._runs.get(task_id)
            return None if run is None else TaskLocation(folder=run.folder, host=self.host, pid=run.pid)

    def adopt(self, tasks: Sequence[tuple[Task, TaskLocation]]) -> set[str]:
        """Watch again the workers of `tasks` that still run on the host (or ended with a result nobody saw), and
        stop every other worker in this executor's task area. A host that cannot be reached adopts nothing: the
        caller re-queues those tasks, and their workers are stopped once the host is back."""
        wanted = {where.folder: (task, where) for task, where in tasks if where.host == self.host}
        try:
            self._session()  # connects without sweeping: the sweep must keep what is adopted
            area = self._area()
            wanted = {folder: item for folder, item in wanted.items() if PurePosixPath(folder).parent == area}
            with self._session_lock:
                states = self._sweep(list(wanted))
        except RemoteError:
            self._adopted_once = True  # the first connection that works sweeps
            self._start_watching()
            return set()
        self._adopted_once = True
        adopted = set()
        with self._lock:
            for folder, (task, where) in wanted.items():
                state = states.get(folder, {})
                pid = state.get("pid") or where.pid
                if pid is None or not (state.get("alive") or state.get("result")) or task.task_id in self._runs:
                    continue  # gone: the caller re-queues it
                if task.device not in self._placement.candidates() or self._busy(task.device):
                    self._send_stop(_Run(task, folder, time.monotonic(), pid))  # no longer ours to run there
                    continue
                self._runs[task.task_id] = _Run(task, folder, time.monotonic(), pid, adopted=True)
                adopted.add(task.task_id)
        self._start_watching()
        return adopted

    def submit(self, task: Task) -> None:
        if not self._adopted_once:
            self.adopt([])  # a first run on this area: nothing to adopt, but leftovers must not share devices
        with self._lock:
            if task.device not in self._placement.candidates():
                raise ValueError(f"unknown device {task.device!r}; {self.host} has "
                                 f"{', '.join(self._placement.candidates()) or 'none'}")
            if task.task_id in self._runs:
                raise ValueError(f"task {task.task_id!r} is already running")
            busy = self._busy(task.device)
            if busy is not None:
                raise ValueError(f"device {task.device} of {self.host} is busy with task {busy!r}; wait for it first")
            # Known before the host is reached: the store records it at once, and a restarted run finds it there.
            run = _Run(task, str(self._area() / folder_name(task)), time.monotonic())
            self._runs[task.task_id] = run
        starter = threading.Thread(target=self._start, args=(run,), daemon=True, name=f"start-{task.task_id}")
        self._starters.append(starter)
        starter.start()

    def wait(self, timeout: float | None = None) -> list[TaskResult]:
        with self._lock:
            if not self._runs:
                return []  # nothing can end: blocking would hang the caller
        ended = ended_so_far(self._ended, timeout)
        with self._lock:
            return [result for result in ended if self._runs.pop(result.task_id, None) is not None]

    def cancel(self, task_id: str) -> None:
        """Stop a running task: SIGTERM to its process group on the host, SIGKILL after the grace period."""
        with self._lock:
            run = self._runs.get(task_id)
            if run is None or run.cancelled or run.ended:
                return
            run.cancelled = True
            if run.pid is not None:
                self._send_stop(run)
        # A task still starting is stopped by its starter, right after its worker started (or instead).

    def events(self, task_id: str, offset: int = 0) -> tuple[list[wire.Event], int]:
        """Progress events read from byte `offset` of the task's progress.jsonl on the host."""
        with self._lock:
            run = self._runs.get(task_id)
        if run is None or run.pid is None or self._down_since is not None:
            return [], offset
        progress = f"{run.folder}/{wire.PROGRESS_FILE}"
        try:
            return wire.parse_events(self._link.files(lambda files: files.read(progress, offset, EVENTS_READ_BYTES)),
                                     offset)
        except (RemoteError, FileNotFoundError):
            return [], offset  # away for now: the watcher notices, and the next read goes on from `offset`

    def detach(self) -> None:
        """Stop watching without stopping anything: the workers go on (one being started is started first, so its
        folder names it); the next run adopts them."""
        self._stop.set()
        for starter in self._starters:
            starter.join()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout=self._link.timeout + 5)
        with self._lock:
            self._runs.clear()
        self._link.close()

    # --- beyond the protocol -----------------------------------------------------------------------------------

    def close(self) -> None:
        """Cancel every running task and wait until each is seen ended (unreported), then close the connection."""
        for task in self.running():
            self.cancel(task.task_id)
        deadline = time.monotonic() + self._grace + 30
        while time.monotonic() < deadline and self._down_since is None:
            with self._lock:
                if all(run.ended for run in self._runs.values()):
                    break
            time.sleep(0.1)
        self.detach()

    def __enter__(self) -> "SSHExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the host ----------------------------------------------------------------------------------------------

    def _session(self) -> tuple[str, str]:
        """The host's root folder and code folder, over an open connection; a new connection first checks the
        code is there and sweeps the task area (after adoption: adopt() sweeps with what it keeps)."""
        with self._session_lock:
            self._link.client()
            if self._root is None:
                self._root = self._link.files(lambda files: _absolute(self._root_spec, files.home()))
            connection = self._link.connects
            if self._code is None or self._swept != connection:
                self._code, sent = ensure_code(self._link, self._root)
                self.code_sends += sent
            if self._adopted_once and self._swept != connection:
                with self._lock:
                    keep = [run.folder for run in self._runs.values() if not run.ended]
                self._sweep(keep)
            return self._root, self._code

    def _area(self) -> PurePosixPath:
        return PurePosixPath(self._root or self._root_spec) / "tasks" / self._area_name

    def _sweep(self, keep: list[str]) -> dict[str, dict[str, Any]]:
        """Stop the workers of the task area not in `keep`; the states of those in it (caller holds the session
        lock)."""
        answer = self._call("sweep", {"area": str(self._area()), "keep": keep, "grace": self._grace},
                            timeout=self._grace + 60)
        self._swept = self._link.connects
        return answer["tasks"]

    def _call(self, command: str, request: Mapping[str, Any], timeout: float = 120.0) -> dict[str, Any]:
        assert self._code is not None
        return call(self._link, self._python, self._code, MODULE, command, request, timeout)

    # --- starting ----------------------------------------------------------------------------------------------

    def _start(self, run: _Run) -> None:
        try:
            self._session()
            with self._lock:
                run.folder = str(self._area() / folder_name(run.task))
            dataset = self._dataset(str(run.task.config.get("dataset", "")))
            self._weights(run.task.arm.name)
            request = task_request(run.task, run.folder, dataset=dataset)
            if run.cancelled:
                self._report(run, None)
                return
            root, _ = self._session()
            pid = self._call("start", {"folder": run.folder, "task": request.to_json(),
                                       "env": {"TORCH_HOME": torch_home(root)}})["pid"]
            with self._lock:
                run.pid = pid
                self._failed_starts, self._resting_until = 0, float("-inf")
                if run.cancelled:
                    self._send_stop(run)
            self._start_watching()
        except (DatasetError, wire.BadTask) as error:  # the task's own fault: its model is not tried again
            self._report(run, wire.TaskOutcome(state=wire.FAILED,
                                               error=f"could not start the task on {self.host}: {error}"))
        except (RemoteError, OSError) as error:  # the host's fault, a lost connection too: retried, counted
            # A start that lost its connection rests the host like any failed start: re-queued at once and not
            # counted, a host that drops every start would be handed the task again and again, for ever.
            rest = self._rest()
            self._report(run, wire.TaskOutcome(
                state=wire.FAILED, error=f"could not start the task on {self.host} (its model is tried again, "
                                         f"{MAX_RETRIES} times at most; {self.host} takes no new task for {rest:.0f} "
                                         f"s): {self._start_failure(error)}"), retryable=True)

    def _rest(self) -> float:
        """Take the host out of rotation after a failed start; returns for how many seconds."""
        with self._lock:
            self._failed_starts += 1
            rest = min(START_REST_S * 2 ** (self._failed_starts - 1), START_REST_MAX_S)
            self._resting_until = time.monotonic() + rest
        return rest

    def _start_failure(self, error: Exception) -> str:
        """What went wrong, said plainly when it is the host's disk (SFTP only says "Failure" or a size mismatch)."""
        if isinstance(error, Unreachable):  # no disk to ask about
            return f"{self.host} became unreachable while the task was starting ({error})"
        folder = self._root or self._root_spec
        free = free_mib(self._link, folder)
        if free is not None and free < LOW_DISK_MIB:
            return (f"no space left on its disk ({free} MiB free for {folder}); free space there, or give the "
                    f"hosts another work folder with EASEML_REMOTE_DIR ({error})")
        return str(error)

    def _dataset(self, local: str) -> str:
        """The host's copy of a registered dataset, synced and checked; one sync per dataset at a time."""
        with self._lock:
            lock = self._dataset_locks.setdefault(local, threading.Lock())
        with lock:
            root, code = self._session()
            synced = sync_dataset(self._link, self._python, code, root, local)
            self.files_sent += synced.files_sent
            return synced.folder

    def _weights(self, arm: str) -> None:
        """A pretrained arm's ImageNet weights, the file this lab checked, on the host before the task starts."""
        spec = arm_spec(arm)
        if not spec.pretrained:
            return
        entry = weights_for(spec.model)
        if entry is None:
            raise RemoteError(f"the lab has no ImageNet weights for {spec.model} to send; run `easeml-gui weights "
                              f"fetch {spec.model}` or `weights import FILE --model {spec.model}`")
        with self._lock:
            lock = self._dataset_locks.setdefault(f"weights:{spec.model}", threading.Lock())
        with lock:
            root, code = self._session()
            self.files_sent += ensure_weights(self._link, self._python, code, root, entry)

    def _busy(self, device: str) -> str | None:
        return next((run.task.task_id for run in self._runs.values() if run.task.device == device), None)

    def _send_stop(self, run: _Run) -> None:
        """Stop a worker on the host (off the caller's thread: the grace period runs there)."""
        run.stopping = True

        def stop() -> None:
            try:
                self._session()
                self._call("stop", {"folder": run.folder, "pid": run.pid, "grace": self._grace},
                           timeout=self._grace + 60)
            except RemoteError:
                run.stopping = False  # the watcher sends it again once the host answers

        threading.Thread(target=stop, daemon=True, name=f"stop-{run.task.task_id}").start()

    # --- watching ----------------------------------------------------------------------------------------------

    def _start_watching(self) -> None:
        with self._lock:
            if self._watcher is None and not self._stop.is_set():
                self._watcher = threading.Thread(target=self._watch, daemon=True, name=f"watch-{self.host}")
                self._watcher.start()

    def _watch(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self._poll_once()
                self._down_since = None
            except (RemoteError, OSError, ValueError, KeyError) as error:
                self._away(error)

    def _poll_once(self) -> None:
        with self._lock:
            runs = [run for run in self._runs.values() if run.pid is not None and not run.ended]
        gpus = self._placement.has_gpus and time.monotonic() - self._smi_at >= GPU_POLL_SECONDS
        if not runs and not gpus and self._down_since is None:
            return
        self._session()
        answer = self._call("poll", {"tasks": [[run.folder, run.pid] for run in runs], "gpus": gpus})
        if answer.get("smi") is not None:
            self._smi, self._smi_at = answer["smi"], time.monotonic()
        for run in runs:
            state = answer["tasks"][run.folder]
            if not state["alive"]:
                self._collect(run)
            elif run.cancelled and not run.stopping:
                self._send_stop(run)  # the first stop did not reach the host

    def _away(self, error: Exception) -> None:
        """The host did not answer: after `unreachable_timeout` its tasks are given up (CANCELLED: re-queued)."""
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            return
        away = now - self._down_since
        if away < self._unreachable_timeout:
            return
        with self._lock:
            runs = [run for run in self._runs.values() if not run.ended]
        for run in runs:
            self._report(run, None, cancelled_because=(
                f"{self.host} unreachable for {away:.0f} s ({error}): the task was re-queued; its worker there is "
                "stopped when the host is back, and never counted"))

    def _collect(self, run: _Run) -> None:
        """Fetch an ended task's result (and, when done, the files it names: its checkpoint) into its local folder,
        then report it."""
        local = self._local_dir / PurePosixPath(run.folder).name
        local.mkdir(parents=True, exist_ok=True)

        def fetch(files: FileTransfer) -> wire.TaskOutcome | None:
            try:
                result = wire.TaskOutcome.from_json(files.read(f"{run.folder}/{wire.RESULT_FILE}"))
            except FileNotFoundError:
                return None  # died before writing one
            if result is not None and result.state == wire.DONE:
                for name in result.files():
                    files.download(f"{run.folder}/{name}", local / name)
            return result

        result = self._link.files(fetch)
        if result is not None:
            wire.write_result(local, result)
        self._report(run, result)

    def _log_tail(self, run: _Run) -> str:
        log = f"{run.folder}/{wire.LOG_FILE}"
        try:
            return self._link.files(lambda files: files.read(log, -LOG_TAIL_CHARS)).decode(errors="replace").strip()
        except (RemoteError, FileNotFoundError):
            return "(the log could not be read from the host)"

    def _report(self, run: _Run, result: wire.TaskOutcome | None, cancelled_because: str | None = None,
                retryable: bool = False) -> None:
        """`retryable`: a failure of the host, not of the task's model (engine/types.py RETRYABLE)."""
        with self._lock:
            if run.ended:
                return
            run.ended = True
        cost = time.monotonic() - run.started
        if run.adopted and result is not None:
            cost = max(cost, result.seconds or 0.0)
        details = {"folder": str(self._local_dir / PurePosixPath(run.folder).name), "host": self.host,
                   "remote_folder": run.folder, **({RETRYABLE: True} if retryable else {})}
        if cancelled_because is not None:
            report = TaskResult(task_id=run.task.task_id, tenant=run.task.tenant, arm=run.task.arm,
                                device=run.task.device, state=TaskState.CANCELLED, cost=cost,
                                error=cancelled_because, details=details)
        else:
            report = task_result(run.task, result, cost=cost, cancelled=run.cancelled, exit_code=None,
                                 log_tail=lambda: self._log_tail(run), details=details)
        self._ended.put(report)


def _absolute(root: str, home: str) -> str:
    """The host's root folder as an absolute path: `~/x` and relative paths are in the remote user's home."""
    if root == "~" or root.startswith("~/"):
        root = root[2:]
    return str(PurePosixPath(home) / root)
