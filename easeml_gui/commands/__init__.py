"""Headless sub-commands of `easeml-gui`, one module per command group. No Qt here."""

import argparse
import json
from typing import Any, Iterable


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list (fields in CLI.md)")


def print_json_rows(rows: Iterable[dict[str, Any]]) -> None:
    """A list command's --json: the lab read model's rows (lab.read_model), the ones the window shows."""
    print(json.dumps(list(rows), indent=2))


class CommandError(Exception):
    """A failure the user can fix: printed without a traceback, exit status 1."""


class UsageError(Exception):
    """A command line that cannot be right: printed with the usage hint, exit status 2."""


def positive_int(text: str) -> int:
    """argparse type for counts: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value
