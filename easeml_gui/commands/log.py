"""`easeml-gui log`: every decision with what it predicted and what its task then did. Read-only, so it works
beside a running `run`."""

from __future__ import annotations

import argparse
import json
import time

from ..store.records import DecisionLogEntry, DeliveredModel
from ..lab.stores import open_reader

ERROR_CHARS = 100  # of a failure's message on its line (the store keeps it whole)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("log", help="the decision log: each decision's prediction, then its task's outcome")
    p.add_argument("--json", action="store_true", help="print the log as JSON (CLI.md shape)")
    p.add_argument("--tenant", default=None, help="only this tenant's decisions")
    p.set_defaults(handler=run_log)


def run_log(args: argparse.Namespace) -> int:
    with open_reader(args.db) as store:
        entries = store.decision_log(args.tenant)
        delivered = store.delivered_models()
    if args.json:
        print(json.dumps([entry.to_json() for entry in entries], indent=2))
        return 0
    if not entries:
        whose = f" for tenant {args.tenant}" if args.tenant else ""
        print(f"no decisions{whose} yet: `easeml-gui run` makes them (one per task it starts)")
        return 0
    width = max(len(f"{entry.tenant}/{entry.model}") for entry in entries)  # predictions line up
    for entry in entries:
        print(log_line(entry, width))
    tenants = sorted({entry.tenant for entry in entries} & set(delivered))
    if tenants:
        print()
    for tenant in tenants:
        print(receives_line(tenant, delivered[tenant]))
    return 0


def receives_line(tenant: str, model: DeliveredModel) -> str:
    """`alice receives ensemble: svc x2 + resnet18 x1 (tasks t000003, t000007): validation 0.912 (cross-fitted),
    test 0.905`: what the decisions above came to."""
    tasks = ", ".join(member["task_id"] for member in model.members())
    how = " (cross-fitted)" if model.ensemble else ""
    return (f"{tenant} receives {model.label()} (task{'s' if model.ensemble else ''} {tasks}): validation "
            f"{_figure(model.quality)}{how}, test {_figure(model.test_accuracy)}")


def log_line(entry: DecisionLogEntry, width: int = 0) -> str:
    """`2024-05-01 12:00:03 cuda:0 t000001 alice/resnet50  predicted 0.912 +/- 0.030 in ~42 s -> done: val 0.934,
    test 0.921, 40 s`."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.time))
    served = f"{entry.tenant}/{entry.model}"
    return (f"{stamp} {entry.device:8} {entry.task_id or '-':8} {served:{width}}  predicted "
            f"{_figure(entry.predicted_quality)} +/- {_figure(entry.predicted_sigma)} in ~"
            f"{_seconds(entry.predicted_seconds)} -> {outcome(entry)}")


def outcome(entry: DecisionLogEntry) -> str:
    if entry.state is None:
        return "no task recorded"
    if entry.state == "done":
        test = "" if entry.test_accuracy is None else f", test {_figure(entry.test_accuracy)}"
        return f"done: val {_figure(entry.accuracy)}{test}, {_seconds(entry.seconds)}"
    if entry.state == "failed":
        lines = (entry.error or "").strip().splitlines()  # a traceback ends with its message
        return f"failed: {lines[-1][:ERROR_CHARS] if lines else 'no reason recorded'}"
    return entry.state  # queued, running, cancelled


def _figure(value: float | None) -> str:
    return "?" if value is None else f"{value:.3f}"


def _seconds(value: float | None) -> str:
    return "? s" if value is None else f"{value:.0f} s"
