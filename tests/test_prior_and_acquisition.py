"""Prior fitting (hyper-parameters from the history) and the acquisition functions."""

import numpy as np
import pytest
from scipy import integrate, stats

from easeml_gui.engine.acquisition import expected_improvement, log_expected_improvement
from easeml_gui.engine.gp import TenantPosterior
from easeml_gui.engine.prior import CostModel, fit_prior


def gp_rows(rows: int, k: int, seed: int, noise: float = 1e-4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=(k, 3))
    cov = 0.01 * factor @ factor.T + 0.002 * np.eye(k)
    mean = rng.uniform(0.5, 0.8, size=k)
    data = rng.multivariate_normal(mean, cov + noise * np.eye(k), size=rows)
    return data, mean, cov


@pytest.mark.parametrize("kind", ["ledoit-wolf", "rbf", "auto"])
def test_fitted_prior_is_a_valid_gaussian(kind):
    history, _, _ = gp_rows(40, 15, 0)
    prior = fit_prior(history, [f"m{i}" for i in range(15)], kind)
    assert prior.kind in ("ledoit-wolf", "rbf")
    np.testing.assert_allclose(prior.mean, history.mean(axis=0))
    assert np.linalg.eigvalsh(prior.cov).min() > -1e-10
    assert prior.noise > 0


def test_fitted_prior_predicts_new_datasets_better_than_an_uninformed_one():
    history, mean, cov = gp_rows(60, 15, 1)
    new, _, _ = gp_rows(200, 15, 1)  # same generator: more datasets of the same lab
    prior = fit_prior(history, [f"m{i}" for i in range(15)])
    fitted = stats.multivariate_normal(prior.mean, prior.cov + prior.noise * np.eye(15)).logpdf(new).mean()
    flat = stats.multivariate_normal(np.full(15, 0.5), 0.25 * np.eye(15)).logpdf(new).mean()
    assert fitted > flat + 10


def test_failed_cells_in_the_history_are_tolerated():
    history, _, _ = gp_rows(30, 10, 2)
    history[3, 4] = np.nan
    history[7, :3] = np.nan
    prior = fit_prior(history, [f"m{i}" for i in range(10)])
    assert np.all(np.isfinite(prior.mean)) and np.all(np.isfinite(prior.cov))
    assert prior.mean[4] == pytest.approx(np.nanmean(history[:, 4]))


def test_too_little_history_falls_back_to_a_wide_structured_prior():
    prior = fit_prior(np.array([[0.5, 0.7, 0.6]]), ["a", "b", "c"])
    assert prior.kind == "fallback"
    np.testing.assert_allclose(prior.mean, [0.5, 0.7, 0.6])
    assert prior.cov[0, 1] > 0  # datasets shift every arm together


def test_a_fresh_labs_prior_lets_a_networks_result_speak_for_the_other_networks_more_than_the_learners_do():
    # a tenant whose pixel learners fail (colourised digits) and whose first network does well
    names = ["svc", "logistic_regression", "random_forest", "mobilenet_v3_small", "resnet18", "mobilenet_v2"]
    families = ["classical"] * 3 + ["scratch"] * 3
    prior = fit_prior(np.empty((0, 6)), names, families=families)
    correlation = prior.cov / np.sqrt(np.outer(np.diag(prior.cov), np.diag(prior.cov)))
    assert correlation[3, 4] > correlation[0, 3] > 0  # datasets shift every arm, a family's arms more alike
    posterior = TenantPosterior(prior.mean, prior.cov, prior.noise)
    for arm, quality in [(0, 0.2), (1, 0.16), (2, 0.5), (3, 0.8)]:
        posterior.observe(arm, quality)
    assert posterior.mean[4] > 0.65 and posterior.mean[5] > 0.65  # what the network showed, not the learners
    flat = fit_prior(np.empty((0, 6)), names)
    one_family = TenantPosterior(flat.mean, flat.cov, flat.noise)
    for arm, quality in [(0, 0.2), (1, 0.16), (2, 0.5), (3, 0.8)]:
        one_family.observe(arm, quality)
    assert one_family.mean[4] < 0.5  # without families the three failures outvote it


def test_unknown_prior_kind_is_refused():
    with pytest.raises(ValueError, match="unknown prior kind"):
        fit_prior(np.zeros((5, 2)), ["a", "b"], "magic")


@pytest.mark.parametrize("mean,sigma,best", [(0.5, 0.1, 0.55), (0.7, 0.05, 0.6), (0.2, 0.3, 0.9)])
def test_expected_improvement_matches_numerical_integration(mean, sigma, best):
    want, _ = integrate.quad(lambda f: max(f - best, 0) * stats.norm.pdf(f, mean, sigma), best, mean + 12 * sigma)
    assert expected_improvement(np.array(mean), np.array(sigma), best) == pytest.approx(want, rel=1e-6, abs=1e-12)


def test_log_expected_improvement_is_exact_where_ei_is_representable_and_finite_beyond():
    z = np.linspace(-30, 3, 200)
    log_ei = log_expected_improvement(z, np.ones_like(z), 0.0)
    ei = expected_improvement(z, np.ones_like(z), 0.0)
    ok = ei > 1e-250
    np.testing.assert_allclose(log_ei[ok], np.log(ei[ok]), rtol=2e-3)
    assert np.all(np.isfinite(log_ei)) and np.all(np.diff(log_ei) > 0)  # ranking survives underflow


@pytest.mark.parametrize("mean,sigma,best", [(0.95, 0.11, 0.99), (0.7, 0.2, 0.8), (1.1, 0.05, 0.9), (0.3, 0.02, 0.5)])
def test_expected_improvement_up_to_the_ceiling_counts_only_what_an_accuracy_can_add(mean, sigma, best):
    want, _ = integrate.quad(lambda f: (min(f, 1.0) - best) * stats.norm.pdf(f, mean, sigma), best, mean + 12 * sigma,
                             points=[1.0])
    capped = np.exp(log_expected_improvement(np.array(mean), np.array(sigma), best, ceiling=1.0))
    assert capped == pytest.approx(want, rel=2e-3)
    assert capped <= expected_improvement(np.array(mean), np.array(sigma), best)


def test_a_tenant_at_the_ceiling_has_nothing_to_gain_yet_stays_ranked():
    at_top = log_expected_improvement(np.array([0.99, 0.5]), np.array([0.1, 0.1]), 1.0, ceiling=1.0)
    below = log_expected_improvement(np.array(0.5), np.array(0.1), 0.98, ceiling=1.0)
    assert np.all(np.isfinite(at_top)) and at_top[0] > at_top[1]  # finite, and still ordered by the arms' promise
    assert at_top.max() < below - 100  # any tenant below the ceiling first


def test_cost_model_shifts_every_arm_by_the_tenants_observed_size():
    history = np.array([[10.0, 100.0, 1000.0], [20.0, 200.0, 2000.0]])
    model = CostModel.from_history(history, 3)
    np.testing.assert_allclose(model.predict(np.array([], dtype=int), []), np.sqrt([200.0, 20000.0, 2000000.0]))
    # A tenant whose dataset makes arm 0 cost 4x the history's typical value: the others scale alike.
    scaled = model.predict(np.array([0]), [4 * np.sqrt(200.0)])
    np.testing.assert_allclose(scaled, 4 * model.predict(np.array([], dtype=int), []))


def test_arms_without_history_get_a_wide_uncorrelated_prior():
    history, _, _ = gp_rows(30, 6, 4)
    history[:, 5] = np.nan  # a model the lab never ran
    prior = fit_prior(history, [f"m{i}" for i in range(6)])
    assert prior.cov[5, 5] > np.diag(prior.cov)[:5].max()
    np.testing.assert_allclose(prior.cov[5, :5], 0.0)
    assert prior.mean[5] == pytest.approx(np.nanmean(history))
