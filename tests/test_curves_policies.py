"""The multi-fidelity policies on small curves: every one reaches the targets, early stopping saves device time
where curves tell bad arms early, decisions explain themselves, and matrices replay as before."""

from __future__ import annotations

import re

import numpy as np
import pytest

from easeml_gui.engine.asha import rungs
from easeml_gui.engine.curves import Curve, Curves, one_step_curves
from easeml_gui.engine.matrix import synthetic
from easeml_gui.engine.simulate import simulate, simulate_curves_once, simulate_once

MULTI_FIDELITY = ("early-stopping", "asha-round-robin", "asha-pooled")


def rising(final: float, start: float, steps: int = 10) -> np.ndarray:
    """A curve that gets most of its way early (as the best epoch so far)."""
    fraction = np.arange(1, steps + 1) / steps
    return np.round(final - (final - start) * (1 - fraction) ** 2, 4)


def small_lab(datasets: int = 12, seed: int = 0) -> Curves:
    """Per dataset: a cheap one-step learner, two slow networks that plateau low from their first epochs, and one
    network that ends best; which network is best and how good each is varies by dataset."""
    rng = np.random.default_rng(seed)
    curves = {}
    steps = np.arange(1, 11)
    for row in range(datasets):
        good = int(rng.integers(1, 4))
        curves[(row, 0)] = Curve(np.array([1]), np.array([rng.uniform(0.6, 0.7)]), np.array([1.0]))
        for col in (1, 2, 3):
            seconds = np.full(10, 10.0 * col)
            final = rng.uniform(0.9, 0.97) if col == good else rng.uniform(0.3, 0.5)
            curves[(row, col)] = Curve(steps, rising(final, 0.2), seconds)
    return Curves("small-lab", tuple(f"d{r:02d}" for r in range(datasets)), ("learner", "net-a", "net-b", "net-c"),
                  curves)


@pytest.mark.parametrize("policy", ["default-full-budget", *MULTI_FIDELITY])
def test_every_policy_reaches_every_target(policy):
    report = simulate(small_lab(), None, [policy], tenants=4, devices=1, seeds=3, targets=(0.05, 0.01, 0.0))
    assert all(r.reached == 3 for r in report.results)


def test_early_stopping_spends_less_device_time_where_curves_tell_bad_arms_early():
    report = simulate(small_lab(), None, ["default-full-budget", "early-stopping"], tenants=4, devices=1, seeds=6,
                      targets=(0.05, 0.01))
    for target in (0.05, 0.01):
        full = next(r for r in report.results if r.policy == "default-full-budget" and r.target == target)
        ours = next(r for r in report.results if r.policy == "early-stopping" and r.target == target)
        assert ours.device_seconds < 0.8 * full.device_seconds
    assert report.cumulative_regret["early-stopping"] < report.cumulative_regret["default-full-budget"]


def test_decisions_explain_themselves_with_their_numbers():
    trace = simulate_curves_once(small_lab(), "early-stopping", 4, 1, seed=0, record_decisions=True)
    texts = [d.explain() for d in trace.decisions]
    pauses = [d for d in trace.decisions if d.action == "pause"]
    assert pauses, "bad networks are paused"
    pause = pauses[0]
    text = pause.explain()
    assert re.fullmatch(r"paused t\d{6} at epoch \d+ of 10: predicted final 0\.\d\d ± 0\.\d\d, tenant best "
                        r"\d\.\d\d; device to d\d\d/[a-z-]+", text), text
    assert f"predicted final {pause.mean:.2f} ± {pause.sd:.2f}, tenant best {pause.best:.2f}" in text
    assert pause.mean < pause.best + 2 * pause.sd  # it was paused because it looked unlikely to beat the best
    assert any(t.startswith("started t000001 ") and "(10 epochs)" in t or "(1 epochs)" in t for t in texts)
    assert all(d.budget <= d.budgets for d in trace.decisions)


def test_asha_rungs_follow_eta():
    assert rungs(np.arange(1, 13)) == [2, 4, 12]
    assert rungs(np.arange(1, 28)) == [1, 3, 9, 27]
    assert rungs(np.array([1])) == [1]
    assert rungs(np.array([1, 2, 4, 8])) == [3, 4]  # budgets 4 (>= 8/3) and 8


def test_asha_pauses_at_its_rungs():
    trace = simulate_curves_once(small_lab(), "asha-round-robin", 4, 1, seed=1, record_decisions=True)
    paused_at = {d.budget for d in trace.decisions if d.action == "pause"}
    assert paused_at == {2, 4}  # 10 epochs, eta 3: rungs at epochs 2 (>= 10/9), 4 (>= 10/3) and 10


@pytest.mark.parametrize("policy", MULTI_FIDELITY)
def test_a_matrix_replays_as_one_step_curves_in_matrix_time(policy):
    quality, cost = synthetic(rows=12, arms=6, seed=3)
    report = simulate(quality, cost, [policy, "default"], tenants=4, devices=2, seeds=2, targets=(0.0,))
    assert all(r.reached == 2 for r in report.results)  # every tenant ends with its best arm
    trace = simulate_curves_once(one_step_curves(quality, cost), policy, 4, 2, seed=0, record_decisions=True)
    assert {d.action for d in trace.decisions} <= {"start"}  # one step each: nothing to pause or resume


@pytest.mark.parametrize("seed", [3, 8])
def test_on_a_matrix_with_one_device_early_stopping_decides_as_the_default(seed):
    """One step per arm leaves nothing to pause: the curve-aware rule is today's cost-aware EI with aging."""
    quality, cost = synthetic(rows=20, arms=8, seed=seed)
    report = simulate(quality, cost, ["default", "early-stopping"], tenants=6, devices=1, seeds=3)
    times = {p: [r.median_time for r in report.results if r.policy == p] for p in ("default", "early-stopping")}
    assert times["early-stopping"] == times["default"]
    assert report.cumulative_regret["early-stopping"] == report.cumulative_regret["default"]


def test_full_budget_policies_on_curves_replay_the_curves_final_matrices():
    curves = small_lab()
    quality, cost = curves.matrices()
    on_curves = simulate(curves, None, ["default-full-budget", "round-robin"], tenants=4, seeds=2)
    on_matrix = simulate(quality, cost, ["default", "round-robin"], tenants=4, seeds=2)
    assert [r.median_time for r in on_curves.results] == [r.median_time for r in on_matrix.results]
    trace = simulate_once(quality, cost, "default-full-budget", 4, 1, 0)
    assert trace.regret.usage == trace.regret.times  # one device, always busy


def test_devices_seconds_count_every_busy_device():
    report = simulate(small_lab(), None, ["early-stopping", "default-full-budget"], tenants=4, devices=3, seeds=2,
                      targets=(0.05,))
    for result in report.results:
        assert result.median_time <= result.device_seconds <= 3 * result.median_time + 1e-9
