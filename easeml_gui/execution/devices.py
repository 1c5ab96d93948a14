"""This machine's devices, found without importing torch (the GUI and CLI must start fast and work without it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Mapping


def local_devices(env: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """("cuda:0", "cuda:1", ...) for the GPUs CUDA will show a worker, else ("cpu",)."""
    count = _nvidia_smi_gpus()
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        # CUDA renumbers the visible GPUs from 0 and stops at the first invalid entry ("-1" hides all)
        ids = []
        for item in visible.split(","):
            if not item.strip() or item.strip().startswith("-"):
                break
            ids.append(item)
        count = min(count, len(ids))
    return tuple(f"cuda:{i}" for i in range(count)) or ("cpu",)


def _nvidia_smi_gpus() -> int:
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return 0
    try:
        listing = subprocess.run([executable, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return 0  # a wedged driver: run on the CPU rather than hang the app
    if listing.returncode != 0:
        return 0
    return sum(1 for line in listing.stdout.splitlines() if line.startswith("GPU "))
