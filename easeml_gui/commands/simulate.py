"""`easeml-gui simulate` and `easeml-gui synth`: replay policies on quality (and cost) matrices."""

from __future__ import annotations

import argparse
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..engine.curves import read_curves
from ..engine.matrix import MatrixError, load_matrices, synthetic, write_matrix
from ..engine.metrics import TARGETS
from ..engine.policies import BASELINES, check_simulator_policy, simulator_policy_names
from ..engine.simulate import SimulationReport, simulate
from ..engine.prior import PRIOR_KINDS
from . import CommandError, UsageError, bounded_float, bounded_int, seed_int
from .progress import counted_bar


def _float_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected numbers separated by commas, e.g. 0.05,0.01") from None
    if not values or any(not 0 <= v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: targets are regrets in [0, 1], e.g. 0.05,0.01")
    return values


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="replay multi-tenant model selection on a quality matrix or learning curves",
        description="Replays multi-tenant model selection on a quality matrix (rows = datasets, columns = models) "
        "or on learning curves. Each seed shuffles the datasets: the first N are tenants, the rest the prior's "
        "history. Time is the sum of cost cells on each device (1 per task without --cost), or of the curves' "
        "seconds.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--matrix", help="quality CSV (dataset,model1,...), or synthetic:rows=R,arms=K,seed=S,spread=X")
    source.add_argument("--curves", metavar="CSV",
                        help="learning curves instead: columns dataset,arm,budget,quality,seconds (budget an "
                        "increasing integer per arm, seconds the cost of reaching it from the previous budget); "
                        "the last budget of each arm is its full-budget result")
    p.add_argument("--cost", help="cost CSV of the same shape (seconds per run); a synthetic matrix brings its own")
    p.add_argument("--tenants", type=bounded_int(1, 10_000), default=10, help="tenants per seed (default 10)")
    p.add_argument("--devices", type=bounded_int(1, 1024), default=1, help="simulated devices (default 1)")
    p.add_argument("--seeds", type=bounded_int(1, 10_000), default=20, help="seeded splits per policy (default 20)")
    p.add_argument("--policies", help=f"comma-separated (default: all): {', '.join(simulator_policy_names())}")
    p.add_argument("--targets", type=_float_list, default=TARGETS, help="global-regret targets (default 0.05,0.02,0.01,0.005,0.002)")
    p.add_argument("--prior", choices=PRIOR_KINDS, default="auto", help="prior covariance family (default: chosen by cross-validation)")
    p.add_argument("--workers", type=bounded_int(1, 256), default=1, help="processes to spread the runs over")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON")
    p.add_argument("--plot", metavar="OUT.png", help="write a PNG of global regret vs time per policy")
    p.set_defaults(handler=run_simulate)

    s = sub.add_parser("synth", help="write a synthetic quality matrix and its aligned cost matrix as CSV")
    s.add_argument("--rows", type=bounded_int(2, 10_000), default=60)
    s.add_argument("--arms", type=bounded_int(1, 1000), default=50)
    s.add_argument("--seed", type=seed_int, default=0)
    s.add_argument("--spread", type=bounded_float("spread", 1e6), default=100.0,
                   help="cost ratio between the dearest and cheapest arm (1 or more)")
    s.add_argument("--out", required=True, help="quality CSV to write")
    s.add_argument("--cost-out", required=True, help="cost CSV to write")
    s.set_defaults(handler=run_synth)


def _fmt_time(value: float | None) -> str:
    return "never" if value is None else f"{value:.6g}"


def _fmt_reached(value: float | None, reached: int, seeds: int) -> str:
    cell = _fmt_time(value)
    return (cell if reached == seeds else f"{cell} ({reached}/{seeds})").rjust(12)


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def format_report(report: SimulationReport, policies: list[str], has_cost: bool) -> str:
    unit = "seconds" if has_cost else "tasks"
    lines = [
        f"{report.matrix}: {report.tenants} tenants, {report.devices} device(s), {report.seeds} seeds",
        f"median time ({unit}) until global regret <= target; (k/{report.seeds}) when only k seeds reached it",
    ]
    width = max(len(p) for p in policies) + 2
    header = "policy".ljust(width) + "".join(f"{t:>12g}" for t in report.targets) + "   cum. regret"
    lines += [header, "-" * len(header)]
    for p in policies:
        cells = [_fmt_reached(r.median_time, r.reached, report.seeds) for r in report.results if r.policy == p]
        lines.append(p.ljust(width) + "".join(cells) + f"   {report.cumulative_regret[p]:.4g}")
    if report.devices > 1:
        lines += ["", f"median device {unit} until global regret <= target (every device's busy time)"]
        for p in policies:
            cells = [_fmt_reached(r.device_seconds, r.reached, report.seeds) for r in report.results if r.policy == p]
            lines.append(p.ljust(width) + "".join(cells))
    baselines = [b for b in BASELINES if b in policies]
    others = [p for p in policies if p not in BASELINES]
    for base in baselines:
        if not others:
            break
        lines += ["", f"speed-up against {base} (its median time / the policy's)"]
        for p in others:
            lines.append(p.ljust(width) + "".join(_fmt_ratio(r).rjust(12) for r in report.speedups(p, base)))
    return "\n".join(lines)


def run_simulate(args: argparse.Namespace) -> int:
    policies = [p.strip() for p in args.policies.split(",") if p.strip()] if args.policies else simulator_policy_names()
    for name in policies:
        try:
            check_simulator_policy(name)
        except KeyError as error:
            raise UsageError(str(error.args[0])) from None
    if args.curves and args.cost:
        raise UsageError("--cost goes with --matrix; learning curves bring their own seconds")
    try:
        source, cost = (read_curves(args.curves), None) if args.curves else load_matrices(args.matrix, args.cost)
        with counted_bar("replaying policies x seeds", "replay") as progress:
            report = simulate(source, cost, policies, args.tenants, args.devices, args.seeds, args.targets,
                              args.prior, args.workers, progress)
    except (MatrixError, ValueError) as error:
        raise CommandError(str(error)) from None
    has_cost = cost is not None or bool(args.curves)
    print(format_report(report, policies, has_cost))
    if args.json:
        with writing(args.json):
            Path(args.json).write_text(json.dumps(report.to_json(), indent=2) + "\n")
        print(f"\nwrote {args.json}")
    if args.plot:
        from ..reports import plot_regret  # matplotlib only when a plot is asked for

        with writing(args.plot):
            plot_regret(report, Path(args.plot), "seconds" if has_cost else "tasks")
        print(f"wrote {args.plot}")
    return 0


@contextmanager
def writing(path: str) -> Iterator[None]:
    """An output file that cannot be written becomes a message naming it, not a traceback."""
    try:
        yield
    except OSError as error:
        raise CommandError(f"cannot write {path} ({error.strerror or error}); check that its folder "
                           f"{Path(path).parent} exists and is writable") from None


def run_synth(args: argparse.Namespace) -> int:
    if args.spread < 1:
        raise UsageError("--spread must be at least 1")
    quality, cost = synthetic(args.rows, args.arms, args.seed, args.spread)
    with writing(args.out):
        write_matrix(quality, args.out)
    with writing(args.cost_out):
        write_matrix(cost, args.cost_out)
    print(f"wrote {args.out} and {args.cost_out} ({args.rows} datasets x {args.arms} arms)")
    return 0

