"""Pretrained ImageNet weights as the window handles them: what the lab has per architecture, fetching torchvision's
and importing a file copied in by hand.

Checking, downloading and importing need torch, so they run as `python -m easeml_gui.training.weights` in a
subprocess, one architecture at a time (progress between them; a cancel interrupts the one running, and torch hub's
download then removes its partial file): the window's process stays torch-free, as the command line does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

from ..training.catalogue import CATALOGUE
from ..training.weights_registry import WeightsEntry, WeightsError, hub_checkpoints_dir, pretrained_available
from .errors import Cancelled, LabError

ARCHITECTURES = tuple(sorted(CATALOGUE))
Progress = Callable[[int, int, str], None]  # (done, total, what runs now)
POLL_S = 0.2
INTERRUPTED_WAIT_S = 10.0  # for an interrupted helper to clean up before it is killed


def folder() -> Path:
    """Where the weights are kept: torch hub's checkpoints folder, where torchvision looks too."""
    return hub_checkpoints_dir()


def available() -> dict[str, WeightsEntry]:
    """The ImageNet weights the lab has, per architecture (torch-free: the registry and the hub cache)."""
    try:
        return pretrained_available()
    except WeightsError as error:
        raise LabError(str(error)) from None


def fetch(architectures: Sequence[str], progress: Progress | None = None,
          cancel: Callable[[], bool] | None = None) -> list[WeightsEntry]:
    """Download torchvision's ImageNet weights for each architecture (kept when already in the cache). LabError
    after the others were tried, naming each that failed; without network the first failure stops the rest."""
    _check(architectures)
    fetched, errors = [], []
    for done, arch in enumerate(architectures):
        if progress is not None:
            progress(done, len(architectures), f"fetching {arch}")
        for line in _helper(["fetch", arch], cancel):
            if "error" in line:
                errors.append(str(line["error"]))
            else:
                fetched.append(_entry(line))
        if errors and "no network?" in errors[-1] and architectures[done + 1:]:
            errors.append(f"not fetched either: {', '.join(architectures[done + 1:])}")
            break  # every other download would wait for the same dead network
    if errors:
        raise LabError("\n".join(errors))
    return fetched


def import_file(file: Path, arch: str, cancel: Callable[[], bool] | None = None) -> WeightsEntry:
    """Check `file` loads into `arch` with its ImageNet head (and its hash, under a torchvision name) and copy it
    into the hub cache as arch's weights. LabError says why a file is refused; nothing is kept then."""
    _check([arch])
    if not file.is_file():
        raise LabError(f"{file} is not a file; choose the weights file to import")
    lines = _helper(["import", str(file.absolute()), "--model", arch], cancel)
    errors = [str(line["error"]) for line in lines if "error" in line]
    if errors or not lines:
        raise LabError("\n".join(errors) or f"{file} was not imported; try `easeml-gui weights import` in a terminal")
    return _entry(lines[0])


def _check(architectures: Sequence[str]) -> None:
    unknown = [arch for arch in architectures if arch not in CATALOGUE]
    if unknown:
        raise LabError(f"unknown architecture {', '.join(unknown)}; the catalogue has {', '.join(ARCHITECTURES)}")


def _entry(line: dict) -> WeightsEntry:
    return WeightsEntry(line["architecture"], Path(line["file"]), line["sha256"], line["source"], int(line["size"]),
                        line.get("recorded"))


def _helper(args: list[str], cancel: Callable[[], bool] | None) -> list[dict]:
    """The torch helper's JSON lines; Cancelled when `cancel()` turns true while it runs."""
    process = subprocess.Popen([sys.executable, "-m", "easeml_gui.training.weights", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    while True:
        try:
            out, err = process.communicate(timeout=POLL_S)
            break
        except subprocess.TimeoutExpired:
            if cancel is not None and cancel():
                _interrupt(process)
                raise Cancelled("stopped; nothing of the interrupted download was kept") from None
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    if process.returncode != 0 and not any("error" in line for line in lines):
        said = err.strip().splitlines()[-1] if err.strip() else "no message"
        raise LabError(f"the weights helper failed (exit {process.returncode}: {said}); try "
                       f"`easeml-gui weights {' '.join(args[:1])}` in a terminal to see all it says")
    return lines


def _interrupt(process: subprocess.Popen) -> None:
    """Ctrl-C for the helper (torch hub's download deletes its temporary file), then a kill if it lingers."""
    try:
        os.killpg(process.pid, signal.SIGINT)
        process.communicate(timeout=INTERRUPTED_WAIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
    except ProcessLookupError:
        process.communicate()
