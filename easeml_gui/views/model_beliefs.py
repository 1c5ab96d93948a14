"""What the engine believed about one tenant's models, read back from the decisions the store keeps (pure
Python: no Qt, no engine call).

Every decision stores, per tenant, the model that tenant would train next with its posterior mean and sigma
(engine.types.TenantScore). So the newest score naming a model is the engine's latest belief about it; models
the engine never weighed as a tenant's next pick have no recorded belief (only their observed accuracy, if any).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..engine.types import Decision, Observation


@dataclass(frozen=True)
class ModelBelief:
    model: str
    mean: float | None  # posterior mean the last time a decision weighed it; None: never weighed
    sigma: float | None
    observed: float | None  # best accuracy a finished task of it reached; None: not trained yet
    next_pick: bool  # the model the newest decision named for this tenant


def lab_beliefs(tenants: Sequence[str], decisions: Sequence[Decision],
                observations: Sequence[Observation]) -> dict[str, tuple[ModelBelief, ...]]:
    """Per tenant, its models in the order the engine first considered or trained them; decisions newest first.

    One pass over the decisions for all tenants: the poller builds this at every read, and a pass per tenant
    (tenants x decisions x tenants scores) held the GIL the window needs for ~20 ms with 50 tenants."""
    weighed: dict[str, dict[str, tuple[float, float]]] = {tenant: {} for tenant in tenants}
    next_pick: dict[str, str] = {}
    for decision in decisions:
        for score in decision.scores:
            if score.tenant in weighed:
                next_pick.setdefault(score.tenant, score.arm)
                weighed[score.tenant].setdefault(score.arm, (score.mean, score.sigma))  # the newest one wins
    observed: dict[str, dict[str, float]] = {tenant: {} for tenant in tenants}
    for o in observations:
        if o.tenant in observed:
            best = observed[o.tenant]
            best[o.arm.name] = max(o.quality, best.get(o.arm.name, o.quality))
    return {tenant: _beliefs(weighed[tenant], observed[tenant], next_pick.get(tenant)) for tenant in tenants}


def _beliefs(weighed: dict[str, tuple[float, float]], observed: dict[str, float],
             next_pick: str | None) -> tuple[ModelBelief, ...]:
    order = list(dict.fromkeys([*observed, *reversed(list(weighed))]))
    return tuple(ModelBelief(model, *weighed.get(model, (None, None)), observed.get(model), model == next_pick)
                 for model in order)
