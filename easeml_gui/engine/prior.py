"""What the lab already knows: a history matrix (datasets x arms) turned into a GP prior over arms.

Two covariance families, both fitted on the history rather than hand-set:
- "ledoit-wolf": the empirical covariance of the arm columns, shrunk by Ledoit-Wolf;
- "rbf": the prototype's kernel on the arms' accuracy vectors, s * exp(-||H[:,i]-H[:,j]||^2 / (2 l^2)).
Scale and observation noise (and the RBF length-scale) are chosen by cross-validated predictive
likelihood of held-out history rows: that is exactly the question the prior answers for a new tenant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRIOR_KINDS = ("auto", "ledoit-wolf", "rbf")

# Too little history to estimate a covariance: a dataset-offset + per-arm structure with generic widths
# (quality varies ~0.2 between datasets and ~0.1 between arms on one dataset) instead of a fitted one.
MIN_ROWS_TO_FIT = 4
FALLBACK_OFFSET_VAR = 0.04
FALLBACK_ARM_VAR = 0.01
FALLBACK_MEAN = 0.5

_SCALES = np.array([0.5, 1.0, 2.0, 4.0])
_NOISES = np.array([1e-6, 1e-5, 1e-4, 1e-3, 1e-2])
_LENGTH_QUANTILES = np.array([0.1, 0.25, 0.5, 0.75])


@dataclass(frozen=True)
class Prior:
    """Gaussian prior over the quality of each arm on a new dataset."""

    arm_names: tuple[str, ...]
    mean: np.ndarray  # (K,)
    cov: np.ndarray  # (K, K), positive semi-definite
    noise: float  # observation noise variance added to the diagonal
    kind: str  # which family was fitted
    rows: int  # history rows it was fitted on

    @property
    def n_arms(self) -> int:
        return len(self.arm_names)


def _impute(history: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Failed cells of the history take the column mean: they then carry no information either way."""
    filled = history.copy()
    rows, cols = np.nonzero(np.isnan(filled))
    filled[rows, cols] = mean[cols]
    return filled


def _column_mean(history: np.ndarray) -> np.ndarray:
    counts = np.sum(~np.isnan(history), axis=0)
    sums = np.nansum(history, axis=0)
    overall = float(np.nanmean(history)) if np.any(counts) else FALLBACK_MEAN
    return np.where(counts > 0, sums / np.maximum(counts, 1), overall)


def _ledoit_wolf_cov(filled: np.ndarray) -> np.ndarray:
    from sklearn.covariance import ledoit_wolf  # 1 s to import: only fits with a history pay it, not every command

    cov, _ = ledoit_wolf(filled, assume_centered=False)
    return cov


def _rbf_cov(filled: np.ndarray, length: float) -> np.ndarray:
    cols = filled.T
    sq = np.sum(cols**2, axis=1)
    dist2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * cols @ cols.T, 0.0)
    # Unit amplitude: the CV-fitted scale multiplies it, anchored at the columns' typical variance.
    amplitude = float(np.mean(np.var(filled, axis=0))) or FALLBACK_ARM_VAR
    return amplitude * np.exp(-dist2 / (2.0 * length**2))


def _rbf_lengths(filled: np.ndarray) -> np.ndarray:
    cols = filled.T
    sq = np.sum(cols**2, axis=1)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * cols @ cols.T, 0.0))
    positive = dist[np.triu_indices_from(dist, k=1)]
    positive = positive[positive > 0]
    if positive.size == 0:
        return np.array([1.0])
    return np.maximum(np.quantile(positive, _LENGTH_QUANTILES), 1e-6)


def _heldout_loglik(cov: np.ndarray, residuals: np.ndarray) -> np.ndarray:
    """Gaussian log-likelihood of residual rows under N(0, s*cov + n*I) for every (scale, noise) on the grid."""
    eigvals, eigvecs = np.linalg.eigh(cov)
    eigvals = np.maximum(eigvals, 0.0)
    projected2 = (residuals @ eigvecs) ** 2  # (rows, K)
    total = np.zeros((_SCALES.size, _NOISES.size))
    for i, scale in enumerate(_SCALES):
        for j, noise in enumerate(_NOISES):
            var = scale * eigvals + noise
            total[i, j] = -0.5 * np.sum(projected2 / var) - 0.5 * residuals.shape[0] * np.sum(np.log(var))
    return total


def _cv_score(history: np.ndarray, make_cov, folds: int) -> np.ndarray:
    """Summed held-out log-likelihood over row folds, for every (scale, noise) on the grid."""
    n = history.shape[0]
    order = np.arange(n)  # history order is already random (the caller shuffles); keep CV deterministic
    score = np.zeros((_SCALES.size, _NOISES.size))
    for fold in range(folds):
        test = order[fold::folds]
        train = np.setdiff1d(order, test)
        mean = _column_mean(history[train])
        filled_train = _impute(history[train], mean)
        residuals = _impute(history[test], mean) - mean
        score += _heldout_loglik(make_cov(filled_train), residuals)
    return score


def fit_prior(history: np.ndarray, arm_names: tuple[str, ...] | list[str], kind: str = "auto") -> Prior:
    """Fit a prior from `history` (rows = earlier datasets, columns = arms; NaN = a failed run)."""
    if kind not in PRIOR_KINDS:
        raise ValueError(f"unknown prior kind {kind!r}; choose one of {', '.join(PRIOR_KINDS)}")
    history = np.asarray(history, dtype=float).reshape(-1, len(arm_names))
    names = tuple(arm_names)
    k = len(names)
    if history.shape[0] < MIN_ROWS_TO_FIT:
        mean = _column_mean(history) if history.shape[0] else np.full(k, FALLBACK_MEAN)
        cov = FALLBACK_OFFSET_VAR * np.ones((k, k)) + FALLBACK_ARM_VAR * np.eye(k)
        return Prior(names, mean, cov, 1e-4, "fallback", history.shape[0])

    folds = min(5, history.shape[0])
    candidates: list[tuple[float, str, np.ndarray, float, float]] = []
    if kind in ("auto", "ledoit-wolf"):
        score = _cv_score(history, _ledoit_wolf_cov, folds)
        i, j = np.unravel_index(np.argmax(score), score.shape)
        candidates.append((score[i, j], "ledoit-wolf", _ledoit_wolf_cov, _SCALES[i], _NOISES[j]))
    if kind in ("auto", "rbf"):
        for length in _rbf_lengths(_impute(history, _column_mean(history))):
            make = lambda filled, length=length: _rbf_cov(filled, length)  # noqa: E731
            score = _cv_score(history, make, folds)
            i, j = np.unravel_index(np.argmax(score), score.shape)
            candidates.append((score[i, j], "rbf", make, _SCALES[i], _NOISES[j]))
    _, chosen, make_cov, scale, noise = max(candidates, key=lambda c: c[0])
    mean = _column_mean(history)
    cov = scale * make_cov(_impute(history, mean))
    return _widen_unseen_arms(Prior(names, mean, cov, float(noise), chosen, history.shape[0]), history)


def _widen_unseen_arms(prior: Prior, history: np.ndarray) -> Prior:
    """Arms with fewer than two results in the history (a new catalogue model) get a wide, uncorrelated prior:
    the widest variance of any arm plus the dataset-offset width, centred on the history's overall mean."""
    unseen = np.sum(~np.isnan(history), axis=0) < 2
    if not unseen.any():
        return prior
    mean, cov = prior.mean.copy(), prior.cov.copy()
    seen_diag = np.diag(cov)[~unseen]
    width = (seen_diag.max() if seen_diag.size else FALLBACK_ARM_VAR) + FALLBACK_OFFSET_VAR
    mean[unseen] = float(np.nanmean(history)) if np.any(~np.isnan(history)) else FALLBACK_MEAN
    cov[unseen, :] = 0.0
    cov[:, unseen] = 0.0
    cov[unseen, unseen] = width
    return Prior(prior.arm_names, mean, cov, prior.noise, prior.kind, prior.rows)


@dataclass(frozen=True)
class CostModel:
    """Predicted seconds of an arm: its history's log-cost mean, shifted by what a tenant has shown so far.

    A tenant's dataset is bigger or smaller than the history's typical one by roughly one factor for every
    arm, so each observed cost moves that tenant's offset (in log space) and thus every prediction.
    """

    log_mean: np.ndarray  # (K,) mean log-seconds per arm over the history

    @classmethod
    def from_history(cls, costs: np.ndarray | None, n_arms: int) -> "CostModel":
        if costs is None or costs.size == 0:
            return cls(np.zeros(n_arms))
        logs = np.log(np.where(costs > 0, costs, np.nan))
        counts = np.sum(~np.isnan(logs), axis=0)
        overall = float(np.nanmean(logs)) if np.any(counts) else 0.0
        means = np.where(counts > 0, np.nansum(logs, axis=0) / np.maximum(counts, 1), overall)
        return cls(means)

    def predict(self, observed_arms: np.ndarray, observed_costs: list[float]) -> np.ndarray:
        """Predicted seconds of every arm, given the (prior-column) arms a tenant ran and what they cost."""
        if len(observed_arms) == 0:
            return np.exp(self.log_mean)
        offset = float(np.mean(np.log(np.maximum(observed_costs, 1e-9)) - self.log_mean[observed_arms]))
        return np.exp(self.log_mean + offset)
