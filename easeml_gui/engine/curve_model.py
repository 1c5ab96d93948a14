"""Predict an arm's final quality from the start of its learning curve, with an honest uncertainty.

A heteroscedastic Bayesian linear model of the gain still to come, fitted on finished curves (in the simulator:
the history datasets' curves; in a lab: its finished tasks). After b of an arm's budget steps, at fraction
s = budget_b / budget_final of its budget, with quality q and recent slope d (quality gained per unit of fraction
over the last step; none at the first step, which a flag f marks):

    final - q ~ N((1 - s) phi' w,  exp(psi' v)),
    phi = (1, q, d, 1 - s, f),   psi = (1, log(1 - s), log s, log(1 - q + 0.01), f).

The gain's mean vanishes as s -> 1 (nothing left to gain at the full budget); its spread follows the budget left,
the budget spent (a first epoch says little) and the headroom 1 - q. The weights w and v are the posterior mode
under weak Gaussian priors, fitted, never set per dataset; the predictive variance adds w's posterior uncertainty
(Laplace, at the mode). tests/test_curves_model.py checks that 90 % intervals cover about 90 % of the finals of
curves the model was not fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.optimize import minimize

from .curves import Curve

HEADROOM_FLOOR = 0.01  # keeps log(1 - q) finite at q = 1
FRACTION_FLOOR = 1e-3
SLOPE_LIMIT = 5.0  # a gain of 5 x the whole budget's worth per unit fraction: beyond it a slope is noise
PRIOR_SD = 3.0  # weak prior on every weight (the features are O(1))
MIN_PAIRS = 20  # fewer training points than this: the fallback below
# Without finished curves to learn from: no gain expected on average, a wide spread (sd 0.2 at the start of a
# run, narrowing with the budget left and the headroom).
FALLBACK_W = np.zeros(5)
FALLBACK_V = np.array([np.log(0.2**2) - np.log(1.01), 1.0, 0.0, 1.0, 0.0])


def features(quality: np.ndarray, fraction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """phi and psi (see the module's docstring) of a curve's prefix: quality and fraction at each of its steps."""
    quality = np.asarray(quality, dtype=float)
    fraction = np.asarray(fraction, dtype=float)
    left = np.maximum(1.0 - fraction, FRACTION_FLOOR)
    previous_q = np.concatenate([[np.nan], quality[:-1]])
    previous_s = np.concatenate([[0.0], fraction[:-1]])
    slope = np.where(np.isnan(previous_q), 0.0, (quality - previous_q) / np.maximum(fraction - previous_s, 1e-9))
    slope = np.clip(slope, -SLOPE_LIMIT, SLOPE_LIMIT)
    first = np.isnan(previous_q).astype(float)
    phi = left[:, None] * np.column_stack([np.ones_like(quality), quality, slope, left, first])
    psi = np.column_stack([np.ones_like(quality), np.log(left), np.log(np.maximum(fraction, FRACTION_FLOOR)),
                           np.log(1.0 - quality + HEADROOM_FLOOR), first])
    return phi, psi


@dataclass(frozen=True)
class CurveModel:
    w: np.ndarray  # mean weights
    v: np.ndarray  # log-variance weights
    w_cov: np.ndarray  # posterior covariance of w at the mode
    pairs: int  # (curve, step) points it was fitted on

    @classmethod
    def fallback(cls) -> "CurveModel":
        return cls(FALLBACK_W, FALLBACK_V, np.zeros((FALLBACK_W.size, FALLBACK_W.size)), 0)

    @classmethod
    def fit(cls, curves: Sequence[Curve]) -> "CurveModel":
        phis, psis, gains = [], [], []
        for curve in curves:
            if curve.steps < 2:
                continue
            fraction = curve.budgets / curve.budgets[-1]
            phi, psi = features(curve.quality, fraction)
            phis.append(phi[:-1])
            psis.append(psi[:-1])
            gains.append(curve.final - curve.quality[:-1])
        if sum(len(g) for g in gains) < MIN_PAIRS:
            return cls.fallback()
        phi, psi, gain = np.concatenate(phis), np.concatenate(psis), np.concatenate(gains)
        n_w = phi.shape[1]

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            w, v = theta[:n_w], theta[n_w:]
            log_var = psi @ v
            precision = np.exp(-log_var)
            resid = gain - phi @ w
            loss = 0.5 * np.sum(resid**2 * precision + log_var) + 0.5 * np.sum(theta**2) / PRIOR_SD**2
            grad_w = -phi.T @ (resid * precision)
            grad_v = 0.5 * psi.T @ (1.0 - resid**2 * precision)
            return float(loss), np.concatenate([grad_w, grad_v]) + theta / PRIOR_SD**2

        start = np.concatenate([np.zeros(n_w), [np.log(np.var(gain) + 1e-6)], np.zeros(psi.shape[1] - 1)])
        theta = minimize(objective, start, jac=True, method="L-BFGS-B").x
        w, v = theta[:n_w], theta[n_w:]
        precision = np.exp(-(psi @ v))
        hessian = phi.T @ (phi * precision[:, None]) + np.eye(n_w) / PRIOR_SD**2
        return cls(w, v, np.linalg.inv(hessian), int(gain.size))

    def predict(self, quality: Sequence[float], fraction: Sequence[float]) -> tuple[float, float]:
        """Mean and standard deviation of the final quality of a curve whose steps so far reached `quality` at
        `fraction` of its budget (both in step order)."""
        quality = np.asarray(quality, dtype=float)
        if quality.size == 0:
            raise ValueError("a curve needs at least one step to predict from")
        if fraction[-1] >= 1.0:
            return float(quality[-1]), 0.0
        phi, psi = features(quality, fraction)
        phi, psi = phi[-1], psi[-1]
        mean = float(quality[-1] + phi @ self.w)
        variance = float(np.exp(psi @ self.v) + phi @ self.w_cov @ phi)
        return min(max(mean, 0.0), 1.0), float(np.sqrt(variance))
