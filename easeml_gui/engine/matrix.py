"""Quality and cost matrices (datasets x arms) for the simulator: CSV reading with clear errors, and a
synthetic generator for cost-aware and large-scale cases."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class MatrixError(ValueError):
    """A matrix file the simulator cannot use; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class Matrix:
    """Rows = datasets, columns = arms; NaN = a run that failed in the source."""

    name: str
    rows: tuple[str, ...]
    arms: tuple[str, ...]
    values: np.ndarray  # (R, K)


def _parse_cell(text: str, where: str) -> float:
    text = text.strip()
    if text == "" or text.lower() == "nan":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise MatrixError(f"{where}: {text!r} is not a number (leave the cell empty for a failed run)") from None


def read_matrix(path: str | Path, kind: str = "quality") -> Matrix:
    """Read a CSV whose first column names the dataset and whose other columns are arms."""
    path = Path(path)
    if not path.is_file():
        raise MatrixError(f"{path}: no such file (give the path of a CSV: dataset,arm1,arm2,...)")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        table = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    if not table:
        raise MatrixError(f"{path}: the file is empty (expected a header dataset,arm1,arm2,... and rows)")
    header, body = table[0], table[1:]
    arms = tuple(name.strip() for name in header[1:])
    if not arms:
        raise MatrixError(f"{path}: the header names no arm columns (expected dataset,arm1,arm2,...)")
    if len(set(arms)) != len(arms):
        raise MatrixError(f"{path}: the header repeats an arm name; every column must be unique")
    if len(body) < 2:
        raise MatrixError(f"{path}: {len(body)} data row(s); a matrix needs at least 2 datasets (tenants and history)")
    values = np.empty((len(body), len(arms)))
    for r, row in enumerate(body):
        line = r + 2
        if len(row) != len(header):
            raise MatrixError(
                f"{path}, line {line}: {len(row)} cells but the header has {len(header)}; "
                "every row needs one cell per column (leave a cell empty for a failed run)"
            )
        for c, cell in enumerate(row[1:]):
            values[r, c] = _parse_cell(cell, f"{path}, line {line}, column {arms[c]!r}")
    if kind == "quality":
        bad = np.argwhere((values < 0) | (values > 1))
        if bad.size:
            r, c = bad[0]
            raise MatrixError(
                f"{path}, line {r + 2}, column {arms[c]!r}: quality {values[r, c]} is outside [0, 1] "
                f"({len(bad)} such cell(s)); give accuracies as fractions"
            )
        empty = np.flatnonzero(np.all(np.isnan(values), axis=1))
        if empty.size:
            raise MatrixError(f"{path}, line {empty[0] + 2}: every run of dataset {body[empty[0]][0]!r} failed; drop the row")
    else:
        bad = np.argwhere(values <= 0)
        if bad.size:
            r, c = bad[0]
            raise MatrixError(f"{path}, line {r + 2}, column {arms[c]!r}: cost {values[r, c]} must be positive seconds")
    return Matrix(str(path), tuple(row[0].strip() for row in body), arms, values)


def check_costs(quality: Matrix, cost: Matrix) -> None:
    if cost.values.shape != quality.values.shape:
        raise MatrixError(
            f"the cost matrix {cost.name} is {cost.values.shape[0]} x {cost.values.shape[1]} but the quality matrix "
            f"{quality.name} is {quality.values.shape[0]} x {quality.values.shape[1]}; they must cover the same "
            "datasets and arms"
        )
    if cost.arms != quality.arms:
        raise MatrixError("the cost matrix's columns differ from the quality matrix's; put them in the same order")
    missing = np.isnan(cost.values) & ~np.isnan(quality.values)
    if missing.any():
        r, c = np.argwhere(missing)[0]
        raise MatrixError(f"{cost.name}, line {r + 2}, column {cost.arms[c]!r}: a run with a quality needs a cost")


# ---- synthetic matrices -----------------------------------------------------------------------------
SYNTHETIC_DEFAULTS = {"rows": 60, "arms": 50, "seed": 0, "spread": 100.0}


def parse_synthetic(spec: str) -> dict[str, float]:
    """'synthetic:rows=60,arms=50,seed=0,spread=100' -> its parameters (defaults for the ones left out)."""
    params: dict[str, float] = dict(SYNTHETIC_DEFAULTS)
    body = spec.split(":", 1)[1] if ":" in spec else ""
    for item in filter(None, (part.strip() for part in body.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in SYNTHETIC_DEFAULTS:
            raise MatrixError(
                f"bad synthetic spec item {item!r}; use synthetic:rows=R,arms=K,seed=S,spread=X "
                f"(known keys: {', '.join(SYNTHETIC_DEFAULTS)})"
            )
        try:
            params[key] = float(value)
        except ValueError:
            raise MatrixError(f"synthetic spec: {key}={value!r} is not a number") from None
    if params["rows"] < 2 or params["arms"] < 1 or params["spread"] < 1:
        raise MatrixError("synthetic spec: need rows >= 2, arms >= 1 and spread >= 1")
    return params


def synthetic(rows: int = 60, arms: int = 50, seed: int = 0, spread: float = 100.0) -> tuple[Matrix, Matrix]:
    """A quality and an aligned cost matrix with the structure that makes cost-aware choice hard.

    Each arm has a capacity z; its cost grows with capacity (spanning `spread`x between the cheapest and
    the dearest arm, like CNNs from squeezenet to vgg). Each dataset has a difficulty, a size (scaling every
    cost) and a complexity h: on simple datasets (h ~ 0) cheap arms are as good as dear ones, on complex ones
    only high-capacity arms reach the top. Arm effects shared across datasets make the history informative.
    """
    rng = np.random.default_rng(int(seed))
    rows, arms = int(rows), int(arms)
    capacity = np.sort(rng.normal(size=arms))
    arm_effect = rng.normal(scale=0.35, size=arms)
    log_cost = np.log(spread) * (capacity - capacity.min()) / max(np.ptp(capacity), 1e-9)
    base = rng.normal(loc=1.0, scale=0.9, size=rows)
    complexity = rng.beta(0.6, 0.6, size=rows)
    size = rng.lognormal(sigma=0.7, size=rows)
    logit = (
        base[:, None]
        + 1.2 * complexity[:, None] * capacity[None, :]
        + arm_effect[None, :]
        + rng.normal(scale=0.15, size=(rows, arms))
    )
    quality = np.round(1.0 / (1.0 + np.exp(-logit)), 4)
    cost = np.round(10.0 * size[:, None] * np.exp(log_cost[None, :] + rng.normal(scale=0.1, size=(rows, arms))), 2)
    names = tuple(f"d{r:03d}" for r in range(rows))
    arm_names = tuple(f"arm{k:03d}" for k in range(arms))
    label = f"synthetic:rows={rows},arms={arms},seed={int(seed)},spread={spread:g}"
    return Matrix(label, names, arm_names, quality), Matrix(label + " (cost)", names, arm_names, cost)


def load_matrices(matrix: str, cost: str | None) -> tuple[Matrix, Matrix | None]:
    """The quality matrix and its cost matrix: a CSV path, or a synthetic spec that brings its own costs."""
    matrix = matrix.strip()
    if matrix.startswith("synthetic"):
        params = parse_synthetic(matrix)
        quality, synthetic_cost = synthetic(int(params["rows"]), int(params["arms"]), int(params["seed"]), params["spread"])
        return quality, (read_matrix(cost, "cost") if cost else synthetic_cost)
    quality = read_matrix(matrix)
    if not cost:
        return quality, None
    cost_matrix = read_matrix(cost, "cost")
    check_costs(quality, cost_matrix)
    return quality, cost_matrix


def write_matrix(matrix: Matrix, path: str | Path) -> None:
    with Path(path).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["dataset", *matrix.arms])
        for name, row in zip(matrix.rows, matrix.values):
            writer.writerow([name, *("" if math.isnan(v) else f"{v:g}" for v in row)])
