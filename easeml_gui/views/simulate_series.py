"""Simulation results as plot curves and table rows (pure numpy: no Qt)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..engine.metrics import median_time
from ..engine.simulate import RunTrace
from .step_series import step_xy, values_at

MAX_GRID = 4000  # points per curve; more add nothing visible


@dataclass(frozen=True)
class RegretCurve:
    x: np.ndarray
    median: np.ndarray
    low: np.ndarray  # 25th percentile over seeds
    high: np.ndarray  # 75th percentile


def regret_curve(traces: Sequence[RunTrace], end: float | None = None) -> RegretCurve:
    """Median (and interquartile band) over seeds of global regret vs time, as step arrays up to `end`."""
    grid = np.unique(np.concatenate([np.asarray(t.regret.times, dtype=float) for t in traces]))
    if grid.size > MAX_GRID:
        grid = np.unique(np.quantile(grid, np.linspace(0.0, 1.0, MAX_GRID)))
    values = np.vstack([values_at(t.regret.times, t.regret.values, grid) for t in traces])
    low, median, high = np.percentile(values, [25, 50, 75], axis=0)
    x, y = step_xy(grid, median, end)
    _, y_low = step_xy(grid, low, end)
    _, y_high = step_xy(grid, high, end)
    return RegretCurve(x, y, y_low, y_high)


def last_time(traces: Sequence[RunTrace]) -> float:
    return max((t.regret.times[-1] for t in traces), default=0.0)


@dataclass(frozen=True)
class PolicySummary:
    policy: str
    runs: int
    median_times: tuple[float | None, ...]  # per target, None = not reached by the median seed
    cumulative_regret: float


def summarize(policy: str, traces: Sequence[RunTrace], targets: Sequence[float]) -> PolicySummary:
    times = tuple(median_time([t.regret.time_to(target) for t in traces]) for target in targets)
    cumulative = float(np.median([t.regret.cumulative() for t in traces]))
    return PolicySummary(policy, len(traces), times, cumulative)
