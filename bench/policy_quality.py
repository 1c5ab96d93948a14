"""Quality of decisions: the default policy against the baselines on the real matrices, the cost-aware case,
and the multi-device speed-up curve. Prints tables; exits 1 if `default` loses to the best baseline anywhere.

    .venv/bin/python bench/policy_quality.py                 # everything (about 10 minutes on 2 cores)
    .venv/bin/python bench/policy_quality.py --only real     # just the three real matrices
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from easeml_gui.commands.simulate import format_report
from easeml_gui.engine.matrix import Matrix, read_matrix, synthetic
from easeml_gui.engine.metrics import TARGETS, speedup
from easeml_gui.engine.policies import BASELINES
from easeml_gui.engine.simulate import SimulationReport, simulate

DATA = Path(os.environ.get("EASEML_QUALITY_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "quality"))
REAL = ("delgado2014_121x179.csv", "sfda_cnn_finetune_11x11.csv", "easeml_proto_dl_21x8.csv")
POLICIES = [*BASELINES, "ease-ucb", "ease-ei", "ease-ei-cost", "default"]


def verdict(report: SimulationReport) -> tuple[bool, str]:
    """default vs the best baseline at every target, and its best speed-ups over round-robin and random."""
    worst_ok = True
    cells = []
    for target in report.targets:
        best_base = min((report.median(b, target) or float("inf")) for b in BASELINES)
        mine = report.median("default", target) or float("inf")
        ok = mine <= best_base
        worst_ok &= ok
        cells.append(f"{target:g}: {'ok' if ok else 'LOSES'} ({mine:.6g} vs {best_base:.6g})")
    best = {
        b: max((s for s in report.speedups("default", b) if s is not None), default=float("nan")) for b in ("round-robin", "random")
    }
    summary = "; ".join(cells) + f"\n  best speed-up of default: {best['round-robin']:.2f}x over round-robin, {best['random']:.2f}x over random"
    return worst_ok, summary


def judge(cases: list[tuple[Matrix, Matrix | None]], seeds: int, workers: int) -> bool:
    """Replay every policy on each (quality, cost) case; print the table and default's verdict."""
    all_ok = True
    for quality, cost in cases:
        start = time.perf_counter()
        report = simulate(quality, cost, POLICIES, 10, 1, seeds, TARGETS, workers=workers)
        print(format_report(report, POLICIES, cost is not None))
        ok, summary = verdict(report)
        all_ok &= ok
        print(f"\n[{Path(quality.name).name}] default vs best baseline: {summary}  ({time.perf_counter() - start:.0f}s)\n")
    return all_ok


def real_cases() -> list[tuple[Matrix, None]]:
    return [(read_matrix(DATA / name), None) for name in REAL]


def cost_aware_cases() -> list[tuple[Matrix, Matrix]]:
    """The synthetic lab with costs spanning 10x, 100x and 1000x between the cheapest and dearest model."""
    return [synthetic(rows=60, arms=50, seed=0, spread=spread) for spread in (10.0, 100.0, 1000.0)]


def run_devices(seeds: int, workers: int) -> None:
    """Time-to-target against D while N >> D: the delgado matrix with 60 tenants, and a cost-aware synthetic one."""
    cases = [
        ("delgado, 60 tenants, unit cost", read_matrix(DATA / REAL[0]), None, 60),
        ("synthetic 120x50 with costs, 60 tenants", *synthetic(rows=120, arms=50, seed=1), 60),
    ]
    for label, quality, cost, tenants in cases:
        print(f"devices curve: {label} (median over {seeds} seeds, policy default)")
        print(f"{'D':>3}" + "".join(f"{t:>11g}" for t in TARGETS) + "   speed-up vs D=1 at each target")
        base = None
        for devices in (1, 2, 4, 8):
            report = simulate(quality, cost, ["default"], tenants, devices, seeds, TARGETS, workers=workers)
            times = [report.median("default", t) for t in TARGETS]
            base = base or times
            ratios = " ".join(f"{speedup(b, t):.2f}x" if speedup(b, t) else "-" for b, t in zip(base, times))
            print(f"{devices:>3}" + "".join(f"{t:>11.6g}" if t is not None else f"{'never':>11}" for t in times) + f"   {ratios}")
        print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", choices=("real", "cost", "devices"))
    args = parser.parse_args()
    ok = True
    if args.only in (None, "real"):
        ok &= judge(real_cases(), args.seeds, args.workers)
    if args.only in (None, "cost"):
        ok &= judge(cost_aware_cases(), args.seeds, args.workers)
    if args.only in (None, "devices"):
        run_devices(min(args.seeds, 5), args.workers)
    print("default never loses to the best baseline" if ok else "default LOSES to a baseline somewhere (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
