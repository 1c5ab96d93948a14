"""The process's logging, configured once at start by the entry point (`easeml-gui`, the window or a command).

Modules log through logging.getLogger(__name__); `print` is kept for a command's own output (its tables, JSON,
result lines). Diagnostics go to stderr: INFO and up by default, WARNING and up with --quiet, DEBUG with
--verbose. A default line is the message alone (each message says what is wrong and what to do); --verbose stamps
each line with its time, level and logger.

--log-file PATH sends everything the process writes (its output, its log, a traceback) to PATH instead, rotated
as logging's RotatingFileHandler does (PATH.1 ... PATH.N): what a run started from the window uses (lab/runs.py).
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import threading
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import TextIO

PACKAGE = "easeml_gui"
TERMINAL_FORMAT = "%(message)s"
DETAILED_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FILE_BYTES = 4 * 1024**2  # per file: a few days of a busy run's lines
LOG_FILE_BACKUPS = 5  # PATH.1 ... PATH.5: the previous runs' logs, or the earlier part of a long one
_OURS = "_easeml_gui_handler"  # marks the handler configure() installed, so a second call replaces it


def add_options(parser: argparse.ArgumentParser) -> None:
    """The global -v/--verbose, -q/--quiet and --log-file options."""
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", action="store_true",
                          help="also print debug messages on stderr, each with its time, level and source")
    loudness.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    parser.add_argument("--log-file", type=Path, metavar="PATH",
                        help=f"write all output and messages to PATH instead of the terminal, rotated at "
                        f"{LOG_FILE_BYTES // 1024**2} MiB with {LOG_FILE_BACKUPS} earlier files kept (PATH.1 ...)")


def configure(verbose: bool = False, quiet: bool = False, log_file: Path | None = None, *,
              max_bytes: int = LOG_FILE_BYTES, backups: int = LOG_FILE_BACKUPS) -> None:
    """Install the one handler (replacing one a previous call installed) and set the levels."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(handler)
        handler.close()
    if log_file is None:
        handler: logging.Handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(DETAILED_FORMAT if verbose else TERMINAL_FORMAT))
    else:
        handler = _redirect_output(log_file, max_bytes, backups)
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    # Other libraries: their warnings (PIL's per-chunk debug lines would drown a --verbose dataset add).
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger(PACKAGE).setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    # paramiko's transport thread logs its own tracebacks for failures our messages already explain.
    logging.getLogger("paramiko").setLevel(logging.INFO if verbose else logging.CRITICAL)


def rotate(path: Path, backups: int = LOG_FILE_BACKUPS) -> None:
    """Move `path` to PATH.1 (PATH.1 to PATH.2 ...; the oldest beyond `backups` goes), as a rollover does."""
    if path.is_file() and path.stat().st_size > 0:
        shifter = RotatingFileHandler(path, backupCount=backups, delay=True)  # opens nothing
        shifter.doRollover()
        shifter.close()


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


# --- --log-file --------------------------------------------------------------------------------------------------
# Design: one RotatingFileHandler owns the file. sys.stdout and sys.stderr become line streams that hand each line to
# it as a record printed bare, so a command's output, log records and a traceback all pass its size check and roll
# over together; and the process's descriptors 1 and 2 follow the current file (dup2 at each rollover), so what is
# written below Python (a fatal error, a child process's inherited output) lands there too. The caller that started
# this process may have pointed 1 and 2 at PATH already (to catch what comes before this runs, e.g. a usage error):
# both open it for appending, so neither overwrites the other.

class _OutputLine(logging.LogRecord):
    """A line the process printed: written as it is, without the log format."""


class _LogFileFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage() if isinstance(record, _OutputLine) else super().format(record)


class _LogFileHandler(RotatingFileHandler):
    def doRollover(self) -> None:
        super().doRollover()
        _point_descriptors_at(self.stream)


class _LineStream(io.TextIOBase):
    """sys.stdout / sys.stderr under --log-file: complete lines go to the handler as _OutputLine records."""

    encoding = "utf-8"
    errors = "backslashreplace"

    def __init__(self, handler: logging.Handler, fd: int) -> None:
        super().__init__()
        self._handler = handler
        self._fd = fd
        self._pending = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, ""
        if pending:
            self._emit(pending)

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def _emit(self, line: str) -> None:
        self._handler.handle(_OutputLine("output", logging.INFO, "", 0, line, None, None))


def _redirect_output(path: Path, max_bytes: int, backups: int) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = _LogFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8",
                              errors="backslashreplace")
    handler.setFormatter(_LogFileFormatter(DETAILED_FORMAT))
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    _point_descriptors_at(handler.stream)
    sys.stdout, sys.stderr = _LineStream(handler, 1), _LineStream(handler, 2)
    return handler


def _point_descriptors_at(stream: io.TextIOBase | None) -> None:
    if stream is not None:
        for fd in (1, 2):
            os.dup2(stream.fileno(), fd)
