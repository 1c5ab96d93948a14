"""The headless entry: every sub-command of design/CLI.md. No Qt is imported here."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

import platformdirs

from . import __version__, log_setup
from .commands import CommandError, UsageError
from .lab.errors import LabError
from .commands import simulate as simulate_commands
from .commands import datasets as dataset_commands
from .commands import demo as demo_commands
from .commands import desktop as desktop_commands
from .commands import export as export_commands
from .commands import hosts as host_commands
from .commands import jobs as job_commands
from .commands import log as log_commands
from .commands import run as run_commands
from .commands import tenants as tenant_commands
from .commands import usage as usage_commands
from .commands import weights as weights_commands


def default_db() -> Path:
    """EASEML_DB, else easeml.sqlite in the user's data folder: $XDG_DATA_HOME/easeml-gui (~/.local/share/easeml-gui)
    on Linux, ~/Library/Application Support/easeml-gui on macOS, %LOCALAPPDATA%\\easeml-gui on Windows."""
    if os.environ.get("EASEML_DB"):
        return Path(os.environ["EASEML_DB"])
    return platformdirs.user_data_path("easeml-gui", appauthor=False) / "easeml.sqlite"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="easeml-gui",
        description="Share a lab's GPU servers among tenants who each need the best image classifier for their data. "
        "With no sub-command it opens the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"easeml-gui {__version__}")
    parser.add_argument("--db", type=Path, default=None, help="the SQLite store (env EASEML_DB; default: user data dir)")
    parser.add_argument("--data-dir", type=Path, default=None, help="managed datasets, checkpoints, exports (default: beside the store)")
    parser.add_argument("--screenshot", type=Path, metavar="OUT.png", help="render the main window offscreen to a PNG and exit")
    parser.add_argument("--demo", action="store_true", help="with --screenshot: show a demo simulation")
    log_setup.add_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    simulate_commands.add_parsers(sub)
    tenant_commands.add_parsers(sub)
    dataset_commands.add_parsers(sub)
    job_commands.add_parsers(sub)
    host_commands.add_parsers(sub)
    demo_commands.add_parsers(sub)
    run_commands.add_parsers(sub)
    export_commands.add_parsers(sub)
    log_commands.add_parsers(sub)
    usage_commands.add_parsers(sub)
    weights_commands.add_parsers(sub)
    desktop_commands.add_parsers(sub)
    return parser


def run_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    # Absolute: paths recorded in the store and handed to workers (which run in their task folder) must not
    # depend on the directory a command happened to start in.
    args.db = (args.db or default_db()).absolute()
    args.data_dir = (args.data_dir or args.db.parent).absolute()
    try:
        return args.handler(args)
    except UsageError as error:
        parser.error(str(error))  # exits 2 with the usage line
    except (CommandError, LabError) as error:
        print(f"easeml-gui {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.error("no sub-command given (the desktop app starts from `easeml-gui` itself)")
    log_setup.configure(args.verbose, args.quiet, args.log_file)
    return run_command(parser, args)
