"""Arithmetic on query results (no SQL): the history matrix and the global regret estimate."""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping, Union

import numpy as np

from .records import HistoryMatrix

# An upper bound U_i on the quality tenant i can still reach: a mapping tenant -> bound, or a callable (e.g. the
# engine's GP upper confidence bound over the tenant's arms). Tenants it does not cover get 1.0, the ceiling of
# an accuracy, so the estimate is then conservative (it never understates the true regret).
UpperBounds = Union[Mapping[str, float], Callable[[str], float], None]


def _bound(upper_bounds: UpperBounds, tenant: str) -> float:
    if upper_bounds is None:
        return 1.0
    if callable(upper_bounds):
        return float(upper_bounds(tenant))
    return float(upper_bounds.get(tenant, 1.0))


def global_regret_estimate(tenants: Iterable[tuple[str, float, float | None]], upper_bounds: UpperBounds) -> float:
    """Tenant-weighted mean of max(0, min(U_i, 1) - best_i) over (name, weight, best) triples; best None = 0.

    ALGORITHM.md's global_regret with the unknown best reachable quality q*_i replaced by an upper bound.
    """
    total = weights = 0.0
    for name, weight, best in tenants:
        bound = min(_bound(upper_bounds, name), 1.0)
        if math.isnan(bound):
            bound = 1.0
        total += weight * max(0.0, bound - (best or 0.0))
        weights += weight
    return total / weights if weights else 0.0


def history_matrix(cells: Iterable[Mapping[str, Any]]) -> HistoryMatrix:
    """Cells with keys dataset_hash, dataset, arm, arm_index, best, mean_cost -> a dense matrix with NaN gaps.

    Rows in dataset-name order; columns in arm-index order (the catalogue's), then by name.
    """
    cells = list(cells)
    labels: dict[str, str] = {}
    arm_order: dict[str, tuple[int, str]] = {}
    for c in cells:
        labels[c["dataset_hash"]] = min(labels.get(c["dataset_hash"], c["dataset"]), c["dataset"])
        arm_order[c["arm"]] = min(arm_order.get(c["arm"], (c["arm_index"], c["arm"])), (c["arm_index"], c["arm"]))
    row_keys = sorted(labels, key=lambda h: labels[h])
    arms = sorted(arm_order, key=lambda a: arm_order[a])
    row_of = {h: i for i, h in enumerate(row_keys)}
    col_of = {a: j for j, a in enumerate(arms)}
    quality = np.full((len(row_keys), len(arms)), np.nan)
    cost = np.full_like(quality, np.nan)
    for c in cells:
        i, j = row_of[c["dataset_hash"]], col_of[c["arm"]]
        quality[i, j] = c["best"]
        cost[i, j] = c["mean_cost"]
    return HistoryMatrix(datasets=tuple(labels[h] for h in row_keys), arms=tuple(arms), quality=quality, cost=cost)
