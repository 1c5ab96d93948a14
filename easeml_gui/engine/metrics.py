"""Best-so-far, regret, time-to-target and speed-ups (names as in design/ALGORITHM.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TARGETS = (0.05, 0.02, 0.01, 0.005, 0.002)


@dataclass
class RegretTrace:
    """global_regret(t): the weighted mean over tenants of q*_i - best_i(t), as a step function of time."""

    optimum: dict[str, float]  # q*_i
    weights: dict[str, float]
    best: dict[str, float] = field(default_factory=dict)
    times: list[float] = field(default_factory=lambda: [0.0])
    values: list[float] = field(default_factory=list)
    usage: list[float] = field(default_factory=lambda: [0.0])  # device seconds spent by each of `times`

    def __post_init__(self) -> None:
        self._total_weight = sum(self.weights[t] for t in self.optimum)
        self.best = {t: 0.0 for t in self.optimum}
        self.values = [self._global()]

    def _global(self) -> float:
        return sum(self.weights[t] * (self.optimum[t] - self.best[t]) for t in self.optimum) / self._total_weight

    def observe(self, tenant: str, quality: float, time: float, usage: float | None = None) -> None:
        """Tenant `tenant` holds a model of `quality` from `time`, when the devices had worked `usage` seconds in
        all (None: as many as `time`, one device always busy)."""
        if quality <= self.best[tenant]:
            return
        self.best[tenant] = quality
        self.times.append(time)
        self.usage.append(time if usage is None else usage)
        self.values.append(max(self._global(), 0.0))

    @property
    def current(self) -> float:
        return self.values[-1]

    def time_to(self, target: float) -> float | None:
        """First time with global_regret <= target; None if never reached."""
        return self._first(self.times, target)

    def usage_to(self, target: float) -> float | None:
        """Device seconds spent by the first time global_regret <= target; None if never reached."""
        return self._first(self.usage, target)

    def _first(self, clock: list[float], target: float) -> float | None:
        for time, value in zip(clock, self.values):
            if value <= target + 1e-12:
                return time
        return None

    def cumulative(self) -> float:
        """Area under the global regret curve up to the last change (after which it stays constant)."""
        times = np.asarray(self.times)
        values = np.asarray(self.values)
        return float(np.sum(values[:-1] * np.diff(times)))


def speedup(baseline_time: float | None, policy_time: float | None) -> float | None:
    if baseline_time is None or policy_time is None:
        return None
    if policy_time <= 0:
        return float("inf") if baseline_time > 0 else 1.0
    return baseline_time / policy_time


def median_time(times: list[float | None]) -> float | None:
    """Median over seeds, counting a seed that never reached the target as infinitely slow."""
    values = np.array([np.inf if t is None else t for t in times])
    med = float(np.median(values))
    return None if np.isinf(med) else med
