"""Invariants of the engine on arbitrary small labs (hypothesis), and the multi-device behaviour."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from easeml_gui.engine.matrix import Matrix, synthetic
from easeml_gui.engine.policies import get_policy, policy_names
from easeml_gui.engine.prior import CostModel, fit_prior
from easeml_gui.engine.scheduler import Scheduler, SchedulerHooks
from easeml_gui.engine.selection import ModelSelection
from easeml_gui.engine.simulate import SimulatedExecutor, simulate, simulate_once
from easeml_gui.engine.types import Arm, Job, TaskState, Tenant


@st.composite
def labs(draw):
    tenants = draw(st.integers(1, 5))
    history = draw(st.integers(0, 6))
    arms = draw(st.integers(1, 6))
    cell = st.one_of(st.floats(0.0, 1.0), st.just(float("nan")))
    quality = np.array(draw(st.lists(st.lists(cell, min_size=arms, max_size=arms), min_size=tenants + history, max_size=tenants + history)))
    cost = np.array(draw(st.lists(st.lists(st.floats(0.5, 50.0), min_size=arms, max_size=arms), min_size=tenants + history, max_size=tenants + history)))
    return dict(
        quality=quality,
        cost=cost if draw(st.booleans()) else None,
        tenants=tenants,
        policy=draw(st.sampled_from(policy_names())),
        devices=draw(st.integers(1, 3)),
        seed=draw(st.integers(0, 2**16)),
    )


def run_to_exhaustion(lab):
    quality, cost, n = lab["quality"], lab["cost"], lab["tenants"]
    arms = tuple(Arm(f"m{k}", k) for k in range(quality.shape[1]))
    prior = fit_prior(quality[n:], [a.name for a in arms])
    costs = CostModel.from_history(cost[n:] if cost is not None else None, len(arms))
    selection = ModelSelection(prior, get_policy(lab["policy"]), np.random.default_rng(lab["seed"]), costs)
    names = [f"t{i}" for i in range(n)]
    for name in names:
        selection.add_job(Tenant(name), Job(name, arms))
    executor = SimulatedExecutor(
        {name: quality[i] for i, name in enumerate(names)},
        {name: cost[i] for i, name in enumerate(names)} if cost is not None else None,
        lab["devices"],
    )
    events = []

    def on_decision(decision, task):
        snap = selection.snapshot()
        assert np.all(snap.sigma >= 0)
        running = {(t.tenant, t.arm.name) for t in executor.running()}
        assert (decision.tenant, decision.arm.name) not in running, "the same (tenant, arm) twice at once"
        rec = selection.record(decision.tenant)
        col = [a.name for a in rec.job.arms].index(decision.arm.name)
        assert col not in rec.posterior.arms and col not in rec.failed, "proposed an arm already tried"
        events.append(("decision", decision))

    def on_result(result, observation):
        events.append(("result", result, observation))

    Scheduler(selection, executor, SchedulerHooks(on_decision=on_decision, on_result=on_result)).run()
    return selection, events, names


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labs())
def test_every_tenant_is_served_until_its_arms_run_out(lab):
    selection, events, names = run_to_exhaustion(lab)
    k = lab["quality"].shape[1]
    for name in names:
        rec = selection.record(name)
        assert len(rec.posterior.arms) + len(rec.failed) == k
        assert not rec.pending
    decided = [(e[1].tenant, e[1].arm.name) for e in events if e[0] == "decision"]
    assert len(decided) == len(set(decided)) == k * len(names)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labs())
def test_regret_is_non_negative_and_never_rises(lab):
    quality, n = lab["quality"], lab["tenants"]
    if np.isnan(quality).all(axis=1).any():
        return  # a tenant with no successful run has no q*; read_matrix refuses such rows
    matrix = Matrix("h", tuple(f"d{i}" for i in range(len(quality))), tuple(f"m{k}" for k in range(quality.shape[1])), quality)
    cost = Matrix("c", matrix.rows, matrix.arms, lab["cost"]) if lab["cost"] is not None else None
    trace = simulate_once(matrix, cost, lab["policy"], n, lab["devices"], lab["seed"]).regret
    values = np.array(trace.values)
    assert np.all(values >= 0)
    assert np.all(np.diff(values) <= 1e-12)
    assert np.all(np.diff(trace.times) >= 0)
    assert values[-1] <= 1e-12  # every replay ends with each tenant holding its best arm


def test_failed_runs_retire_the_arm_without_an_observation():
    quality = np.array([[0.5, np.nan, 0.7], [0.4, 0.6, 0.8], [0.3, 0.5, 0.6]])
    selection, events, _ = run_to_exhaustion(dict(quality=quality, cost=None, tenants=1, policy="default", devices=1, seed=0))
    failed = [e for e in events if e[0] == "result" and e[1].state is TaskState.FAILED]
    assert len(failed) == 1 and failed[0][2] is None
    assert selection.record("t0").failed == [1]


def test_more_devices_reach_targets_sooner_while_tenants_outnumber_them():
    quality, cost = synthetic(rows=40, arms=20, seed=3)
    times = []
    for devices in (1, 2, 4):
        report = simulate(quality, cost, ["default"], tenants=16, devices=devices, seeds=3, targets=(0.02,))
        times.append(report.median("default", 0.02))
    assert times[0] > times[1] > times[2]
    assert times[0] / times[2] > 2.5  # near-linear: 4 devices, at least 2.5x sooner


def test_same_seed_gives_the_same_trace_and_another_seed_another():
    quality, cost = synthetic(rows=30, arms=12, seed=1)
    a = simulate_once(quality, cost, "default", 8, 2, seed=5, record_decisions=True)
    b = simulate_once(quality, cost, "default", 8, 2, seed=5, record_decisions=True)
    c = simulate_once(quality, cost, "default", 8, 2, seed=6, record_decisions=True)
    assert a.decisions == b.decisions and a.regret.values == b.regret.values
    assert a.decisions != c.decisions
