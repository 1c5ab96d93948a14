"""Probing a host: run probe_script.py with the host's python (and see whether its sshd offers SFTP), then turn its
report into one plain status for the host and one per GPU, and the devices a lab run may use there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import paramiko

from ..store import HostRecord
from .errors import RemoteCommandFailed, RemoteError
from .shell import run
from .transfer import NO_SFTP, offers_sftp

WORK_DIR = "~/.easeml-gui"  # where remote tasks will live on the host: the probe reports its free disk
PROBE_TIMEOUT_S = 120.0  # importing torch on a busy host can take a while
MIN_PYTHON = (3, 10)  # what the worker needs (the project's requires-python)
LOW_DISK_MIB = 1024
_SCRIPT = Path(__file__).with_name("probe_script.py")


def run_probe(client: paramiko.SSHClient, python: str, work_dir: str = WORK_DIR,
              timeout: float = PROBE_TIMEOUT_S) -> dict[str, Any]:
    """The host's report (see probe_script.py), from one run of `<python> - WORK_DIR` with the script on stdin, and
    "sftp": whether the host's sshd offers SFTP."""
    done = run(client, [python, "-", work_dir], stdin=_SCRIPT.read_bytes(), timeout=timeout)
    if done.returncode == 127:  # the shell's "command not found"
        raise RemoteCommandFailed(
            f"no python at {python!r} on the host; install Python >= {_version(MIN_PYTHON)} there or name one with "
            "`easeml-gui host set NAME --python PATH`", status=f"no python: {python} not found")
    tail = done.stderr.decode(errors="replace").strip().splitlines()[-5:]
    try:
        if done.returncode != 0:
            raise ValueError
        report = json.loads(done.stdout)
    except ValueError:
        raise RemoteCommandFailed(
            f"the probe failed on the host ({python} exit status {done.returncode}): " + " / ".join(tail),
            status=f"probe failed: {tail[-1] if tail else f'exit status {done.returncode}'}") from None
    return {**report, "sftp": offers_sftp(client, timeout)}


def assess(report: Mapping[str, Any], host: HostRecord) -> dict[str, Any]:
    """The stored probe: {"status", "ready", "devices", "gpus": [{... "status", "ready"}], "notes", "report"}.

    A host is "ready" when its python, torch and torchvision can run the worker, its disk has room and at least
    one GPU may take a task (or, with no GPU at all, its CPU: "ready (CPU only)")."""
    notes: list[str] = []
    if report.get("sftp") is False:  # information only: transfers go over exec channels (remote/transfer.py)
        notes.append(NO_SFTP)
    gpus = [gpu_status(g, host, report["user"]) for g in _gpus(report, notes)]
    ready_gpus = sorted((g for g in gpus if g["ready"]), key=lambda g: gpu_rank(g["index"], host))
    problem = _software_problem(report, host.python)
    if problem is None and gpus and not report.get("cuda", {}).get("available"):
        problem = (f"CUDA not visible: nvidia-smi sees {len(gpus)} GPU(s) but torch {report['torch']} in "
                   f"{host.python} cannot use them ({_why_no_cuda(report)}); install a CUDA build of torch there")
    if host.gpus is not None:
        missing = sorted(set(host.gpus) - {g["index"] for g in gpus})
        if missing:
            notes.append(f"GPU {', '.join(map(str, missing))} (host set --gpus) not found on the host")
    if problem is not None:
        status, devices = problem, []
    elif not gpus:
        status, devices = "ready (CPU only)", ["cpu"]
    elif ready_gpus:
        status, devices = "ready", [f"cuda:{g['index']}" for g in ready_gpus]
    else:
        status, devices = "; ".join(g["status"] for g in gpus), []
    return {"status": status, "ready": bool(devices), "devices": devices, "gpus": gpus, "notes": notes,
            "report": dict(report)}


def _software_problem(report: Mapping[str, Any], python: str) -> str | None:
    version = tuple(int(p) for p in str(report["python"]).split(".")[:2])
    if version < MIN_PYTHON:
        return (f"python {report['python']} too old: the worker needs >= {_version(MIN_PYTHON)}; name another with "
                "`easeml-gui host set NAME --python PATH`")
    if report.get("torch") is None:
        if report.get("torch_missing"):
            return f"no torch: install it with {python} -m pip install torch torchvision"
        return (f"torch is broken ({report.get('torch_error')}): reinstall it with "
                f"{python} -m pip install --force-reinstall torch torchvision")
    if report.get("torchvision") is None:
        return f"no torchvision: install it with {python} -m pip install torchvision"
    disk = report["disk"]
    if disk["free_mib"] < LOW_DISK_MIB:
        return f"disk nearly full: {disk['free_mib']} MiB free for {disk['work_dir']}; free space on the host"
    return None


def _gpus(report: Mapping[str, Any], notes: list[str]) -> list[dict[str, Any]]:
    """nvidia-smi's GPUs (numbered as it numbers them) joined with what torch sees of each, matched by UUID;
    torch's devices alone when the host has no nvidia-smi."""
    cuda = report.get("cuda", {}).get("devices", [])
    if report.get("nvidia_smi_error"):
        notes.append(f"nvidia-smi failed ({report['nvidia_smi_error']}): other users' processes are unknown")
    smi = report.get("gpus", [])
    if not smi:
        return [{"index": d["cuda_index"], "name": d["name"], "total_mib": d["total_mib"], "free_mib": d["free_mib"],
                 "visible": True, "processes": []} for d in cuda]
    seen = {d["uuid"]: d for d in cuda}
    return [{"index": g["index"], "name": g["name"], "total_mib": g["total_mib"],
             # torch's figure when it sees the GPU: what a task could allocate now
             "free_mib": seen[g["uuid"]]["free_mib"] if g["uuid"] in seen else g["total_mib"] - g["used_mib"],
             "visible": g["uuid"] in seen, "processes": g["processes"]} for g in smi]


def gpu_status(gpu: dict[str, Any], host: HostRecord, me: str) -> dict[str, Any]:
    i = gpu["index"]
    others: dict[str, int] = {}
    for p in gpu["processes"]:
        if p["user"] != me:
            others[p["user"] or "unknown"] = others.get(p["user"] or "unknown", 0) + (p["used_mib"] or 0)
    held = "; ".join(f"user {u}, {_gib(m)}" for u, m in others.items())
    if host.gpus is not None and i not in host.gpus:
        status, ready = f"GPU {i} not used (left out by host set --gpus)", False
    elif not gpu["visible"]:
        status, ready = f"GPU {i} not visible to CUDA in {host.python}", False
    elif others and not host.share_busy_gpus:
        status, ready = f"GPU {i} busy ({held})", False
    elif others:
        status, ready = f"GPU {i} ready, shared ({held}; {_gib(gpu['free_mib'])} free)", True
    else:
        status, ready = f"GPU {i} ready ({_gib(gpu['free_mib'])} free of {_gib(gpu['total_mib'])})", True
    return {**gpu, "status": status, "ready": ready}


def gpu_rank(index: int, host: HostRecord) -> int:
    return host.gpus.index(index) if host.gpus is not None else index


def _why_no_cuda(report: Mapping[str, Any]) -> str:
    if report["cuda"].get("error"):
        return report["cuda"]["error"]
    build = report.get("torch_cuda_build")
    return "a CPU-only build" if build is None else f"built for CUDA {build}"


def _gib(mib: int) -> str:
    return f"{mib / 1024:.0f} GiB" if mib >= 10 * 1024 else f"{mib / 1024:.1f} GiB"


def _version(v: tuple[int, ...]) -> str:
    return ".".join(map(str, v))


def failed(error: RemoteError) -> dict[str, Any]:
    """The stored probe of a host that could not be probed: the same shape, its status the error's."""
    return {"status": error.status, "ready": False, "devices": [], "gpus": [], "notes": [str(error)], "report": None}
