"""One tenant's exact GP posterior over its arms, updated incrementally.

With observations at arms A (values y) and prior (m, S, noise n):
    mean = m + S[:, A] (S[A, A] + n I)^-1 (y - m[A]),   var = diag(S) - diag(S[:, A] (S[A, A] + n I)^-1 S[A, :]).
We keep the Cholesky factor L of S[A, A] + n I, V = L^-1 S[A, :] and alpha = L^-1 (y - m[A]); then
mean = m + V^T alpha and var = diag(S) - sum(V^2). An observation appends one row to L, V and alpha:
O(n K) per update instead of O(n^3 + n^2 K) for a refit.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular


SCALE_PSEUDO_OBS = 5.0


class TenantPosterior:
    def __init__(self, mean: np.ndarray, cov: np.ndarray, noise: float) -> None:
        self.prior_mean = np.asarray(mean, dtype=float)
        self.prior_cov = np.asarray(cov, dtype=float)
        self.noise = float(noise)
        k = self.prior_mean.size
        self.mean = self.prior_mean.copy()
        self.var = np.diag(self.prior_cov).copy()
        self.arms: list[int] = []
        self.values: list[float] = []
        self._chol = np.zeros((k, k))  # L, grown in place (n x n used)
        self._v = np.zeros((k, k))  # V, rows 0..n-1 used
        self._alpha = np.zeros(k)

    @property
    def n(self) -> int:
        return len(self.arms)

    @property
    def sigma(self) -> np.ndarray:
        return np.sqrt(np.maximum(self.var, 0.0))

    @property
    def scale(self) -> float:
        """Posterior estimate of this tenant's signal scale relative to the prior's (conjugate inverse-gamma).

        alpha holds the observations' residuals whitened by the prior, so sum(alpha^2) / n is 1 when the
        tenant behaves as the history predicted and larger when its dataset is less typical; SCALE_PSEUDO_OBS
        pseudo-observations at scale 1 keep early estimates near the prior. Joint scaling of signal and noise
        leaves the mean unchanged and multiplies the variance (the Student-t process view of the same GP).
        """
        n = self.n
        return (SCALE_PSEUDO_OBS + float(self._alpha[:n] @ self._alpha[:n])) / (SCALE_PSEUDO_OBS + n)

    def _new_row(self, arm: int) -> tuple[np.ndarray, float, np.ndarray]:
        """The row (l, d) that appending `arm` adds to L, and the row it adds to V (unscaled by residual)."""
        n = self.n
        cross = self.prior_cov[arm, self.arms] if n else np.zeros(0)
        l = solve_triangular(self._chol[:n, :n], cross, lower=True, check_finite=False) if n else cross
        d2 = self.prior_cov[arm, arm] + self.noise - float(l @ l)
        d = float(np.sqrt(max(d2, 1e-12)))
        v_row = (self.prior_cov[arm] - l @ self._v[:n]) / d
        return l, d, v_row

    def observe(self, arm: int, value: float) -> None:
        if arm in self.arms:
            raise ValueError(f"arm {arm} already observed for this tenant")
        n = self.n
        l, d, v_row = self._new_row(arm)
        alpha = (value - self.prior_mean[arm] - float(l @ self._alpha[:n])) / d
        self._chol[n, :n] = l
        self._chol[n, n] = d
        self._v[n] = v_row
        self._alpha[n] = alpha
        self.arms.append(arm)
        self.values.append(float(value))
        self.mean += v_row * alpha
        self.var -= v_row**2
        np.maximum(self.var, 0.0, out=self.var)

    def var_given_pending(self, pending: list[int]) -> np.ndarray:
        """Posterior variance if the pending arms were also observed (GP-BUCB hallucination).

        Observing at the posterior mean leaves the mean unchanged, so only the variance moves.
        """
        if not pending:
            return self.var
        cov_xp = self._cov_with(pending)
        cov_pp = cov_xp[pending] + self.noise * np.eye(len(pending))
        reduction = np.sum(cov_xp * np.linalg.solve(cov_pp, cov_xp.T).T, axis=1)
        return np.maximum(self.var - reduction, 0.0)

    def conditioned(self, arms: list[int], values: np.ndarray, extra_noise: np.ndarray, scale: float = 1.0
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of every arm given also `values` at `arms`, each observed with `extra_noise` variance
        beyond the GP's own (partly trained arms: a learning-curve model's prediction of the final quality and its
        uncertainty). `scale` multiplies the GP's covariance and noise (its Student-t `scale`) but not the extra
        noise, which the curve model calibrated on its own. Not kept: a partial observation is replaced at the next
        epoch, and the incremental factor cannot forget one."""
        if not arms:
            return self.mean, scale * self.var
        cov_xp = scale * self._cov_with(arms)
        cov_pp = cov_xp[arms] + np.diag(scale * self.noise + np.asarray(extra_noise, dtype=float))
        gain = np.linalg.solve(cov_pp, cov_xp.T).T  # (K, P)
        mean = self.mean + gain @ (np.asarray(values, dtype=float) - self.mean[arms])
        return mean, np.maximum(scale * self.var - np.sum(gain * cov_xp, axis=1), 0.0)

    def _cov_with(self, arms: list[int]) -> np.ndarray:
        """Posterior covariance between every arm and `arms`: S[:, P] - V^T V[:, P]."""
        n = self.n
        return self.prior_cov[:, arms] - self._v[:n].T @ self._v[:n, arms]


def direct_posterior(
    mean: np.ndarray, cov: np.ndarray, noise: float, arms: list[int], values: list[float]
) -> tuple[np.ndarray, np.ndarray]:
    """The textbook (non-incremental) posterior; the reference the incremental one is tested against."""
    if not arms:
        return mean.copy(), np.diag(cov).copy()
    cov_aa = cov[np.ix_(arms, arms)] + noise * np.eye(len(arms))
    cov_xa = cov[:, arms]
    resid = np.asarray(values) - mean[arms]
    post_mean = mean + cov_xa @ np.linalg.solve(cov_aa, resid)
    post_var = np.diag(cov) - np.sum(cov_xa * np.linalg.solve(cov_aa, cov_xa.T).T, axis=1)
    return post_mean, np.maximum(post_var, 0.0)
