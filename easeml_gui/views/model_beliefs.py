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


def tenant_beliefs(tenant: str, decisions: Sequence[Decision],
                   observations: Sequence[Observation]) -> tuple[ModelBelief, ...]:
    """decisions newest first; the models in the order the engine first considered or trained them."""
    weighed: dict[str, tuple[float, float]] = {}
    next_pick: str | None = None
    for decision in decisions:
        for score in decision.scores:
            if score.tenant != tenant:
                continue
            if next_pick is None:
                next_pick = score.arm
            weighed.setdefault(score.arm, (score.mean, score.sigma))  # the newest one wins
    observed: dict[str, float] = {}
    for o in observations:
        if o.tenant == tenant:
            observed[o.arm.name] = max(o.quality, observed.get(o.arm.name, o.quality))
    order = list(dict.fromkeys([*observed, *reversed(list(weighed))]))
    return tuple(ModelBelief(model, *weighed.get(model, (None, None)), observed.get(model), model == next_pick)
                 for model in order)
