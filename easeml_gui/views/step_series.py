"""Step functions as plot arrays (pure numpy): best-so-far and regret change only when a task ends."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def step_xy(times: Sequence[float], values: Sequence[float], end: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """x, y that draw `values[k]` held from `times[k]` until `times[k + 1]` (the last one until `end`)."""
    t = np.asarray(times, dtype=float)
    v = np.asarray(values, dtype=float)
    if t.size == 0:
        return np.zeros(0), np.zeros(0)
    last = t[-1] if end is None else max(float(end), t[-1])
    x = np.append(np.repeat(t, 2)[1:], last)
    y = np.repeat(v, 2)
    return x, y


def values_at(times: Sequence[float], values: Sequence[float], grid: np.ndarray) -> np.ndarray:
    """The step function (times, values) evaluated on `grid` (grid points before times[0] take values[0])."""
    t = np.asarray(times, dtype=float)
    v = np.asarray(values, dtype=float)
    index = np.clip(np.searchsorted(t, grid, side="right") - 1, 0, t.size - 1)
    return v[index]
