"""`easeml-gui usage`: device hours per tenant per day or week, with each tenant's quota (flagged when nearly
used). Read-only, so it works beside a running `run`."""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

from ..lab.stores import open_reader
from ..lab.usage import PERIODS, RECENT, TenantUsage, UsageTable, day_end, day_start, recent_since, usage
from . import UsageError

NAME_WIDTH = 12
COLUMN_WIDTH = 10


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: write it as YYYY-MM-DD") from None


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("usage", help="device hours per tenant per day or week, with quotas nearly used flagged")
    p.add_argument("--by", choices=PERIODS, default="week", help="one column per day or per ISO week (default week)")
    p.add_argument("--since", type=_date, default=None, metavar="YYYY-MM-DD",
                   help=f"first day counted (default: the last {RECENT['week']} weeks, or {RECENT['day']} days by day)")
    p.add_argument("--until", type=_date, default=None, metavar="YYYY-MM-DD", help="last day counted (default: now)")
    p.add_argument("--csv", type=Path, default=None, metavar="OUT", help="also write the table to OUT as CSV")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(handler=run_usage)


def run_usage(args: argparse.Namespace) -> int:
    now = time.time()
    since = args.since or recent_since(args.by, now)
    if args.until is not None and args.until < since:
        raise UsageError(f"--until {args.until} is before --since {since}; give the earlier day first")
    with open_reader(args.db) as store:
        table = usage(store, by=args.by, since=day_start(since),
                      until=now if args.until is None else day_end(args.until))
    if args.csv is not None:
        table.to_csv(args.csv)
    if args.json:
        print(json.dumps(table.to_json(), indent=2))
    else:
        print(text_table(table))
        if args.csv is not None:
            print(f"wrote {args.csv}")
    return 0


def text_table(table: UsageTable) -> str:
    """Hours per tenant (rows) and period (columns), the totals, the quota and what it flags."""
    if not table.tenants:
        return "no tenants yet; add one with `easeml-gui tenant add NAME`"
    name_width = max(NAME_WIDTH, *(len(t.name) for t in table.tenants))
    header = [f"{'tenant':{name_width}}", *(f"{p:>{COLUMN_WIDTH}}" for p in table.periods),
              f"{'total':>{COLUMN_WIDTH}}", f"{'quota':>{COLUMN_WIDTH}}", f"{'used':>{COLUMN_WIDTH}}"]
    lines = [f"device hours by {table.by} (finished tasks; quota and used: all time)", " ".join(header)]
    for t in table.tenants:
        lines.append(" ".join([f"{t.name:{name_width}}", *_cells(t.hours), *_cells([t.total_hours]),
                               _cell(t.quota_hours), *_cells([t.used_hours]), _flag(t)]).rstrip())
    lines.append(" ".join([f"{'all tenants':{name_width}}", *_cells(table.period_totals),
                           *_cells([table.total_hours])]))
    return "\n".join(lines)


def _cells(hours) -> list[str]:
    return [_cell(value) for value in hours]


def _cell(hours: float | None) -> str:
    return f"{'-' if hours is None else f'{hours:.2f}':>{COLUMN_WIDTH}}"


def _flag(tenant: TenantUsage) -> str:
    """ "NEARLY USED (94%)" / "OVER QUOTA (105%)": loud, the line an admin must not miss."""
    if not tenant.nearly_used:
        return ""
    return f" {tenant.quota_note.upper()} ({tenant.quota_share:.0%})"
