"""Opening the executors of a lab run from `--devices`: "local" (this machine), "all" (this machine and every
registered host that is ready), or a list such as "local,box1,box2". Hosts are checked before anything starts:
known, trusted, and ready by a fresh probe."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

from ..engine.ports import Executor
from ..execution.composite import CompositeExecutor
from ..execution.local import LocalExecutor
from ..remote.connection import AskPassphrase, Credentials
from ..remote.errors import RemoteError
from ..remote.executor import UNREACHABLE_TIMEOUT_S, SSHExecutor
from ..remote.placement import Placement
from ..remote.probe import WORK_DIR
from ..remote.session import HostLink
from ..store import LabStore, StoreError
from . import hosts

LOCAL, ALL = "local", "all"
REMOTE_DIR_ENV = "EASEML_REMOTE_DIR"  # the work folder on every host (default ~/.easeml-gui)


class DevicesError(Exception):
    """A --devices value that cannot be run: the message says what to do."""


def open_executor(store: LabStore, spec: str, data_dir: Path, *, ask_passphrase: AskPassphrase | None = None,
                  on_skip: Callable[[str, str], None] = lambda host, why: None,
                  unreachable_timeout: float = UNREACHABLE_TIMEOUT_S) -> Executor:
    """The executor for `spec`. A named host that is unknown, untrusted or not ready raises DevicesError, and
    nothing is started; with "all", such hosts are left out and `on_skip(host, why)` says why."""
    if spec == LOCAL:
        return LocalExecutor(data_dir / "tasks")
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if spec == ALL:
        names = [LOCAL, *(host.name for host in store.hosts())]
    if not names or len(set(names)) != len(names):
        raise DevicesError(f"--devices {spec!r}: name each host once, e.g. local,box1,box2 (or all)")
    members: dict[str | None, Executor] = {}
    for name in names:
        if name == LOCAL:
            members[None] = LocalExecutor(data_dir / "tasks")
            continue
        try:
            members[name] = open_host(store, name, data_dir, ask_passphrase, unreachable_timeout)
        except DevicesError as error:
            if spec != ALL:
                raise
            on_skip(name, str(error))
    return CompositeExecutor(members)


def open_host(store: LabStore, name: str, data_dir: Path, ask_passphrase: AskPassphrase | None = None,
              unreachable_timeout: float = UNREACHABLE_TIMEOUT_S) -> SSHExecutor:
    """The SSH executor of host `name`, once it is known, trusted and ready (probed now)."""
    try:
        host = store.host(name)
    except StoreError:
        raise DevicesError(f"no host named {name!r}: add it with `easeml-gui host add {name} --address ...` "
                           "(`easeml-gui host list` shows the hosts)") from None
    try:
        trust = hosts.trust_of(store, name)
    except RemoteError as error:
        raise DevicesError(f"host {name}: {error}") from None
    if not trust.keys:
        raise DevicesError(f"host {name} is not trusted yet: run `easeml-gui host trust {name}` to check its "
                           "host key and accept it, then run again")
    probe = hosts.probe(store, name, ask_passphrase=ask_passphrase)
    if not probe["ready"]:
        raise DevicesError(f"host {name} is not ready: {probe['status']}; fix that, check with "
                           f"`easeml-gui host probe {name}`, then run again")
    host = store.host(name)  # with the probe just taken
    credentials = Credentials(key_path=Path(host.key_path) if host.key_path else None, ask_passphrase=ask_passphrase)
    return SSHExecutor(HostLink(trust, credentials), Placement.of(host), python=host.python,
                       root=os.environ.get(REMOTE_DIR_ENV, WORK_DIR), local_dir=data_dir / "tasks" / name,
                       area=lab_area(data_dir), unreachable_timeout=unreachable_timeout)


def lab_area(data_dir: Path) -> str:
    """The name of this lab's task area on a host: two labs sharing a host never stop each other's workers."""
    return hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]
