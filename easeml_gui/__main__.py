"""`easeml-gui` and `python -m easeml_gui`: the desktop app without a sub-command, the headless CLI with one.

The app is imported only on the GUI path, so sub-commands never load Qt (a lab admin scripts them over SSH).
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

from . import log_setup
from .cli import build_parser, default_db, run_command


SIGPIPE_STATUS = 128 + 13  # what a shell reports for a process that SIGPIPE ended, as `yes | head -1` does


def main(argv: Sequence[str] | None = None) -> int:
    try:
        status = _main(argv)
        sys.stdout.flush()  # inside the try: a reader that left (`| head -1`) shows up here at the latest
        return status
    except BrokenPipeError:
        # As Python's docs recommend (library/signal, "Note on SIGPIPE"): point stdout at devnull, so the
        # interpreter's own flush at exit meets no closed pipe, and leave quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return SIGPIPE_STATUS


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    log_setup.configure(args.verbose, args.quiet, args.log_file)
    if args.command is not None:
        return run_command(parser, args)
    from .app import run_app

    return run_app(args.db or default_db(), args.screenshot, args.demo, args.data_dir)


if __name__ == "__main__":
    sys.exit(main())
