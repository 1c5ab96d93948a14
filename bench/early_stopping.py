"""Early stopping against full-budget selection and the ASHA peers, on learning curves it was not tuned on.

Each seed shuffles the curves' datasets: the first --tenants are the lab's tenants, the others its history, from
which the GP prior, the cost model and the learning-curve model are fitted (leave-datasets-out: a tenant's own
curves never reach a model that decides for it). All policies replay the same splits, on one device by default.

Per target 0.05 .. 0.005 it prints the median device seconds until the global regret is at most the target, for
default-full-budget (today's policy), early-stopping and the two ASHA variants, and the ratios in the same run:
full-budget / early-stopping and best ASHA / early-stopping (goals: >= 3x and >= 1.5x at every target), plus each
policy's cumulative regret. A last row bounds what any policy could do: an oracle that knows every curve trains,
per tenant, one arm up to the epoch where it is good enough, the tenants sharing the regret the target allows
(a knapsack over the same splits); full-budget / oracle is the most any early stopping could gain. Then the decision overhead: every start/continue/pause/resume decision timed in a
replay of 100 tenants on 20 devices (20 running tasks), p50 and p99 in milliseconds of wall time and of this
thread's CPU time (goal: p99 < 5 ms; on a shared machine the wall p99 includes waits for a core).

    python bench/early_stopping.py [--curves bench/curves_digits.csv] [--tenants 4] [--seeds 20] [--workers 1]
        [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from easeml_gui.engine.curve_replay import replay_curves
from easeml_gui.engine.curves import Curves, read_curves, synthetic_curves
from easeml_gui.engine.policies import get_fidelity_policy
from easeml_gui.engine.simulate import simulate, split_rows

ROOT = Path(__file__).resolve().parent.parent
TARGETS = (0.05, 0.02, 0.01, 0.005)
WIDTH = 38  # the row labels' column
FULL, OURS, ASHAS = "default-full-budget", "early-stopping", ("asha-round-robin", "asha-pooled")


def ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None:
        return "-"
    return f"{numerator / denominator:.2f}x"


def oracle_seconds(curves: Curves, tenant_rows: np.ndarray, target: float, grid: int = 400) -> float:
    """Fewest device seconds to a global regret <= target knowing every curve: each tenant trains one arm to one
    epoch (or nothing, at its full regret), the regret budget tenants x target shared by a knapsack over a grid."""
    budget = len(tenant_rows) * target
    cheapest = np.zeros(grid + 1)  # fewest seconds for the tenants so far within regret budget * j / grid
    for row in tenant_rows:
        optimum = max(c.final for (r, _), c in curves.curves.items() if r == row)
        options = [(0.0, optimum)] + [(seconds, optimum - quality) for (r, _), c in curves.curves.items() if r == row
                                      for seconds, quality in zip(np.cumsum(c.seconds), c.quality)]
        best = np.full(grid + 1, np.inf)
        for seconds, regret in options:
            if regret <= budget + 1e-12:
                used = int(np.ceil(max(regret, 0.0) / budget * grid - 1e-9)) if budget > 0 else 0
                best[used:] = np.minimum(best[used:], cheapest[:grid + 1 - used] + seconds)
        cheapest = best
    return float(cheapest[-1])


def compare(args: argparse.Namespace) -> dict:
    curves = read_curves(args.curves)
    policies = [FULL, OURS, *ASHAS]
    report = simulate(curves, None, policies, args.tenants, 1, args.seeds, TARGETS, workers=args.workers)
    seconds = {p: [next(r for r in report.results if r.policy == p and r.target == t).device_seconds
                   for t in TARGETS] for p in policies}
    reached = {p: [next(r for r in report.results if r.policy == p and r.target == t).reached for t in TARGETS]
               for p in policies}
    print(f"{curves.name}: {len(curves.datasets)} datasets, {len(curves.arms)} arms; {args.tenants} tenants, "
          f"1 device, {args.seeds} seeds (the other datasets are each seed's history)")
    print("median device seconds until global regret <= target  (k/S: seeds that reached it)")
    print("policy".ljust(WIDTH) + "".join(f"{t:>14g}" for t in TARGETS) + "   cum. regret")
    for p in policies:
        cells = [("never" if s is None else f"{s:.0f}") + ("" if k == args.seeds else f" ({k}/{args.seeds})")
                 for s, k in zip(seconds[p], reached[p])]
        print(p.ljust(WIDTH) + "".join(c.rjust(14) for c in cells) + f"   {report.cumulative_regret[p]:.4g}")
    best_asha = [min((seconds[a][i] for a in ASHAS if seconds[a][i] is not None), default=None)
                 for i in range(len(TARGETS))]
    splits = [split_rows(len(curves.datasets), args.tenants, np.random.default_rng([seed, 0]))[0]
              for seed in range(args.seeds)]
    oracle = [float(np.median([oracle_seconds(curves, rows, t) for rows in splits])) for t in TARGETS]
    print("oracle (lower bound)".ljust(WIDTH) + "".join(f"{s:.0f}".rjust(14) for s in oracle))
    print(f"{FULL} / {OURS}".ljust(WIDTH) + "".join(ratio(f, o).rjust(14) for f, o in zip(seconds[FULL], seconds[OURS])))
    print(f"best ASHA / {OURS}".ljust(WIDTH) + "".join(ratio(a, o).rjust(14) for a, o in zip(best_asha, seconds[OURS])))
    print(f"{FULL} / oracle".ljust(WIDTH) + "".join(ratio(f, o).rjust(14) for f, o in zip(seconds[FULL], oracle)))
    return {"curves": curves.name, "tenants": args.tenants, "seeds": args.seeds, "targets": TARGETS,
            "device_seconds": seconds, "reached": reached, "cumulative_regret": report.cumulative_regret,
            "oracle_seconds": oracle}


def overhead(tenants: int = 100, devices: int = 20, arms: int = 20) -> dict:
    """Every decision of an early-stopping replay of `tenants` tenants on `devices` devices, timed."""
    curves = synthetic_curves(rows=tenants + 20, arms=arms, seed=0, steps=10)
    timings: list[tuple[float, float]] = []  # (wall, CPU) seconds
    policy = get_fidelity_policy(OURS)

    def timed(state):
        rule = policy.make(state)
        for name in ("next", "boundary"):
            method = getattr(rule, name)

            def wrapper(*args, method=method):
                wall, cpu = time.perf_counter(), time.thread_time()
                result = method(*args)
                timings.append((time.perf_counter() - wall, time.thread_time() - cpu))
                return result

            setattr(rule, name, wrapper)
        return rule

    rows = np.arange(len(curves.datasets))
    replay_curves(curves, timed, rows[:tenants], rows[tenants:], devices)
    wall, cpu = (np.array(column) * 1000 for column in zip(*timings))
    print(f"decision overhead, {tenants} tenants x {arms} arms, {devices} devices (running tasks), {wall.size} "
          f"decisions: wall p50 {np.percentile(wall, 50):.2f} ms, p99 {np.percentile(wall, 99):.2f} ms; "
          f"CPU p50 {np.percentile(cpu, 50):.2f} ms, p99 {np.percentile(cpu, 99):.2f} ms")
    return {"tenants": tenants, "devices": devices, "decisions": int(wall.size),
            "wall_p50_ms": float(np.percentile(wall, 50)), "wall_p99_ms": float(np.percentile(wall, 99)),
            "cpu_p50_ms": float(np.percentile(cpu, 50)), "cpu_p99_ms": float(np.percentile(cpu, 99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--curves", type=Path, default=ROOT / "bench" / "curves_digits.csv")
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    results = {"comparison": compare(args), "overhead": overhead()}
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
