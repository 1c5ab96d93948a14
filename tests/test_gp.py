"""The incremental GP against the textbook (non-incremental) computation."""

import numpy as np
import pytest

from easeml_gui.engine.gp import TenantPosterior, direct_posterior


def random_prior(k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=(k, k // 2 + 1))
    return rng.uniform(0.3, 0.9, size=k), 0.02 * factor @ factor.T + 0.001 * np.eye(k)


@pytest.mark.parametrize("seed", range(5))
def test_incremental_posterior_matches_direct_solve(seed):
    mean, cov = random_prior(12, seed)
    rng = np.random.default_rng(100 + seed)
    post = TenantPosterior(mean, cov, noise=1e-3)
    arms, values = [], []
    for arm in rng.permutation(12)[:9]:
        value = float(rng.uniform(0.2, 1.0))
        post.observe(int(arm), value)
        arms.append(int(arm))
        values.append(value)
        want_mean, want_var = direct_posterior(mean, cov, 1e-3, arms, values)
        np.testing.assert_allclose(post.mean, want_mean, atol=1e-9)
        np.testing.assert_allclose(post.var, want_var, atol=1e-9)


def test_pending_arms_shrink_variance_as_if_observed_at_their_mean():
    mean, cov = random_prior(10, 7)
    post = TenantPosterior(mean, cov, noise=1e-3)
    post.observe(2, 0.8)
    post.observe(5, 0.4)
    pending = [1, 7]
    hallucinated = [float(post.mean[a]) for a in pending]
    want_mean, want_var = direct_posterior(mean, cov, 1e-3, [2, 5, *pending], [0.8, 0.4, *hallucinated])
    np.testing.assert_allclose(post.var_given_pending(pending), want_var, atol=1e-9)
    np.testing.assert_allclose(post.mean, want_mean, atol=1e-9)  # hallucination leaves the mean alone
    assert np.all(post.var_given_pending(pending) <= post.var + 1e-12)


def test_scale_is_the_whitened_residual_energy_with_pseudo_observations():
    mean, cov = random_prior(8, 3)
    post = TenantPosterior(mean, cov, noise=1e-3)
    assert post.scale == pytest.approx(1.0)
    arms, values = [0, 3, 6], [0.1, 0.95, 0.2]
    for a, v in zip(arms, values):
        post.observe(a, v)
    resid = np.array(values) - mean[arms]
    energy = resid @ np.linalg.solve(cov[np.ix_(arms, arms)] + 1e-3 * np.eye(3), resid)
    from easeml_gui.engine.gp import SCALE_PSEUDO_OBS

    assert post.scale == pytest.approx((SCALE_PSEUDO_OBS + energy) / (SCALE_PSEUDO_OBS + 3))


def test_observing_an_arm_twice_is_refused():
    mean, cov = random_prior(4, 0)
    post = TenantPosterior(mean, cov, noise=1e-3)
    post.observe(1, 0.5)
    with pytest.raises(ValueError, match="already observed"):
        post.observe(1, 0.6)
