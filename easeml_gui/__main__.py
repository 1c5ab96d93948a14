"""`easeml-gui` and `python -m easeml_gui`: the desktop app without a sub-command, the headless CLI with one.

The app is imported only on the GUI path, so sub-commands never load Qt (a lab admin scripts them over SSH).
"""

from __future__ import annotations

import sys
from typing import Sequence

from .cli import build_parser, default_db, run_command


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is not None:
        return run_command(parser, args)
    from .app import run_app

    return run_app(args.db or default_db(), args.screenshot, args.demo, args.data_dir)


if __name__ == "__main__":
    sys.exit(main())
