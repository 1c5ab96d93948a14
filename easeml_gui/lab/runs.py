"""A lab run as the window and the terminal share it: one run per store (a lock that names its process), started
as a background process of its own, stopped the way Ctrl-C stops it (running tasks finish) or cancelled (SIGTERM).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shlex
import signal
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..engine.policies import get_policy, policy_names
from ..log_setup import rotate
from ..training.staging import process_alive
from .errors import LabError

LOG_TAIL_BYTES = 4096
_log = logging.getLogger(__name__)


def lock_path(db: Path) -> Path:
    """Beside the real store file, named by its device and inode: every path to the store (a symlink, a relative
    path, a hard link in its folder) takes the same lock. OSError when there is no store file."""
    real = db.resolve()
    found = os.stat(real)
    return real.with_name(f".easeml-run-{found.st_dev:x}-{found.st_ino}.lock")


def log_path(db: Path) -> Path:
    """Where a run started from the window writes what it prints (a terminal's run prints to the terminal); the
    earlier runs' logs are beside it as .1 (the last one), .2 ..., as many and as large as log_setup allows."""
    return db.with_name(db.name + ".run.log")


@contextmanager
def run_lock(db: Path) -> Iterator[None]:
    """One `run` per store, held while the run lives: a second one would re-queue the first one's running tasks.
    The lock is the kernel's (flock), so a crashed run never leaves it taken. The holder writes its pid into the
    lock file, so the window can show and stop a run started from a terminal. The store file must exist (the run
    opens it first)."""
    # Opened without truncating: a refused second run must not erase the holder's pid.
    fd = os.open(lock_path(db), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LabError(f"another `easeml-gui run` is using {db}; stop it first (one run per lab)") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # the lab stopped: nobody to signal any more
    finally:
        os.close(fd)  # releases the lock


@dataclass(frozen=True)
class RunState:
    pid: int | None  # the process running the lab, None when no run holds the store
    log_tail: str = ""  # the last lines a run started from the window printed

    @property
    def running(self) -> bool:
        return self.pid is not None


def running_pid(db: Path) -> int | None:
    """The pid of the run that holds `db`'s lock now, or None."""
    try:
        text = lock_path(db).read_text().strip()
    except OSError:
        return None
    if not text.isdigit() or not process_alive(int(text)):
        return None
    # A live pid could be a stale one reused by another process after a crash: the lock tells. Probing with a
    # shared lock only ever succeeds when no run holds it, so a real run is never disturbed.
    try:
        fd = os.open(lock_path(db), os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return int(text)
    finally:
        os.close(fd)
    return None


def state(db: Path) -> RunState:
    return RunState(running_pid(db), _tail(log_path(db)))


ALL_DEVICES, LOCAL = "all", "local"  # `run --devices` words: every ready host and this machine; this machine


@dataclass(frozen=True)
class RunChoice:
    """What a run uses, as `easeml-gui run`'s flags: --devices (local, all, or names: hosts and `local`),
    --policy, --max-tasks (None: until every job is done)."""

    devices: tuple[str, ...] = (LOCAL,)
    policy: str = "default"
    max_tasks: int | None = None

    def flags(self) -> list[str]:
        flags = ["--devices", ",".join(self.devices), "--policy", self.policy]
        return flags if self.max_tasks is None else [*flags, "--max-tasks", str(self.max_tasks)]

    def check(self) -> None:
        """LabError when `run` would refuse these flags: better said before a process starts."""
        if not self.devices or any(not name or "," in name for name in self.devices):
            raise LabError("choose the devices to run on: this machine, hosts, or all")
        if ALL_DEVICES in self.devices and len(self.devices) > 1:
            raise LabError("`all` already means this machine and every ready host; choose it alone")
        if self.policy not in policy_names():
            raise LabError(f"unknown policy {self.policy!r}; choose one of {', '.join(policy_names())}")
        if self.max_tasks is not None and self.max_tasks < 1:
            raise LabError(f"the task limit must be at least 1 (or none), not {self.max_tasks}")


def policies() -> dict[str, str]:
    """The policies a run may use -> what each does, in the order `run --help` lists them."""
    return {name: get_policy(name).description for name in policy_names()}


def command(db: Path, choice: RunChoice, data_dir: Path | None = None, python: str = sys.executable) -> list[str]:
    """The `easeml-gui run` that start() spawns, with `choice`'s flags, writing to log_path(db)."""
    data = [] if data_dir is None else ["--data-dir", str(data_dir)]
    return [python, "-m", "easeml_gui", "--log-file", str(log_path(db)), "--db", str(db), *data, "run",
            *choice.flags()]


def start(db: Path, data_dir: Path | None = None, choice: RunChoice = RunChoice(),
          python: str = sys.executable) -> subprocess.Popen:
    """`easeml-gui --db DB run` with `choice`'s flags as a background process in a session of its own, so closing
    the window (or its terminal) does not stop training. Its output goes to a fresh log_path(db), under the command
    line as its first line (what was started is there to read). Refused while a run holds the store."""
    choice.check()
    if running_pid(db) is not None:
        raise LabError(f"a run is already using {db}; stop it first (one run per lab)")
    argv = command(db, choice, data_dir, python)
    db.parent.mkdir(parents=True, exist_ok=True)
    # The last run's log becomes .1 (and so on), so each run starts a file of its own and none is lost to the next
    # Start. The child's `--log-file` then writes to this file through a rotating handler (a long run stays bounded);
    # its stdout and stderr point here too, for what comes before its logging is set up (a usage error, a crash on
    # import). Appending: the child opens the same file for appending, and neither overwrites the other.
    rotate(log_path(db))
    with open(log_path(db), "a", encoding="utf-8") as log:
        log.write(shlex.join(argv) + "\n")
        log.flush()  # before the child's own lines, which share the file
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    _log.debug("started a run (process %d): %s", child.pid, shlex.join(argv))
    return child


def stop(db: Path, cancel: bool = False) -> int:
    """Ask the run on `db` to stop: as Ctrl-C does (no new tasks, running ones finish), or with `cancel` as
    SIGTERM does (running tasks are cancelled). Returns the pid signalled."""
    pid = running_pid(db)
    if pid is None:
        raise LabError("no run is using this lab; start one first")
    try:
        os.kill(pid, signal.SIGTERM if cancel else signal.SIGINT)
    except ProcessLookupError:
        raise LabError("the run ended before it could be stopped") from None
    except PermissionError:
        raise LabError(f"the run (process {pid}) belongs to another user; stop it from that user's terminal") from None
    return pid



def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - LOG_TAIL_BYTES))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
