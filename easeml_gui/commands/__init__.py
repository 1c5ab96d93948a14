"""Headless sub-commands of `easeml-gui`, one module per command group. No Qt here."""

import argparse
import json
import math
from typing import Any, Callable, Iterable


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list (fields in CLI.md)")


def print_json_rows(rows: Iterable[dict[str, Any]]) -> None:
    """A list command's --json: the lab read model's rows (lab.read_model), the ones the window shows."""
    print(json.dumps(list(rows), indent=2))


class CommandError(Exception):
    """A failure the user can fix: printed without a traceback, exit status 1."""


class UsageError(Exception):
    """A command line that cannot be right: printed with the usage hint, exit status 2."""


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """argparse type for a whole number from `low` to `high`, written in ASCII digits (int() would also take
    "٢" for 2, and a huge number would reach SQLite, numpy or an allocation as a traceback)."""
    def parse(text: str) -> int:
        try:
            value = int(text) if text.strip().lstrip("+-").isascii() else None
        except ValueError:
            value = None
        if value is None:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give one from {low} to {high}")
        if not low <= value <= high:
            bound = f"at least {low}" if value < low else f"at most {high}"
            raise argparse.ArgumentTypeError(f"{value} must be {bound} (a whole number from {low} to {high})")
        return value

    return parse


def bounded_float(what: str, high: float) -> Callable[[str], float]:
    """argparse type for a positive, finite number up to `high`; `what` names it in the message."""
    def parse(text: str) -> float:
        try:
            value = float(text) if text.isascii() else math.nan
        except ValueError:
            value = math.nan
        if math.isnan(value):
            raise argparse.ArgumentTypeError(f"{what} {text!r} is not a number")
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{what} {value:g} must be positive")
        if value > high:
            raise argparse.ArgumentTypeError(f"{what} {text} must be at most {high:g}")
        return value

    return parse


def fraction(what: str, *, zero: bool) -> Callable[[str], float]:
    """argparse type for a share of a whole: from 0 (allowed when `zero`, else excluded) up to, not including, 1.
    float() would take "nan", "inf" and non-ASCII digits; any of them would reach the split as nonsense."""
    low = "at least 0" if zero else "more than 0"

    def parse(text: str) -> float:
        try:
            value = float(text) if text.isascii() else math.nan
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{what} {text!r} is not a number; give one {low} and less than 1")
        if not (0 <= value < 1 if zero else 0 < value < 1):
            raise argparse.ArgumentTypeError(f"{what} {value:g} must be {low} and less than 1 (e.g. 0.2)")
        return value

    return parse


MAX_COUNT = 10**9  # counts a command may take (tasks, rows, ...): far above any real lab, far below overflow
positive_int = bounded_int(1, MAX_COUNT)  # counts: a whole number of at least 1
seed_int = bounded_int(0, 2**32 - 1)  # numpy's seeds: a 32-bit unsigned integer
row_id = bounded_int(1, 2**63 - 1)  # an SQLite INTEGER PRIMARY KEY (job ids)
