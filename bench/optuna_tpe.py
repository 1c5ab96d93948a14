"""Against what a user would pick instead: Optuna's TPE over the arms, one study per tenant, tenants served
round-robin ("optuna-tpe-rr"), next to the engine's round-robin, random and default policies on the same seeds.

    .venv/bin/python bench/optuna_tpe.py                          # 3 real matrices + synthetic cost-aware, 20 seeds
    .venv/bin/python bench/optuna_tpe.py --matrices sfda_cnn_finetune_11x11.csv --seeds 5 --json out.json

The baseline, exactly:
- Tenants are the engine simulator's: simulate.split_rows with np.random.default_rng([seed, 0]), so every policy
  sees the same N datasets per seed. TPE gets no history (a user's optimizer starts cold) and ignores costs.
- D = 1 device; tenants in turn (0, 1, ..., N-1, 0, ...), skipping a tenant whose arms are all tried.
- Each tenant owns an Optuna study (TPESampler(seed from [seed, tenant]), default settings, direction maximize)
  over one categorical parameter "arm" whose choices are the arm names. ask() gives the arm; the matrix cell is
  told as the value. A NaN cell is a failed run: told as TrialState.FAIL, and it still costs its time.
- TPE can propose an arm the tenant already ran (categoricals are sampled with replacement, and TPE concentrates on
  the best region, so repeats get frequent). Such a proposal is told FAIL (TPE ignores failed trials; no simulated
  time passes) and we ask again, up to --max-reask times (default 1); then the tenant runs the first untried arm of a seeded
  random order (np.random.default_rng([seed, 3, tenant])), handed to the study with enqueue_trial so TPE learns it.
- Time advances by the cost cell (1 without a cost matrix). global regret as metrics.RegretTrace (weights 1,
  q*_i = nanmax of the tenant's row). A run stops at global regret 0 or when every arm of every tenant has run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.samplers import TPESampler
from optuna.trial import TrialState

from easeml_gui.commands.simulate import format_report, load_matrices
from easeml_gui.engine.matrix import Matrix
from easeml_gui.engine.metrics import TARGETS, RegretTrace, median_time
from easeml_gui.engine.simulate import PolicyResult, RunTrace, SimulationReport, simulate, split_rows

optuna.logging.set_verbosity(optuna.logging.ERROR)

DATA = Path(os.environ.get("EASEML_QUALITY_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "quality"))
DEFAULT_MATRICES = (
    "delgado2014_121x179.csv",
    "sfda_cnn_finetune_11x11.csv",
    "easeml_proto_dl_21x8.csv",
    "synthetic:rows=60,arms=50,seed=0,spread=100",
)
TPE = "optuna-tpe-rr"
ENGINE_POLICIES = ["round-robin", "random", "default"]
TABLE = ["round-robin", "random", TPE, "default"]


@dataclass
class TpeStats:
    tasks: int = 0  # arms run (simulated)
    asks: int = 0  # study.ask() calls, repeats included
    repeats: int = 0  # proposals of an arm the tenant had already run
    fallbacks: int = 0  # tasks whose arm came from the seeded order after --max-reask repeats
    seconds: float = 0.0  # wall time of the whole replay (dominated by TPE)


def tpe_once(quality: Matrix, cost: Matrix | None, tenants: int, seed: int, max_reask: int) -> tuple[RunTrace, TpeStats]:
    """One seeded replay of optuna-tpe-rr (see the module docstring)."""
    start = time.perf_counter()
    tenant_rows, _ = split_rows(len(quality.rows), tenants, np.random.default_rng([seed, 0]))
    names = [f"{quality.rows[r]}" for r in tenant_rows]
    arm_names = list(quality.arms)
    index = {name: k for k, name in enumerate(arm_names)}
    space = {"arm": CategoricalDistribution(arm_names)}
    n_arms = len(arm_names)
    studies = [
        optuna.create_study(
            direction="maximize",
            sampler=TPESampler(seed=int(np.random.SeedSequence([seed, 2, i]).generate_state(1)[0])),
        )
        for i in range(tenants)
    ]
    orders = [np.random.default_rng([seed, 3, i]).permutation(n_arms) for i in range(tenants)]
    tried: list[set[int]] = [set() for _ in range(tenants)]
    trace = RunTrace(TPE, seed, RegretTrace({n: float(np.nanmax(quality.values[r])) for n, r in zip(names, tenant_rows)},
                                            {n: 1.0 for n in names}))
    stats = TpeStats()
    clock, last = 0.0, -1
    while trace.regret.current > 0.0:
        turn = next(((last + step) % tenants for step in range(1, tenants + 1)
                     if len(tried[(last + step) % tenants]) < n_arms), None)
        if turn is None:
            break  # every arm of every tenant ran
        last = turn
        study = studies[turn]
        for _ in range(max_reask + 1):
            trial = study.ask(space)
            stats.asks += 1
            arm = index[trial.params["arm"]]
            if arm not in tried[turn]:
                break
            stats.repeats += 1
            study.tell(trial, state=TrialState.FAIL)
        else:
            arm = int(next(k for k in orders[turn] if k not in tried[turn]))
            study.enqueue_trial({"arm": arm_names[arm]})
            trial = study.ask(space)
            assert index[trial.params["arm"]] == arm
            stats.fallbacks += 1
        tried[turn].add(arm)
        stats.tasks += 1
        row = tenant_rows[turn]
        value = float(quality.values[row, arm])
        clock += 1.0 if cost is None else float(cost.values[row, arm])
        if np.isnan(value):
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, value)
            trace.regret.observe(names[turn], value, clock)
    stats.seconds = time.perf_counter() - start
    return trace, stats


def _tpe_job(args: tuple) -> tuple[RunTrace, TpeStats]:
    return tpe_once(*args)


def run_tpe(quality, cost, tenants, seeds, max_reask, workers, progress) -> tuple[list[RunTrace], list[TpeStats]]:
    jobs = [(quality, cost, tenants, s, max_reask) for s in range(seeds)]
    out: list[tuple[RunTrace, TpeStats]] = []
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            for done, result in enumerate(pool.map(_tpe_job, jobs), 1):
                out.append(result)
                progress(done, seeds)
    else:
        for done, job in enumerate(jobs, 1):
            out.append(_tpe_job(job))
            progress(done, seeds)
    return [t for t, _ in out], [s for _, s in out]


def with_tpe(report: SimulationReport, traces: list[RunTrace]) -> SimulationReport:
    """The engine's report plus the optuna-tpe-rr rows, in the table's order."""
    results = [r for r in report.results]
    for target in report.targets:
        times = [t.regret.time_to(target) for t in traces]
        results.append(PolicyResult(TPE, target, median_time(times), sum(t is not None for t in times)))
    cumulative = dict(report.cumulative_regret, **{TPE: float(np.median([t.regret.cumulative() for t in traces]))})
    return SimulationReport(report.matrix, report.tenants, report.devices, report.seeds, report.targets, results,
                            cumulative, dict(report.traces, **{TPE: traces}))


def resolve(spec: str) -> tuple[Matrix, Matrix | None]:
    if spec.startswith("synthetic") or Path(spec).is_file():
        return load_matrices(spec, None)
    return load_matrices(str(DATA / spec), None)


def bench_matrix(spec: str, tenants: int, seeds: int, max_reask: int, workers: int) -> dict:
    quality, cost = resolve(spec)
    label = Path(spec).name if not spec.startswith("synthetic") else spec
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"  [{label}] optuna-tpe-rr seed {done}/{total} ({time.perf_counter() - started:.0f}s)", file=sys.stderr, flush=True)

    report = simulate(quality, cost, ENGINE_POLICIES, tenants, 1, seeds, TARGETS, workers=workers)
    engine_s = time.perf_counter() - started
    print(f"  [{label}] engine policies done ({engine_s:.0f}s)", file=sys.stderr, flush=True)
    traces, stats = run_tpe(quality, cost, tenants, seeds, max_reask, workers, progress)
    tpe_s = time.perf_counter() - started - engine_s
    report = with_tpe(report, traces)
    print(format_report(report, TABLE, cost is not None))
    width = max(len(p) for p in TABLE) + 2
    ups = report.speedups("default", TPE)
    print(f"\nspeed-up of default against {TPE} (its median time / default's)")
    print("default".ljust(width) + "".join(("-" if s is None else f"{s:.2f}x").rjust(12) for s in ups))
    asks, tasks = sum(s.asks for s in stats), sum(s.tasks for s in stats)
    repeats, fallbacks = sum(s.repeats for s in stats), sum(s.fallbacks for s in stats)
    tpe_cpu = sum(s.seconds for s in stats)
    print(
        f"{TPE}: {tasks} tasks, {asks} asks ({repeats} repeated an arm already run, {fallbacks} tasks fell back to the "
        f"seeded order), {1e3 * tpe_cpu / max(asks, 1):.2f} ms per ask"
    )
    known = [s for s in ups if s is not None]
    summary = (
        f"[{label}] default vs {TPE}: "
        + ", ".join(f"{t:g}: {'-' if s is None else f'{s:.2f}x'}" for t, s in zip(report.targets, ups))
        + (f"  (min {min(known):.2f}x, max {max(known):.2f}x)" if known else "")
        + f"  [engine {engine_s:.0f}s, tpe {tpe_s:.0f}s]"
    )
    print(f"\n{summary}\n", flush=True)
    return {
        **report.to_json(),
        "label": label,
        "speedup_default_vs_tpe": dict(zip([str(t) for t in report.targets], ups)),
        "tpe_stats": {"tasks": tasks, "asks": asks, "repeats": repeats, "fallbacks": fallbacks,
                      "ms_per_ask": 1e3 * tpe_cpu / max(asks, 1), "max_reask": max_reask},
        "seconds": {"engine": engine_s, "tpe": tpe_s},
        "summary": summary,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--matrices", default=",".join(DEFAULT_MATRICES),
                        help="comma-separated CSV names (in the quality data folder) or paths, or synthetic:... specs")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--max-reask", type=int, default=1,
                        help="asks again after TPE repeats an arm, before the fallback (default 1: on delgado, 6 seeds, "
                        "1, 3 and 10 gave no systematic difference in time-to-target, but 10 costs 3x the CPU)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", metavar="OUT", help="write the figures as JSON")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = []
    # "synthetic:rows=..,arms=.." holds commas: split on commas that start a new matrix, not inside a spec
    specs: list[str] = []
    for part in (p.strip() for p in args.matrices.split(",") if p.strip()):
        if specs and specs[-1].startswith("synthetic") and "=" in part and not part.startswith("synthetic"):
            specs[-1] += "," + part
        else:
            specs.append(part)
    for spec in specs:
        out.append(bench_matrix(spec, args.tenants, args.seeds, args.max_reask, args.workers))
    total = time.perf_counter() - started
    print("summary")
    for entry in out:
        print("  " + entry["summary"])
    print(f"total {total:.0f}s")
    if args.json:
        Path(args.json).write_text(json.dumps({"tenants": args.tenants, "seeds": args.seeds, "matrices": out,
                                               "seconds": total}, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
