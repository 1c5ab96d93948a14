"""A fixture that runs the command line in-process; test modules import it (`from cli_runner import run_cli`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from easeml_gui.__main__ import main


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys) -> Callable[..., CliResult]:
    """Run `easeml-gui ARGS...` in this process (fast; the subprocess tests cover fresh-process behaviour)."""

    def run(*args: str | Path) -> CliResult:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as stop:  # argparse usage errors
            code = stop.code if isinstance(stop.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
