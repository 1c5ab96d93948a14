"""The policy registry: who a free device serves next, and which arm it trains.

A policy splits into an arm rule (each tenant's own next arm) and a tenant rule (which tenant gets the
device). Baselines pair GP-UCB arms with a fixed tenant order; the ease.ml family ranks tenants by what
their next arm is expected to add to the global (weighted) regret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .acquisition import QUALITY_CEILING, beta_t, cost_scaled_ucb, log_expected_improvement, ucb
from .asha import Asha
from .early_stopping import EarlyStopping
from .fidelity import FidelityState
from .selection import Snapshot

_MASKED = -np.inf


@dataclass(frozen=True)
class Choice:
    tenant_row: int
    arm_col: int
    arm_cols: np.ndarray  # (N,) each tenant's proposed arm
    tenant_scores: np.ndarray  # (N,) the tenant rule's score (higher = served first)


def _tenant_beta(snap: Snapshot, rows: np.ndarray) -> np.ndarray:
    return beta_t(np.maximum(snap.n_arms[rows], 1), snap.started[rows] + 1)


def _picked(values: np.ndarray, arms: np.ndarray) -> np.ndarray:
    return values[np.arange(arms.size), arms]


# ---- arm rules: (snapshot, tenant rows) -> (rows, K) scores; -inf where the arm is unavailable --------------
ArmRule = Callable[[Snapshot, np.ndarray], np.ndarray]


def ucb_arms(snap: Snapshot, rows: np.ndarray) -> np.ndarray:
    return ucb(snap.mean[rows], snap.sigma[rows], _tenant_beta(snap, rows)[:, None])


def cost_ucb_arms(snap: Snapshot, rows: np.ndarray) -> np.ndarray:
    return cost_scaled_ucb(snap.mean[rows], snap.sigma[rows], _tenant_beta(snap, rows)[:, None], snap.cost[rows])


def ei_arms(snap: Snapshot, rows: np.ndarray) -> np.ndarray:
    return log_expected_improvement(snap.mean[rows], snap.sigma[rows], snap.believed_best[rows, None],
                                    QUALITY_CEILING)


def ei_per_cost_arms(snap: Snapshot, rows: np.ndarray) -> np.ndarray:
    return ei_arms(snap, rows) - np.log(snap.cost[rows])


# ---- tenant rules: (snapshot, each tenant's proposed arm, rng) -> (N,) scores, higher = served first -------
TenantRule = Callable[[Snapshot, np.ndarray, np.random.Generator], np.ndarray]


def round_robin_tenants(snap: Snapshot, arms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = arms.size
    return -(((np.arange(n) - snap.last_served - 1) % n).astype(float))


def random_tenants(snap: Snapshot, arms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.random(arms.size)


def fifo_tenants(snap: Snapshot, arms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return -np.arange(arms.size, dtype=float)


def ucb_gap_tenants(snap: Snapshot, arms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Most potential to better accuracy: w_i (UCB_i - best_i)."""
    rows = np.arange(arms.size)
    upper = ucb(_picked(snap.mean, arms), _picked(snap.sigma, arms), _tenant_beta(snap, rows))
    return snap.weight * (upper - snap.believed_best)


def ucb_gap_per_cost_tenants(snap: Snapshot, arms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return ucb_gap_tenants(snap, arms, rng) / _picked(snap.cost, arms)


def ei_tenants(snap: Snapshot, arms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Largest weighted expected improvement up to the quality ceiling (log scale: the ranking survives EI
    underflow)."""
    log_ei = log_expected_improvement(_picked(snap.mean, arms), _picked(snap.sigma, arms), snap.believed_best,
                                      QUALITY_CEILING)
    return np.log(snap.weight) + log_ei


def ei_per_cost_tenants(snap: Snapshot, arms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return ei_tenants(snap, arms, rng) - np.log(_picked(snap.cost, arms))


def aged(rule: TenantRule) -> TenantRule:
    """Multiply a tenant's (log-scale) score by 1 + the decisions it has waited since it was last served.

    One-step EI starves tenants whose GP is (wrongly) confident, and the finest targets wait on exactly
    those; RR never starves anyone but wastes devices early. Aging keeps EI's order while EIs differ by
    orders of magnitude and turns towards round-robin once they are comparable (measured: it removes
    EI's losses at the 0.005/0.002 targets, see bench/policy_quality.py).
    """

    def with_aging(snap: Snapshot, arms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return rule(snap, arms, rng) + np.log1p(snap.waiting)

    return with_aging


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    arm_rule: ArmRule
    tenant_rule: TenantRule

    def propose_arms(self, snap: Snapshot, rows: np.ndarray) -> np.ndarray:
        """Each given tenant's next arm. Depends on that tenant's row only, so callers cache it per row."""
        scores = np.where(snap.available[rows], self.arm_rule(snap, rows), _MASKED)
        return np.argmax(scores, axis=1)  # ties: lowest index, deterministic

    def choose(self, snap: Snapshot, arms: np.ndarray, rng: np.random.Generator) -> Choice:
        scores = np.where(snap.eligible, self.tenant_rule(snap, arms, rng), _MASKED)
        row = int(np.argmax(scores))
        return Choice(row, int(arms[row]), arms, scores)


_POLICIES: dict[str, Policy] = {}


def register(policy: Policy) -> Policy:
    _POLICIES[policy.name] = policy
    return policy


BASELINES = ("round-robin", "random", "fifo")

register(Policy("round-robin", "tenants in turn; each picks its arm by GP-UCB", ucb_arms, round_robin_tenants))
register(Policy("random", "a uniformly random tenant with work left; GP-UCB arm", ucb_arms, random_tenants))
register(Policy("fifo", "serve each tenant until its arms run out, then the next; GP-UCB arm", ucb_arms, fifo_tenants))
register(Policy("ease-ucb", "tenant with the largest UCB gap over its best; GP-UCB arm", ucb_arms, ucb_gap_tenants))
register(
    Policy(
        "ease-ucb-cost",
        "cost-aware UCB: arm by mu + sqrt(beta/c) sigma, tenant by UCB gap per predicted second",
        cost_ucb_arms,
        ucb_gap_per_cost_tenants,
    )
)
register(Policy("ease-ei", "tenant and arm with the largest weighted expected improvement", ei_arms, ei_tenants))
register(
    Policy(
        "ease-ei-cost",
        "tenant and arm with the largest weighted expected improvement per predicted second",
        ei_per_cost_arms,
        ei_per_cost_tenants,
    )
)

register(
    Policy(
        "ease-ei-fair",
        "expected improvement per predicted second, each tenant's score aged by the decisions it has waited",
        ei_per_cost_arms,
        aged(ei_per_cost_tenants),
    )
)

DEFAULT_POLICY = "ease-ei-fair"
# Names that stand for another policy: replayed once, reported under each name asked for. "default" is the live
# lab's policy; "default-full-budget" stays today's full-budget default when "default" gains early stopping.
ALIASES = {"default": DEFAULT_POLICY, "default-full-budget": DEFAULT_POLICY}


def get_policy(name: str) -> Policy:
    """A full-budget policy: what the live lab (and the simulator's matrices) run."""
    if name in ALIASES:
        base = _POLICIES[ALIASES[name]]
        role = "the live lab's policy" if name == "default" else "today's full-budget default"
        return Policy(name, f"{role} ({base.name}): {base.description}", base.arm_rule, base.tenant_rule)
    try:
        return _POLICIES[name]
    except KeyError:
        known = ", ".join(policy_names())
        if name in _FIDELITY:
            raise KeyError(f"policy {name!r} pauses and resumes tasks, which only the simulator can do so far; "
                           f"a lab runs one of: {known}") from None
        raise KeyError(f"unknown policy {name!r}; known policies: {known}") from None


def policy_names() -> list[str]:
    """The policies a lab can run."""
    return [*_POLICIES, *ALIASES]


# ---- multi-fidelity policies: tasks trained in budget steps, paused and resumed (the simulator only so far) ----
@dataclass(frozen=True)
class FidelityPolicy:
    name: str
    description: str
    make: Callable[[FidelityState], "EarlyStopping | Asha"]


_FIDELITY: dict[str, FidelityPolicy] = {policy.name: policy for policy in (
    FidelityPolicy("early-stopping", "at every epoch boundary and free device, across tenants: start, continue, "
                   "pause or resume by expected improvement per expected device-second, partial curves read by a "
                   "learning-curve model", lambda state: EarlyStopping(state, "early-stopping")),
    FidelityPolicy("asha-round-robin", "successive halving (ASHA, eta 3) per tenant, tenants served in turn",
                   lambda state: Asha(state, "asha-round-robin", pooled=False)),
    FidelityPolicy("asha-pooled", "one ASHA (eta 3) over all tenants' runs, new arms started for tenants in turn",
                   lambda state: Asha(state, "asha-pooled", pooled=True)),
)}


def get_fidelity_policy(name: str) -> FidelityPolicy | None:
    """The multi-fidelity policy of that name; None for a full-budget one."""
    return _FIDELITY.get(name)


def simulator_policy_names() -> list[str]:
    """Every policy the simulator replays: the lab's and the multi-fidelity ones."""
    return [*policy_names(), *_FIDELITY]


def check_simulator_policy(name: str) -> None:
    """KeyError (naming the known ones) unless the simulator knows `name`."""
    if name not in simulator_policy_names():
        raise KeyError(f"unknown policy {name!r}; known policies: {', '.join(simulator_policy_names())}")
