"""What the lab already knows: a history matrix (datasets x arms) turned into a GP prior over arms.

Two covariance families, both fitted on the history rather than hand-set:
- "ledoit-wolf": the empirical covariance of the arm columns, shrunk by Ledoit-Wolf;
- "rbf": the prototype's kernel on the arms' accuracy vectors, s * exp(-||H[:,i]-H[:,j]||^2 / (2 l^2)).
Scale and observation noise (and the RBF length-scale) are chosen by cross-validated predictive
likelihood of held-out history rows: that is exactly the question the prior answers for a new tenant.

What a task will cost: WorkCostModel predicts seconds from a job's work figures (training GFLOP per arm) and
learns online from every finished task; CostModel, for jobs without work figures (the simulator's cost
matrices), scales the history's per-arm costs by what a tenant's own tasks cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

PRIOR_KINDS = ("auto", "ledoit-wolf", "rbf")

# Too little history to estimate a covariance: a dataset-offset + family-offset + per-arm structure with generic
# widths (quality varies ~0.2 between datasets and ~0.1 between arms on one dataset) instead of a fitted one. Half
# of a dataset's offset is shared by every arm, half only by the arms of one family (the caller names them, e.g.
# learners on pixels vs networks): MEASURED in bench/accuracy_vs_peers.py, colourised digits score 0.16-0.50 with
# every classical learner and 0.80 with a network, plain digits 0.96-0.99 with both. Arms of one family are
# correlated 0.8 (as every arm was before families), arms of two families 0.4, so a network's first result on a
# tenant moves the other networks' predictions twice as far as the learners' results do.
MIN_ROWS_TO_FIT = 4
FALLBACK_OFFSET_VAR = 0.02
FALLBACK_FAMILY_VAR = 0.02
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


def fit_prior(history: np.ndarray, arm_names: tuple[str, ...] | list[str], kind: str = "auto",
              families: Sequence[str] | None = None) -> Prior:
    """Fit a prior from `history` (rows = earlier datasets, columns = arms; NaN = a failed run). `families` (one
    label per arm; default: one family) shapes the fallback covariance of a history too short to fit one."""
    if kind not in PRIOR_KINDS:
        raise ValueError(f"unknown prior kind {kind!r}; choose one of {', '.join(PRIOR_KINDS)}")
    history = np.asarray(history, dtype=float).reshape(-1, len(arm_names))
    names = tuple(arm_names)
    k = len(names)
    if history.shape[0] < MIN_ROWS_TO_FIT:
        mean = _column_mean(history) if history.shape[0] else np.full(k, FALLBACK_MEAN)
        cov = fallback_cov(families if families is not None else [""] * k)
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


def fallback_cov(families: Sequence[str]) -> np.ndarray:
    """The generic covariance: a dataset offset shared by all arms, one shared within a family, one per arm."""
    labels = np.asarray(families, dtype=object)
    same_family = (labels[:, None] == labels[None, :]).astype(float)
    return FALLBACK_OFFSET_VAR + FALLBACK_FAMILY_VAR * same_family + FALLBACK_ARM_VAR * np.eye(labels.size)


def _widen_unseen_arms(prior: Prior, history: np.ndarray) -> Prior:
    """Arms with fewer than two results in the history (a new catalogue model) get a wide, uncorrelated prior:
    the widest variance of any arm plus the dataset-offset width, centred on the history's overall mean."""
    unseen = np.sum(~np.isnan(history), axis=0) < 2
    if not unseen.any():
        return prior
    mean, cov = prior.mean.copy(), prior.cov.copy()
    seen_diag = np.diag(cov)[~unseen]
    width = (seen_diag.max() if seen_diag.size else FALLBACK_ARM_VAR) + FALLBACK_OFFSET_VAR + FALLBACK_FAMILY_VAR
    mean[unseen] = float(np.nanmean(history)) if np.any(~np.isnan(history)) else FALLBACK_MEAN
    cov[unseen, :] = 0.0
    cov[:, unseen] = 0.0
    cov[unseen, unseen] = width
    return Prior(prior.arm_names, mean, cov, prior.noise, prior.kind, prior.rows)


@dataclass(frozen=True)
class CostModel:
    """Predicted seconds of an arm: its history's log-cost mean, shifted by what a tenant has shown so far.

    A tenant's dataset is bigger or smaller than the history's typical one by roughly one factor for every
    arm, so each observed cost moves that tenant's offset (in log space) and thus every prediction. For jobs
    that bring no work figures (the simulator's cost matrices); jobs that do are priced by WorkCostModel.
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


# Before any task ran on a kind of device: the seconds a task costs whatever it trains (the worker's interpreter
# and torch import, the dataset's decode, the model's build, the evaluation), and the training GFLOP per second
# (as training_gflop counts them) of a model of REFERENCE_GFLOP_PER_SAMPLE. MEASURED on the 2-core test machine
# (busy: load 3-6): the smallest digits task (mobilenet_v3_small, 180 images, 16 px, 1 epoch) took 46 s, of
# which 19 s before the worker's first line ran (python + torch import) and 11 s in the worker besides training:
# ~10 s on an idle machine. Training steps at 16-32 px ran at 0.1-0.4 GFLOP/s (mobilenet_v3_small, 0.004-0.014
# GFLOP per sample) to 9-12 GFLOP/s (resnet18, 0.4-1.8): 0.04 s per sample either way, ~2 GFLOP/s at 0.1 GFLOP
# per sample. GPUs: a ResNet-18 epoch of CIFAR-10 in ~15 s on an A100 is ~6 TFLOP/s; small nets use a GPU far
# worse, and CUDA's initialisation adds seconds to the start-up.
STARTUP_SECONDS = {"cpu": 10.0, "cuda": 15.0}
DEFAULT_GFLOPS = {"cpu": 2.0, "cuda": 2000.0}
# Prior standard deviations (natural log) of the effects, and of one task's log-seconds around the prediction.
# A device kind's start-up and rate span laptops to servers and T4s to H100s; an architecture's seconds per GFLOP
# differ from the device's typical ones (measured: ~1.5-1.9 across five models on the CPU: depthwise convolutions
# and small feature maps use a device poorly); its relative speed differs again between a CPU and a GPU.
STARTUP_SD = float(np.log(3.0))
DEVICE_SD = float(np.log(10.0))
MODEL_SD = float(np.log(4.0))
# A group of arms that trains alike (networks in torch, pixel learners in scikit-learn on the CPU, whatever the
# device) has its own rate and elasticity, as far from the device's typical rate as a device from the default
# (classical learners' GFLOP are a proxy). MEASURED on the 2-core machine: with one rate for both, the lab priced
# mobilenet_v3_large's first task at 2,140 s after five mobilenet_v3_small tasks and 16 classical ones; it took
# 233 s (grouped: 750 s, tests/test_cost_model.py).
GROUP_SD = float(np.log(10.0))
MODEL_ON_DEVICE_SD = float(np.log(2.0))
NOISE_SD = float(np.log(1.3))
# Seconds grow with a model's GFLOP per training sample to the power `elasticity`: 1 where compute bounds the
# speed (large images), less where per-layer overheads do (small images, small nets). MEASURED on the 2-core
# machine at 16 px: 0.36 fitted on 20 digits tasks of five models whose GFLOP per sample span 127x; the prior sits
# between that and the compute-bound 1, and its width spans both. Centred at a reference model, so the device rate
# is that of REFERENCE_GFLOP_PER_SAMPLE.
ELASTICITY_MEAN, ELASTICITY_SD = 0.5, 0.5
REFERENCE_GFLOP_PER_SAMPLE = 0.1
_MAX_STEPS = 50

Effect = tuple[str, str]  # (group, key): ("startup", "cpu"), ("device", "cuda"), ("model", "resnet18"), ...


def device_kind(device: str) -> str:
    """The class of device a task's seconds teach: "cuda:1" -> "cuda", "cpu" -> "cpu"."""
    return device.split(":", 1)[0]


@dataclass(frozen=True)
class JobWork:
    """What a job's tasks train, known before any runs: the samples every arm trains on (train images x epochs)
    and each arm's training GFLOP over them, in the job's arm order."""

    samples: float
    gflop: tuple[float, ...]
    memory_mib: tuple[float, ...] | None = None  # each arm's estimated GPU memory to train; None: not known

    def __post_init__(self) -> None:
        if not (self.samples > 0 and all(g > 0 and math.isfinite(g) for g in self.gflop)):
            raise ValueError(f"work figures must be positive: {self.samples} samples, GFLOP {self.gflop}")
        if self.memory_mib is not None and (len(self.memory_mib) != len(self.gflop)
                                            or not all(m >= 0 and math.isfinite(m) for m in self.memory_mib)):
            raise ValueError(f"one memory need (MiB, >= 0) per arm: {self.memory_mib} for {len(self.gflop)} arms")


class WorkCostModel:
    """Predicted seconds of a task: its device's start-up plus training time, learned online from every task.

    log(seconds) = log(exp(startup[kind]) + samples * exp(rate)) + noise, where
    rate = device[kind] + group-device[group, kind] + elasticity[group, kind] * log(GFLOP per sample / reference)
           + model[arm] + model-device[arm, kind]:
    every effect with an independent Gaussian prior (a device kind's default start-up and rate, FLOPs' elasticity
    ELASTICITY_MEAN, the offsets 0), fitted (posterior mode) to every finished task of every tenant. `groups` names
    each arm's group (arms that train alike: networks, pixel learners); an arm it does not name is in the group "".
    The offsets are pooled across tenants, so a new tenant's first task of a model another tenant trained is priced
    from it, scaled by its own samples, and a model's first task from its group's; the first task on a kind of
    device moves that kind's rate, and with it every arm's price, most of the way. Short tasks teach the start-up,
    long ones the rates, tasks of different models of one group its elasticity.

    The fit depends on the set of finished tasks, not on their order (it reads them sorted): a restarted run that
    replays its results in decision order prices as the unbroken run did.
    """

    def __init__(self, gflops: Mapping[str, float] = DEFAULT_GFLOPS,
                 startup: Mapping[str, float] = STARTUP_SECONDS, groups: Mapping[str, str] | None = None) -> None:
        self._gflops = dict(gflops)
        self._startup = dict(startup)
        self._groups = dict(groups or {})
        self._tasks: list[tuple[str, str, float, float, float]] = []  # (device kind, arm, samples, GFLOP, seconds)
        self._fit: dict[Effect, float] | None = None  # posterior mode, refitted on the first use after a task

    def observe(self, arm: str, samples: float, gflop: float, device: str, seconds: float) -> None:
        """A task that trained `arm` (`gflop` over `samples`) on `device` finished in `seconds`. Only finished
        training teaches: a failed or cancelled task's seconds say nothing about its rate."""
        if samples > 0 and gflop > 0 and seconds > 0:
            self._tasks.append((device_kind(device), arm, float(samples), float(gflop), float(seconds)))
            self._fit = None

    def startup(self, device: str) -> float:
        """Seconds a task on `device` costs before it trains."""
        return math.exp(self._effect(("startup", device_kind(device))))

    def predict(self, arms: Sequence[str], work: JobWork, device: str) -> np.ndarray:
        """Predicted seconds of training each of `arms` (a job's, with its work figures) on `device`."""
        kind = device_kind(device)
        log_rate = [sum(c * self._effect(e) for e, c in self._rate_terms(arm, kind, work.samples, g))
                    for arm, g in zip(arms, work.gflop)]
        return self.startup(device) + work.samples * np.exp(log_rate)

    def _effect(self, effect: Effect) -> float:
        if self._fit is None:
            self._fit = self._posterior_mode()
        return self._fit.get(effect, self._prior(effect)[0])

    def _prior(self, effect: Effect) -> tuple[float, float]:
        """Prior mean and variance of one effect."""
        group, key = effect
        if group == "startup":  # log seconds
            return math.log(self._startup.get(key, self._startup["cpu"])), STARTUP_SD**2
        if group == "device":  # log seconds per sample of the reference model
            gflops = self._gflops.get(key, self._gflops["cpu"])
            return math.log(REFERENCE_GFLOP_PER_SAMPLE / gflops), DEVICE_SD**2
        if group == "elasticity":
            return ELASTICITY_MEAN, ELASTICITY_SD**2
        if group == "group-device":
            return 0.0, GROUP_SD**2
        return 0.0, (MODEL_SD if group == "model" else MODEL_ON_DEVICE_SD) ** 2

    def _rate_terms(self, arm: str, kind: str, samples: float, gflop: float) -> list[tuple[Effect, float]]:
        """The effects of log(seconds per sample) and their coefficients."""
        group = self._groups.get(arm, "")
        return [(("device", kind), 1.0), (("group-device", f"{group} {kind}"), 1.0),
                (("elasticity", f"{group} {kind}"), math.log(gflop / samples / REFERENCE_GFLOP_PER_SAMPLE)),
                (("model", arm), 1.0), (("model-device", f"{arm} {kind}"), 1.0)]

    def _posterior_mode(self) -> dict[Effect, float]:
        """Gauss-Newton on the log-seconds residuals plus the priors, from the prior mean, halving steps that do
        not lower the objective. Each task touches 6 effects, so the normal equations are summed sparsely."""
        if not self._tasks:
            return {}
        tasks = sorted(self._tasks)
        terms = [[(("startup", kind), 1.0), *self._rate_terms(arm, kind, samples, gflop)]
                 for kind, arm, samples, gflop, _ in tasks]
        effects = sorted({e for row in terms for e, _ in row})
        index = {e: i for i, e in enumerate(effects)}
        mean, var = (np.array(column) for column in zip(*(self._prior(e) for e in effects)))
        cols = np.array([[index[e] for e, _ in row] for row in terms])  # (tasks, 6): startup first
        coef = np.array([[c for _, c in row] for row in terms])
        log_samples = np.log([task[2] for task in tasks])
        log_seconds = np.log([task[4] for task in tasks])

        def residuals(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            log_startup = theta[cols[:, 0]]
            log_training = log_samples + np.sum(coef[:, 1:] * theta[cols[:, 1:]], axis=1)
            predicted = np.logaddexp(log_startup, log_training)
            return log_seconds - predicted, np.exp(log_startup - predicted)  # and d(prediction)/d(startup)

        def objective(theta: np.ndarray) -> float:
            return float(np.sum(residuals(theta)[0] ** 2) / NOISE_SD**2 + np.sum((theta - mean) ** 2 / var))

        theta = mean.copy()
        for _ in range(_MAX_STEPS):
            r, share = residuals(theta)
            jac = coef * np.column_stack([share, np.repeat((1.0 - share)[:, None], cols.shape[1] - 1, axis=1)])
            normal = np.diag(1.0 / var)
            np.add.at(normal, (cols[:, :, None], cols[:, None, :]), jac[:, :, None] * jac[:, None, :] / NOISE_SD**2)
            gradient = -(theta - mean) / var
            np.add.at(gradient, cols, jac * r[:, None] / NOISE_SD**2)
            step = np.linalg.solve(normal, gradient)
            current = objective(theta)
            while objective(theta + step) > current and np.max(np.abs(step)) > 1e-12:
                step = step / 2
            theta = theta + step
            if np.max(np.abs(step)) < 1e-9:
                break
        return dict(zip(effects, theta.tolist()))
