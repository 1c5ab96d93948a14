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

from .curves import LabelledCurve

HEADROOM_FLOOR = 0.01  # keeps log(1 - q) finite at q = 1
FRACTION_FLOOR = 1e-3
SLOPE_LIMIT = 5.0  # a gain of 5 x the whole budget's worth per unit fraction: beyond it a slope is noise
PRIOR_SD = 3.0  # weak prior on every weight (the features are O(1))
# A validation accuracy is never known better than this (sd 0.003): curves that a formula drew would otherwise let
# the fitted variance fall without end.
VARIANCE_FLOOR = 1e-5
MIN_PAIRS = 20  # fewer training points than this: the fallback below
# Without finished curves to learn from: no gain expected on average, a wide spread (sd 0.2 at the start of a
# run, narrowing with the budget left and the headroom).
FALLBACK_W = np.zeros(6)
FALLBACK_V = np.array([np.log(0.2**2) - np.log(1.01), 1.0, 0.0, 1.0, 0.0])
SHARE_FLOOR = 0.05  # an arm's typical share of its final reached so far, at least (the implied gain stays finite)
GRID = np.linspace(0.0, 1.0, 101)


@dataclass(frozen=True)
class ArmShapes:
    """Each arm's typical learning-curve shape: the share of its final quality reached at each fraction of its
    budget, averaged over finished curves (shrunk towards all arms' average by one pseudo-curve)."""

    overall: np.ndarray  # (GRID,) every arm's
    arms: dict[str, np.ndarray]  # arm -> (GRID,)

    @classmethod
    def fit(cls, curves: Sequence[LabelledCurve]) -> "ArmShapes":
        shares: dict[str, list[np.ndarray]] = {}
        for labelled in curves:
            curve = labelled.curve
            if curve.steps >= 2 and curve.final > 0:
                share = np.interp(GRID, curve.budgets / curve.budgets[-1], curve.quality / curve.final)
                shares.setdefault(labelled.arm, []).append(share)
        every = [share for arm in shares.values() for share in arm]
        overall = np.mean(every, axis=0) if every else np.ones_like(GRID)
        arms = {arm: (np.sum(rows, axis=0) + overall) / (len(rows) + 1) for arm, rows in shares.items()}
        return cls(overall, arms)

    def share(self, arm: str | None, fraction: np.ndarray) -> np.ndarray:
        return np.interp(fraction, GRID, self.arms.get(arm, self.overall))


def features(quality: np.ndarray, fraction: np.ndarray, share: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """phi and psi (see the module's docstring) of a curve's prefix: quality and fraction at each of its steps, and
    the share of the final that the arm typically reaches there (None: no gain implied)."""
    quality = np.asarray(quality, dtype=float)
    fraction = np.asarray(fraction, dtype=float)
    implied = (np.zeros_like(quality) if share is None
               else np.clip(quality / np.maximum(share, SHARE_FLOOR) - quality, 0.0, 1.0 - quality))
    left = np.maximum(1.0 - fraction, FRACTION_FLOOR)
    previous_q = np.concatenate([[np.nan], quality[:-1]])
    previous_s = np.concatenate([[0.0], fraction[:-1]])
    slope = np.where(np.isnan(previous_q), 0.0, (quality - previous_q) / np.maximum(fraction - previous_s, 1e-9))
    slope = np.clip(slope, -SLOPE_LIMIT, SLOPE_LIMIT)
    first = np.isnan(previous_q).astype(float)
    phi = np.column_stack([left[:, None] * np.column_stack([np.ones_like(quality), quality, slope, left, first]),
                           implied])
    psi = np.column_stack([np.ones_like(quality), np.log(left), np.log(np.maximum(fraction, FRACTION_FLOOR)),
                           np.log(1.0 - quality + HEADROOM_FLOOR), first])
    return phi, psi


@dataclass(frozen=True)
class Design:
    """The model's training points: one per (curve, step before its last)."""

    phi: np.ndarray
    psi: np.ndarray
    gain: np.ndarray  # final - quality at that step
    dataset: np.ndarray  # which dataset each point comes from

    @classmethod
    def of(cls, curves: Sequence[LabelledCurve]) -> "Design":
        # An arm's shape feature of a training curve comes from the other datasets' curves only, as it will for a
        # new dataset: fitted on its own curve, the feature would look more telling than it is.
        without = {d: ArmShapes.fit([c for c in curves if c.dataset != d]) for d in {c.dataset for c in curves}}
        phis, psis, gains, datasets = [np.zeros((0, FALLBACK_W.size))], [np.zeros((0, FALLBACK_V.size))], [], []
        for labelled in curves:
            curve = labelled.curve
            if curve.steps < 2:
                continue
            fraction = curve.budgets / curve.budgets[-1]
            phi, psi = features(curve.quality, fraction, without[labelled.dataset].share(labelled.arm, fraction))
            phis.append(phi[:-1])
            psis.append(psi[:-1])
            gains.append(curve.final - curve.quality[:-1])
            datasets += [labelled.dataset] * (curve.steps - 1)
        return cls(np.concatenate(phis), np.concatenate(psis), np.concatenate([np.zeros(0), *gains]),
                   np.array(datasets))

    def without(self, dataset: str) -> "Design":
        keep = self.dataset != dataset
        return Design(self.phi[keep], self.psi[keep], self.gain[keep], self.dataset[keep])


def _map_fit(design: Design) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mode of the mean and log-variance weights."""
    phi, psi, gain = design.phi, design.psi, design.gain
    n_w = phi.shape[1]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, v = theta[:n_w], theta[n_w:]
        spread = np.exp(psi @ v)
        var = spread + VARIANCE_FLOOR
        resid = gain - phi @ w
        loss = 0.5 * np.sum(resid**2 / var + np.log(var)) + 0.5 * np.sum(theta**2) / PRIOR_SD**2
        grad_w = -phi.T @ (resid / var)
        grad_v = 0.5 * psi.T @ ((1.0 - resid**2 / var) * spread / var)
        return float(loss), np.concatenate([grad_w, grad_v]) + theta / PRIOR_SD**2

    start = np.concatenate([np.zeros(n_w), [np.log(np.var(gain) + 1e-6)], np.zeros(psi.shape[1] - 1)])
    theta = minimize(objective, start, jac=True, method="BFGS").x  # scipy 1.17's L-BFGS-B is 50x slower here
    return theta[:n_w], theta[n_w:]


@dataclass(frozen=True)
class CurveModel:
    w: np.ndarray  # mean weights
    v: np.ndarray  # log-variance weights
    w_cov: np.ndarray  # posterior covariance of w at the mode
    pairs: int  # (curve, step) points it was fitted on
    shapes: ArmShapes | None = None

    @classmethod
    def fallback(cls) -> "CurveModel":
        return cls(FALLBACK_W, FALLBACK_V, np.zeros((FALLBACK_W.size, FALLBACK_W.size)), 0)

    @classmethod
    def fit(cls, curves: Sequence[LabelledCurve]) -> "CurveModel":
        """The mean fitted on every curve; the variance fitted on how far each dataset's finals fell from the means
        of the model fitted without that dataset, since a new dataset's curves differ more from the history than the
        history's curves from each other (fitted on its own residuals, the model was 5x overconfident on a dataset
        unlike the two it had seen)."""
        design = Design.of(curves)
        if design.gain.size < MIN_PAIRS:
            return cls.fallback()
        w, v = _map_fit(design)
        datasets = np.unique(design.dataset)
        if datasets.size >= 2:
            residual = np.empty_like(design.gain)
            for left_out in datasets:
                w_without, _ = _map_fit(design.without(left_out))
                held = design.dataset == left_out
                residual[held] = design.gain[held] - design.phi[held] @ w_without
            _, v = _map_fit(Design(np.zeros((residual.size, 0)), design.psi, residual, design.dataset))
        precision = 1.0 / (np.exp(design.psi @ v) + VARIANCE_FLOOR)
        hessian = design.phi.T @ (design.phi * precision[:, None]) + np.eye(w.size) / PRIOR_SD**2
        return cls(w, v, np.linalg.inv(hessian), int(design.gain.size), ArmShapes.fit(curves))

    def standardised(self, curves: Sequence[LabelledCurve]) -> np.ndarray:
        """(final - predicted mean) / predicted sd at every step before each curve's last."""
        z = []
        for labelled in curves:
            curve = labelled.curve
            fraction = curve.budgets / curve.budgets[-1]
            for step in range(1, curve.steps):
                mean, sd = self.predict(curve.quality[:step], fraction[:step], labelled.arm)
                z.append((curve.final - mean) / sd)
        return np.array(z)

    def predict(self, quality: Sequence[float], fraction: Sequence[float], arm: str | None = None
                ) -> tuple[float, float]:
        """Mean and standard deviation of the final quality of a curve of `arm` whose steps so far reached
        `quality` at `fraction` of its budget (both in step order)."""
        quality = np.asarray(quality, dtype=float)
        fraction = np.asarray(fraction, dtype=float)
        if quality.size == 0:
            raise ValueError("a curve needs at least one step to predict from")
        if fraction[-1] >= 1.0:
            return float(quality[-1]), 0.0
        share = None if self.shapes is None else self.shapes.share(arm, fraction)
        phi, psi = features(quality, fraction, share)
        phi, psi = phi[-1], psi[-1]
        mean = float(quality[-1] + phi @ self.w)
        variance = float(np.exp(psi @ self.v) + VARIANCE_FLOOR + phi @ self.w_cov @ phi)
        return min(max(mean, 0.0), 1.0), float(np.sqrt(variance))
