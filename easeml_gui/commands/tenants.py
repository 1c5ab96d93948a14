"""`easeml-gui tenant ...` and `easeml-gui status`: the lab's register, read and written through the store."""

from __future__ import annotations

import argparse
import json

from ..lab import tenants
from ..lab.read_model import tenant_infos
from ..lab.stores import open_reader, open_writer
from . import UsageError, add_json_flag, bounded_float, print_json_rows

_weight = bounded_float("weight", 1e6)
_quota_hours = bounded_float("quota hours", 1e6)  # over a century of one device


def add_parsers(sub: argparse._SubParsersAction) -> None:
    tenant = sub.add_parser("tenant", help="add, list, change, pause or resume tenants")
    actions = tenant.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="register a tenant")
    add.add_argument("name")
    add.add_argument("--weight", type=_weight, default=1.0, help="share of the global objective (default 1)")
    add.add_argument("--quota-hours", type=_quota_hours, default=None, help="device hours the tenant may use")
    add.set_defaults(handler=run_tenant_add)
    listing = actions.add_parser("list", help="list tenants")
    add_json_flag(listing)
    listing.set_defaults(handler=run_tenant_list)
    change = actions.add_parser("set", help="change a tenant's weight or quota (a running lab picks it up)")
    change.add_argument("name")
    change.add_argument("--weight", type=_weight, default=None, help="share of the global objective")
    quota = change.add_mutually_exclusive_group()
    quota.add_argument("--quota-hours", type=_quota_hours, default=None, help="device hours the tenant may use in all")
    quota.add_argument("--no-quota", action="store_true", help="remove the tenant's quota")
    change.set_defaults(handler=run_tenant_set)
    for verb in ("pause", "resume"):
        p = actions.add_parser(verb, help=f"{verb} a tenant: {'no new tasks' if verb == 'pause' else 'serve it again'}")
        p.add_argument("name")
        p.set_defaults(handler=run_tenant_pause, paused=verb == "pause")

    status = sub.add_parser("status", help="tenants, their best models, task counts, the estimated global regret")
    status.add_argument("--json", action="store_true", help="print the status as JSON (CLI.md shape)")
    status.set_defaults(handler=run_status)


def run_tenant_add(args: argparse.Namespace) -> int:
    with open_writer(args.db) as store:
        tenant = tenants.add(store, args.name, args.weight, args.quota_hours)
    print(f"added tenant {tenant.name} (weight {tenant.weight:g}"
          + (f", quota {args.quota_hours:g} h" if args.quota_hours else "") + f") to {args.db}")
    return 0


def run_tenant_list(args: argparse.Namespace) -> int:
    with open_reader(args.db) as store:
        registered = tenant_infos(store)
    if args.json:
        print_json_rows(t.to_json() for t in registered)
        return 0
    if not registered:
        print("no tenants yet; add one with `easeml-gui tenant add NAME`")
        return 0
    print(f"{'name':20} {'weight':>7} {'quota (h)':>10} {'used (h)':>9}  state")
    for t in registered:
        quota = "-" if t.quota_hours is None else f"{t.quota_hours:g}"
        print(f"{t.name:20} {t.weight:7g} {quota:>10} {t.used_hours:9.2f}  {'paused' if t.paused else 'active'}")
    return 0


def run_tenant_set(args: argparse.Namespace) -> int:
    if args.weight is None and args.quota_hours is None and not args.no_quota:
        raise UsageError("say what to change: --weight W, --quota-hours H or --no-quota")
    with open_writer(args.db) as store:
        tenant = tenants.change(store, args.name, weight=args.weight, quota_hours=args.quota_hours,
                                no_quota=args.no_quota)
    quota = "no quota" if tenant.quota_seconds is None else f"quota {tenant.quota_seconds / 3600:g} h"
    print(f"tenant {tenant.name}: weight {tenant.weight:g}, {quota}")
    return 0


def run_tenant_pause(args: argparse.Namespace) -> int:
    with open_writer(args.db) as store:
        tenants.set_paused(store, args.name, args.paused)
    print(f"tenant {args.name} {'paused: it gets no new tasks' if args.paused else 'resumed'}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    with open_reader(args.db) as store:
        status = tenants.status(store)
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    tasks = status["tasks"]
    print(f"tasks: {tasks['queued']} queued, {tasks['running']} running, {tasks['done']} done, {tasks['failed']} failed")
    print(f"global regret estimate: {status['global_regret_estimate']:.3f}  (the GP's upper bound on what untried "
          "models may add to each tenant's best; 0 once every model ran)")
    if status["tenants"]:
        # validation picks the model; test is the honest figure for it (images selection never saw)
        print(f"\n{'tenant':20} {'weight':>7} {'done':>5} {'val':>7} {'test':>7}  best model")
        for t in status["tenants"]:
            val, test = (_accuracy(t[key]) for key in ("best_accuracy", "best_test_accuracy"))
            print(f"{t['name']:20} {t['weight']:7g} {t['tasks_done']:5d} {val:>7} {test:>7}  {t['best_model'] or '-'}")
    return 0


def _accuracy(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
