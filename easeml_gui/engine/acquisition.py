"""Acquisition functions and schedules (pure, vectorised over arrays of arms or tenants x arms)."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

_SQRT_2PI = np.sqrt(2.0 * np.pi)
# Quality is an accuracy (ALGORITHM.md): no arm can return more than 1. A Gaussian belief puts mass above it, and
# EI counts that mass as improvement; near the top it is most of the EI (best 0.99, N(0.95, 0.11): 87 %).
QUALITY_CEILING = 1.0


def beta_t(n_arms: int | np.ndarray, t: int | np.ndarray, delta: float = 0.1) -> np.ndarray:
    """GP-UCB exploration weight for a finite arm set (Srinivas et al. 2010): 2 log(K t^2 pi^2 / (6 delta))."""
    t = np.maximum(np.asarray(t, dtype=float), 1.0)
    return 2.0 * np.log(np.asarray(n_arms, dtype=float) * t**2 * np.pi**2 / (6.0 * delta))


def ucb(mean: np.ndarray, sigma: np.ndarray, beta: float | np.ndarray) -> np.ndarray:
    return mean + np.sqrt(beta) * sigma


def cost_scaled_ucb(mean: np.ndarray, sigma: np.ndarray, beta: float | np.ndarray, cost: np.ndarray) -> np.ndarray:
    """The prototype's cost-aware rule: mu + sqrt(beta / c) sigma (cheap arms explore more)."""
    return mean + np.sqrt(beta / np.maximum(cost, 1e-12)) * sigma


def expected_improvement(mean: np.ndarray, sigma: np.ndarray, best: float | np.ndarray) -> np.ndarray:
    """E[max(0, f - best)] for f ~ N(mean, sigma^2); exact where sigma = 0."""
    sigma = np.asarray(sigma, dtype=float)
    gap = np.asarray(mean, dtype=float) - best
    safe = np.where(sigma > 0, sigma, 1.0)
    z = gap / safe
    ei = gap * ndtr(z) + safe * np.exp(-0.5 * z**2) / _SQRT_2PI
    return np.where(sigma > 0, np.maximum(ei, 0.0), np.maximum(gap, 0.0))


def log_expected_improvement(mean: np.ndarray, sigma: np.ndarray, best: float | np.ndarray,
                             ceiling: float | None = None) -> np.ndarray:
    """log EI, finite far into the tail where EI itself underflows to 0 (keeps rankings meaningful). With a
    ceiling: log E[max(0, min(f, ceiling) - best)] = log(EI(best) - EI(ceiling)), what f can really add."""
    log_ei = _log_ei(mean, sigma, best)
    if ceiling is None:
        return log_ei
    undeliverable = np.minimum(_log_ei(mean, sigma, ceiling) - log_ei, 0.0)  # log(EI(ceiling) / EI(best))
    # at best >= ceiling nothing can be gained: 690 below the uncapped score, finite so the order stays defined
    return log_ei + np.log(np.maximum(-np.expm1(undeliverable), 1e-300))


def _log_ei(mean: np.ndarray, sigma: np.ndarray, best: float | np.ndarray) -> np.ndarray:
    """log EI without a ceiling.

    EI = sigma h(z) with h(z) = phi(z) + z Phi(z), z = (mean - best) / sigma. For z < -6, h is evaluated
    by its asymptotic form phi(z) / z^2 (1 - 3 / z^2), whose log never underflows.
    """
    sigma = np.maximum(np.asarray(sigma, dtype=float), 1e-300)
    z = (np.asarray(mean, dtype=float) - best) / sigma
    near = np.maximum(z, -6.0)
    direct = np.log(np.maximum(np.exp(-0.5 * near**2) / _SQRT_2PI + near * ndtr(near), 1e-300))
    far = np.clip(z, -1e150, -6.0)  # beyond -1e150 z**2 overflows; log EI is hopeless there anyway
    tail = -0.5 * far**2 - np.log(_SQRT_2PI) - 2.0 * np.log(-far) + np.log1p(-3.0 / far**2)
    return np.where(z > -6.0, direct, tail) + np.log(sigma)
