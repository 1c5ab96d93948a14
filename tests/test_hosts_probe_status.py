"""From a host's probe report to plain statuses: GPUs other users hold, the GPUs a host may use and their order,
CUDA invisible to torch, missing software. Reports are shaped as probe_script.py prints them on a GPU host."""

from __future__ import annotations

import dataclasses
from typing import Any

from easeml_gui.remote.probe import assess
from easeml_gui.store import HostRecord

HOST = HostRecord(name="gpu1", address="gpu1.lab", user=None, port=22, key_path=None, host_key_fingerprint=None,
                  last_probe=None, probed=None, created=0.0, archived=None, python="/opt/py/bin/python")


def gpu_report(**changes: Any) -> dict[str, Any]:
    report = {
        "python": "3.11.4", "executable": "/opt/py/bin/python", "user": "lab", "hostname": "gpu1", "cpus": 32,
        "load": [1.0, 1.0, 1.0], "disk": {"work_dir": "/home/lab/.easeml-gui", "free_mib": 500_000},
        "nvidia_smi": True, "torch": "2.4.0", "torch_cuda_build": "12.1", "torchvision": "0.19.0",
        "gpus": [
            {"index": 0, "uuid": "GPU-a", "name": "A100", "total_mib": 40960, "used_mib": 500, "processes": [
                {"pid": 10, "user": "lab", "used_mib": 500}]},
            {"index": 1, "uuid": "GPU-b", "name": "A100", "total_mib": 40960, "used_mib": 30720, "processes": [
                {"pid": 11, "user": "bob", "used_mib": 30720}]},
        ],
        "cuda": {"available": True, "devices": [
            {"cuda_index": 0, "uuid": "GPU-a", "name": "A100", "total_mib": 40960, "free_mib": 40000},
            {"cuda_index": 1, "uuid": "GPU-b", "name": "A100", "total_mib": 40960, "free_mib": 10000}]},
    }
    report.update(changes)
    return report


def test_a_gpu_another_user_holds_is_busy_unless_sharing_is_allowed() -> None:
    result = assess(gpu_report(), HOST)
    assert result["status"] == "ready" and result["devices"] == ["cuda:0"]
    assert [g["status"] for g in result["gpus"]] == ["GPU 0 ready (39 GiB free of 40 GiB)",
                                                    "GPU 1 busy (user bob, 30 GiB)"]
    shared = assess(gpu_report(), dataclasses.replace(HOST, share_busy_gpus=True))
    assert shared["devices"] == ["cuda:0", "cuda:1"]
    assert shared["gpus"][1]["status"] == "GPU 1 ready, shared (user bob, 30 GiB; 9.8 GiB free)"


def test_allowed_gpus_come_in_their_order_and_the_others_are_left_out() -> None:
    result = assess(gpu_report(), dataclasses.replace(HOST, gpus=(1, 0), share_busy_gpus=True))
    assert result["devices"] == ["cuda:1", "cuda:0"]
    only_busy = assess(gpu_report(), dataclasses.replace(HOST, gpus=(1, 3)))
    assert only_busy["ready"] is False and only_busy["status"].startswith(
        "GPU 0 not used (left out by host set --gpus); GPU 1 busy (user bob, 30 GiB)")
    assert only_busy["notes"] == ["GPU 3 (host set --gpus) not found on the host"]


def test_drivers_without_cuda_in_python_is_not_ready() -> None:
    result = assess(gpu_report(torch_cuda_build=None, cuda={"available": False, "devices": []}), HOST)
    assert result["ready"] is False and result["devices"] == []
    assert result["status"].startswith("CUDA not visible: nvidia-smi sees 2 GPU(s) but torch 2.4.0 in "
                                       "/opt/py/bin/python cannot use them (a CPU-only build)")


def test_missing_software_and_a_full_disk_say_how_to_fix_them() -> None:
    assert assess(gpu_report(torch=None, torch_missing=True), HOST)["status"] == \
        "no torch: install it with /opt/py/bin/python -m pip install torch torchvision"
    assert assess(gpu_report(torchvision=None), HOST)["status"] == \
        "no torchvision: install it with /opt/py/bin/python -m pip install torchvision"
    assert assess(gpu_report(python="3.8.10"), HOST)["status"].startswith("python 3.8.10 too old")
    full = assess(gpu_report(disk={"work_dir": "/home/lab/.easeml-gui", "free_mib": 200}), HOST)
    assert full["status"] == "disk nearly full: 200 MiB free for /home/lab/.easeml-gui; free space on the host"
