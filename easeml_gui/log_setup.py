"""The process's logging, configured once at start by the entry point (`easeml-gui`, the window or a command).

Modules log through logging.getLogger(__name__); `print` is kept for a command's own output (its tables, JSON,
result lines). Diagnostics go to stderr: INFO and up by default, WARNING and up with --quiet, DEBUG with
--verbose. A default line is the message alone (each message says what is wrong and what to do); --verbose stamps
each line with its time, level and logger.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TextIO

PACKAGE = "easeml_gui"
TERMINAL_FORMAT = "%(message)s"
DETAILED_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_OURS = "_easeml_gui_handler"  # marks the handler configure() installed, so a second call replaces it


def add_options(parser: argparse.ArgumentParser) -> None:
    """The global -v/--verbose and -q/--quiet options."""
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", action="store_true",
                          help="also print debug messages on stderr, each with its time, level and source")
    loudness.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")


def configure(verbose: bool = False, quiet: bool = False) -> None:
    """Install the one handler (replacing one a previous call installed) and set the levels."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(handler)
        handler.close()
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(DETAILED_FORMAT if verbose else TERMINAL_FORMAT))
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    # Other libraries: their warnings (PIL's per-chunk debug lines would drown a --verbose dataset add).
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger(PACKAGE).setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    # paramiko's transport thread logs its own tracebacks for failures our messages already explain.
    logging.getLogger("paramiko").setLevel(logging.INFO if verbose else logging.CRITICAL)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record comes (as logging's own last resort does), so a stderr
    replaced after configure() (a test capturing it) still gets the messages."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass
