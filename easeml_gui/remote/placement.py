"""Which of a host's devices may take a task now: its last probe says which GPUs CUDA sees and the admin allows
(host set --gpus, in that order); a fresh nvidia-smi view says which of them have room and who holds them. A GPU
another user's process holds is skipped unless the host allows sharing, as is one with too little free memory:
skipped, not failed, and offered again once it is free. A host without GPUs offers its CPU."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..store import HostRecord
from .probe import gpu_rank, gpu_status

MIN_FREE_MIB = 2048  # what a small model's training needs at least; a GPU with less free is left alone


@dataclass(frozen=True)
class Placement:
    probe: Mapping[str, Any]  # the host's stored probe (remote.probe.assess)
    gpus: tuple[int, ...] | None = None  # HostRecord.gpus
    share_busy_gpus: bool = False
    python: str = "python3"  # named in a GPU's status only
    min_free_mib: int = MIN_FREE_MIB

    @classmethod
    def of(cls, host: HostRecord, min_free_mib: int = MIN_FREE_MIB) -> "Placement":
        return cls(host.last_probe or {}, host.gpus, host.share_busy_gpus, host.python, min_free_mib)

    @property
    def has_gpus(self) -> bool:
        return bool(self.probe.get("gpus"))

    def candidates(self) -> list[str]:
        """Every device a task could ever get here (what the host offers when nothing is busy)."""
        if not self.has_gpus:
            return [d for d in self.probe.get("devices", []) if d == "cpu"]
        return [f"cuda:{g['index']}" for g in self._allowed()]

    def usable(self, smi: Mapping[str, Any] | None, ours: Sequence[str] = ()) -> list[str]:
        """The devices that may take a task now, given nvidia-smi's report (probe_script.nvidia_report) taken
        just before; `ours`: devices our own tasks hold, which stay ours. Without a report, the candidates."""
        if not self.has_gpus or smi is None:
            return self.candidates()
        fresh = {g["index"]: g for g in smi.get("gpus", [])}
        me = (self.probe.get("report") or {}).get("user")
        usable = []
        for known in self._allowed():
            device, now = f"cuda:{known['index']}", fresh.get(known["index"])
            if device in ours:
                usable.append(device)
                continue
            if now is None:
                continue  # gone from nvidia-smi: a fallen-off GPU is no place for a task
            gpu = {**known, "processes": now["processes"], "free_mib": now["total_mib"] - now["used_mib"]}
            if gpu_status(gpu, self, me)["ready"] and gpu["free_mib"] >= self.min_free_mib:  # type: ignore[arg-type]
                usable.append(device)
        return usable

    def free_mib(self, smi: Mapping[str, Any] | None, device: str) -> float | None:
        """`device`'s free memory in nvidia-smi's report (the probe's figure without one); None for a CPU."""
        if not device.startswith("cuda:"):
            return None
        index = int(device.split(":", 1)[1])
        for gpu in (smi or self.probe).get("gpus", []):
            if gpu["index"] == index:
                return float(gpu["total_mib"] - gpu["used_mib"]) if "used_mib" in gpu else float(gpu["free_mib"])
        return None

    def _allowed(self) -> list[Mapping[str, Any]]:
        allowed = [g for g in self.probe.get("gpus", []) if g.get("visible")
                   and (self.gpus is None or g["index"] in self.gpus)]
        return sorted(allowed, key=lambda g: gpu_rank(g["index"], self))  # type: ignore[arg-type]

