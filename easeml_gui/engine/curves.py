"""Learning curves for the simulator: a long CSV `dataset,arm,budget,quality,seconds`, read with clear errors.

One row is one budget step of one (dataset, arm): budget an increasing integer per arm (e.g. the epoch), quality what
a run stopped at that budget delivers (validation accuracy in [0, 1]), seconds what reaching this budget costs from
the previous row of the same arm. The last row of an arm is its full-budget result, so the curves also give the
quality and cost matrices the full-budget policies replay. An arm with no rows for a dataset failed there, at no cost.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .matrix import Matrix, MatrixError

COLUMNS = ("dataset", "arm", "budget", "quality", "seconds")
# Bounds on what one file may make the simulator hold: a curves file of a whole lab's history is far smaller.
MAX_BYTES = 64 * 1024 * 1024
MAX_ROWS = 1_000_000
MAX_STEPS = 10_000  # budget rows of one arm on one dataset


class CurvesError(MatrixError):
    """A curves file the simulator cannot use; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class Curve:
    """One arm on one dataset: budgets (increasing), the quality at each, and the seconds each step cost."""

    budgets: np.ndarray  # (B,) int
    quality: np.ndarray  # (B,)
    seconds: np.ndarray  # (B,) cost of reaching budgets[b] from budgets[b - 1] (from nothing for b = 0)

    @property
    def steps(self) -> int:
        return int(self.budgets.size)

    @property
    def final(self) -> float:
        return float(self.quality[-1])

    @property
    def total_seconds(self) -> float:
        return float(self.seconds.sum())

    def fraction(self, step: int) -> float:
        """How far through its full budget the arm is after `step` steps (1-based)."""
        return float(self.budgets[step - 1] / self.budgets[-1])


@dataclass(frozen=True)
class LabelledCurve:
    dataset: str
    arm: str
    curve: Curve


@dataclass(frozen=True)
class Curves:
    name: str
    datasets: tuple[str, ...]
    arms: tuple[str, ...]
    curves: dict[tuple[int, int], Curve]  # (dataset row, arm column) -> its curve; absent: the run failed

    def curve(self, row: int, col: int) -> Curve | None:
        return self.curves.get((row, col))

    def matrices(self) -> tuple[Matrix, Matrix]:
        """The full-budget quality and cost matrices (NaN quality and 0 seconds where an arm has no curve)."""
        quality = np.full((len(self.datasets), len(self.arms)), np.nan)
        cost = np.zeros_like(quality)
        for (row, col), curve in self.curves.items():
            quality[row, col], cost[row, col] = curve.final, curve.total_seconds
        return (Matrix(self.name, self.datasets, self.arms, quality),
                Matrix(self.name + " (cost)", self.datasets, self.arms, cost))

    def subset(self, rows: np.ndarray) -> list[LabelledCurve]:
        """Every curve of the given datasets: what a model fitted on those rows may learn from."""
        wanted = set(int(r) for r in rows)
        return [LabelledCurve(self.datasets[row], self.arms[col], curve)
                for (row, col), curve in sorted(self.curves.items()) if row in wanted]


def one_step_curves(quality: Matrix, cost: Matrix | None) -> Curves:
    """A matrix as curves of one budget step each (1 second per run without costs): the multi-fidelity policies
    replay a matrix as the full-budget ones do."""
    curves = {}
    for row, col in zip(*np.nonzero(~np.isnan(quality.values))):
        seconds = 1.0 if cost is None else float(cost.values[row, col])
        curves[(int(row), int(col))] = Curve(np.array([1]), np.array([quality.values[row, col]]), np.array([seconds]))
    return Curves(quality.name, quality.rows, quality.arms, curves)


def _number(text: str, column: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CurvesError(f"{where}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise CurvesError(f"{where}: {column} {text!r} is not a finite number")
    return value


def _budget(text: str, where: str) -> int:
    value = _number(text, "budget", where)
    if value != int(value) or value < 1:
        raise CurvesError(f"{where}: budget {text!r} must be a whole number of at least 1 (e.g. the epoch)")
    return int(value)


def read_curves(path: str | Path) -> Curves:
    """Read a curves CSV (columns dataset,arm,budget,quality,seconds, in any order; others are ignored)."""
    path = Path(path)
    if not path.is_file():
        raise CurvesError(f"{path}: no such file (give the path of a CSV with columns {','.join(COLUMNS)})")
    if path.stat().st_size > MAX_BYTES:
        raise CurvesError(f"{path}: {path.stat().st_size / 2**20:.0f} MiB is more than the {MAX_BYTES // 2**20} MiB a "
                          "curves file may hold; keep fewer datasets or budget steps")
    with path.open("rb") as handle:
        raw = handle.read(MAX_BYTES + 1)  # the file may grow after the check: read no more than the bound
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CurvesError(f"{path}: not UTF-8 text (byte {error.start}); save the CSV as UTF-8") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    if not header:
        raise CurvesError(f"{path}: the file is empty (expected a header {','.join(COLUMNS)} and rows)")
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise CurvesError(f"{path}: the header lacks column(s) {', '.join(missing)}; a curves CSV needs "
                          f"{','.join(COLUMNS)}")
    reader.fieldnames = header
    rows: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
    datasets: dict[str, None] = {}
    arms: dict[str, None] = {}
    for number, record in enumerate(reader, start=2):
        if number - 1 > MAX_ROWS:
            raise CurvesError(f"{path}: more than {MAX_ROWS:,} rows; keep fewer datasets or budget steps")
        if not any((value or "").strip() for value in record.values() if isinstance(value, str)):
            continue  # a blank line
        where = f"{path}, line {number}"
        cells = {c: (record.get(c) or "").strip() for c in COLUMNS}
        empty = [c for c in COLUMNS if not cells[c]]
        if empty:
            raise CurvesError(f"{where}: no value for {', '.join(empty)}; every row needs all of {','.join(COLUMNS)} "
                              "(leave out the rows of a run that failed)")
        budget = _budget(cells["budget"], where)
        quality = _number(cells["quality"], "quality", where)
        if not 0 <= quality <= 1:
            raise CurvesError(f"{where}: quality {quality:g} is outside [0, 1]; give accuracies as fractions")
        seconds = _number(cells["seconds"], "seconds", where)
        if seconds < 0:
            raise CurvesError(f"{where}: seconds {seconds:g} is negative; give what reaching this budget cost")
        key = (cells["dataset"], cells["arm"])
        steps = rows.setdefault(key, [])
        if steps and budget <= steps[-1][0]:
            raise CurvesError(f"{where}: budget {budget} of arm {key[1]!r} on dataset {key[0]!r} does not increase "
                              f"(the previous row of that arm has budget {steps[-1][0]}); sort each arm's rows by budget")
        if len(steps) == MAX_STEPS:
            raise CurvesError(f"{where}: arm {key[1]!r} on dataset {key[0]!r} has more than {MAX_STEPS:,} budget rows")
        steps.append((budget, quality, seconds))
        datasets.setdefault(key[0])
        arms.setdefault(key[1])
    if len(datasets) < 2:
        raise CurvesError(f"{path}: {len(datasets)} dataset(s); the simulator needs at least 2 (tenants and history)")
    row = {name: r for r, name in enumerate(datasets)}
    col = {name: c for c, name in enumerate(arms)}
    curves = {}
    for (dataset, arm), steps in rows.items():
        budgets, quality, seconds = (np.array(column) for column in zip(*steps))
        if seconds.sum() <= 0:
            raise CurvesError(f"{path}: arm {arm!r} on dataset {dataset!r} costs 0 seconds in all; give each run's "
                              "real seconds")
        curves[(row[dataset], col[arm])] = Curve(budgets.astype(int), quality, seconds)
    return Curves(str(path), tuple(datasets), tuple(arms), curves)


def synthetic_curves(rows: int = 30, arms: int = 12, seed: int = 0, steps: int = 10) -> Curves:
    """Curves whose full-budget results are engine/matrix.py's synthetic matrices (one-step arms for a quarter of
    them, like classical learners). Each curve rises from near chance to its final quality, at a speed of its own
    (some arms lead early and are overtaken), with evaluation noise, as the best epoch so far: a development and
    test set unlike the recorded digits curves."""
    from .matrix import synthetic

    quality, cost = synthetic(rows, arms, seed)
    rng = np.random.default_rng([seed, 1])
    one_step = rng.random(arms) < 0.25
    arm_speed = rng.lognormal(sigma=0.5, size=arms)
    curves = {}
    for row in range(rows):
        for col in range(arms):
            final, seconds = float(quality.values[row, col]), float(cost.values[row, col])
            if one_step[col]:
                curves[(row, col)] = Curve(np.array([1]), np.array([final]), np.array([seconds]))
                continue
            fraction = np.arange(1, steps + 1) / steps
            speed = arm_speed[col] * rng.lognormal(sigma=0.3)
            start = 0.1 + 0.2 * rng.random()
            raw = final - (final - start) * np.exp(-3.0 * speed * fraction) * (1 - fraction) ** 0.5
            noisy = np.clip(raw + rng.normal(scale=0.01, size=steps), 0.0, 1.0)
            noisy[-1] = final
            best = np.maximum.accumulate(noisy)
            best[-1] = max(best[-2], final) if steps > 1 else final
            share = rng.dirichlet(np.full(steps, 20.0))
            curves[(row, col)] = Curve(np.arange(1, steps + 1), np.round(best, 4), seconds * share)
    return Curves(f"synthetic-curves:rows={rows},arms={arms},seed={seed},steps={steps}", quality.rows, quality.arms,
                  curves)
