"""Remote hosts as the Hosts tab lists them, from the store's host records and their last probe (pure Python:
no Qt, no SSH; read on the poller's thread with the rest of the lab)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..lab.read_model import HostRecord, host_status


@dataclass(frozen=True)
class GpuRow:
    index: int
    name: str
    memory: str  # "23.5 of 24.0 GiB free"
    others: str  # other users' processes on it, "" when none
    status: str  # the probe's verdict for it ("GPU 0 ready (...)", "GPU 1 busy (...)")


@dataclass(frozen=True)
class HostRow:
    name: str
    address: str  # user@host:port as connections use it
    alias: str | None
    fingerprint: str | None  # the pinned host key; None: not trusted yet
    status: str  # the last probe's verdict, "never probed" before one
    ready: bool
    probed: float | None
    gpus: tuple[GpuRow, ...]
    allowed: tuple[int, ...] | None  # the GPUs tasks may use; None: all
    python: str  # the interpreter that runs the worker on the host


def _gib(mib: float) -> str:
    return f"{mib / 1024:.1f}"


def gpu_row(gpu: Mapping[str, Any]) -> GpuRow:
    users: dict[str, int] = {}
    for process in gpu.get("processes", ()):
        user = process.get("user") or "unknown"
        users[user] = users.get(user, 0) + int(process.get("used_mib") or 0)
    others = ", ".join(f"{user} ({_gib(mib)} GiB)" for user, mib in users.items())
    return GpuRow(int(gpu["index"]), str(gpu.get("name", "")),
                  f"{_gib(gpu.get('free_mib', 0))} of {_gib(gpu.get('total_mib', 0))} GiB free", others,
                  str(gpu.get("status", "")))


def host_row(host: HostRecord) -> HostRow:
    probe = host.last_probe or {}
    user = f"{host.user}@" if host.user else ""
    return HostRow(host.name, f"{user}{host.address}:{host.port}", host.ssh_alias, host.host_key_fingerprint,
                   host_status(host), bool(probe.get("ready", False)), host.probed,
                   tuple(gpu_row(g) for g in probe.get("gpus", ())), host.gpus, host.python)
