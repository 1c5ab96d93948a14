"""Replays policies on a quality matrix in a worker thread (engine.simulate.simulate_once, one seeded run at a
time), reporting each finished run as a signal; cancel() takes effect between runs."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from PySide6 import QtCore

from ..engine.matrix import Matrix, MatrixError, load_matrices
from ..engine.policies import get_policy
from ..engine.simulate import simulate_once

COMPLETED, CANCELLED, FAILED = "completed", "cancelled", "failed"


@dataclass(frozen=True)
class SimulationRequest:
    matrix: str  # a quality CSV, or synthetic:rows=R,arms=K,seed=S,spread=X
    cost: str | None
    tenants: int
    devices: int
    seeds: int
    policies: tuple[str, ...]
    prior_kind: str = "auto"


def check_request(request: SimulationRequest, quality: Matrix) -> None:
    if not request.policies:
        raise ValueError("choose at least one policy to simulate")
    for name in request.policies:
        get_policy(name)
    rows = len(quality.rows)
    if not 1 <= request.tenants < rows:
        raise ValueError(f"tenants {request.tenants}: the matrix has {rows} datasets; tenants must be between 1 and "
                         f"{rows - 1} so at least one row is left as history")
    if request.devices < 1 or request.seeds < 1:
        raise ValueError("devices and seeds must be at least 1")


class SimulationWorker(QtCore.QObject):
    """Moved to a QThread; run() is its entry point. Signals reach the GUI thread queued."""

    progress = QtCore.Signal(int, int)  # runs done, runs in all
    traceReady = QtCore.Signal(str, object)  # policy, RunTrace
    failed = QtCore.Signal(str)
    done = QtCore.Signal(str)  # COMPLETED | CANCELLED | FAILED

    def __init__(self, request: SimulationRequest) -> None:
        super().__init__()
        self.request = request
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Thread-safe: the current run finishes, no further one starts."""
        self._cancel.set()

    @QtCore.Slot()
    def run(self) -> None:
        request = self.request
        try:
            quality, cost = load_matrices(request.matrix, request.cost)
            check_request(request, quality)
            # Seed-major order: every policy gets its first curve early, so the live plot compares from the start.
            jobs = [(policy, seed) for seed in range(request.seeds) for policy in request.policies]
            self.progress.emit(0, len(jobs))
            for done, (policy, seed) in enumerate(jobs, start=1):
                if self._cancel.is_set():
                    self.done.emit(CANCELLED)
                    return
                trace = simulate_once(quality, cost, policy, request.tenants, request.devices, seed,
                                      request.prior_kind)
                self.traceReady.emit(policy, trace)
                self.progress.emit(done, len(jobs))
        except (MatrixError, ValueError, KeyError, OSError) as exc:
            self.failed.emit(str(exc).strip("'\""))
            self.done.emit(FAILED)
            return
        except Exception as exc:  # keep the thread alive to report it; the message says what broke
            self.failed.emit(f"the simulation failed: {type(exc).__name__}: {exc}")
            self.done.emit(FAILED)
            return
        self.done.emit(COMPLETED)
