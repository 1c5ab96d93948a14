"""`easeml-gui weights fetch [MODEL...] | import FILE --model ARCH | list`: the lab's pretrained ImageNet weights.

Checking, downloading and importing need torch, so they run as `python -m easeml_gui.training.weights` in a
subprocess (its stderr, torch's download progress, goes straight to the terminal); `list` reads the torch-free
registry. The command line stays torch-free: a lab admin's laptop may drive GPU hosts without torch installed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from ..training.catalogue import CATALOGUE
from ..training.weights_registry import WeightsEntry, WeightsError, hub_checkpoints_dir, pretrained_available
from . import CommandError, UsageError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    weights = sub.add_parser("weights", help="pretrained ImageNet weights in the torch hub cache: fetch, import, list")
    actions = weights.add_subparsers(dest="action", metavar="ACTION", required=True)
    fetch = actions.add_parser("fetch", help="download torchvision's ImageNet weights (default: every catalogue model)")
    fetch.add_argument("models", nargs="*", metavar="MODEL", help="catalogue architectures (default: all)")
    fetch.set_defaults(handler=run_weights_fetch)
    imported = actions.add_parser("import", help="take a weights file copied in by hand, once it loads into ARCH")
    imported.add_argument("file", type=Path, help="torchvision's file (checked against the hash in its name) "
                          "or a lab's own ImageNet checkpoint (a state dict)")
    imported.add_argument("--model", required=True, metavar="ARCH", help="the catalogue architecture it is for")
    imported.set_defaults(handler=run_weights_import)
    listed = actions.add_parser("list", help="the architectures the lab has ImageNet weights for")
    listed.add_argument("--json", action="store_true", help="print the entries as JSON")
    listed.set_defaults(handler=run_weights_list)


def _check_models(models: list[str]) -> None:
    unknown = [model for model in models if model not in CATALOGUE]
    if unknown:
        raise UsageError(f"unknown architecture {', '.join(unknown)}; the catalogue has {', '.join(sorted(CATALOGUE))}")


def _helper(*args: str) -> list[dict]:
    """Run the torch helper; its JSON lines, one per architecture (an entry, or one with "error")."""
    out = subprocess.run([sys.executable, "-m", "easeml_gui.training.weights", *args],
                         stdout=subprocess.PIPE, text=True)
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 and not any("error" in line for line in lines):
        raise CommandError(f"the weights helper failed (exit {out.returncode}); see the messages above")
    return lines


def _describe(entry: dict) -> str:
    return (f"{entry['architecture']}: {entry['file']} ({_size(entry['size'])}, "
            f"sha256 {entry['sha256'][:12]}), {entry['source']}")


def _size(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _report(lines: list[dict], requested: list[str]) -> int:
    for line in lines:
        if "error" not in line:
            print(_describe(line))
    errors = [line["error"] for line in lines if "error" in line]
    skipped = requested[len(lines):]  # the helper stops at the first download that found no network
    if skipped:
        errors.append(f"not fetched either: {', '.join(skipped)}")
    if errors:
        raise CommandError("\n".join(errors))
    return 0


def run_weights_fetch(args: argparse.Namespace) -> int:
    _check_models(args.models)
    models = args.models or sorted(CATALOGUE)
    progress = ["--progress"] if sys.stderr.isatty() else []
    return _report(_helper("fetch", *progress, *models), models)


def run_weights_import(args: argparse.Namespace) -> int:
    _check_models([args.model])
    if not args.file.is_file():
        raise CommandError(f"{args.file} is not a file; give the path of a weights file")
    return _report(_helper("import", str(args.file.absolute()), "--model", args.model), [args.model])


def run_weights_list(args: argparse.Namespace) -> int:
    try:
        entries = pretrained_available()
    except WeightsError as error:
        raise CommandError(str(error)) from None
    if args.json:
        print(json.dumps([entry.to_json() for entry in entries.values()], indent=1))
        return 0
    print(f"ImageNet weights in {hub_checkpoints_dir()}:")
    for entry in entries.values():
        print(f"  {_row(entry)}")
    missing = [arch for arch in sorted(CATALOGUE) if arch not in entries]
    if missing:
        print(f"none for: {', '.join(missing)} "
              "(`easeml-gui weights fetch MODEL`, or `easeml-gui weights import FILE --model MODEL`)")
    return 0


def _row(entry: WeightsEntry) -> str:
    sha = entry.sha256[:12] if entry.sha256 else "not checked"
    file = entry.file.relative_to(hub_checkpoints_dir()).as_posix()
    return f"{entry.architecture:<20} {file:<42} {sha:<12} {_size(entry.size):>9}  {entry.source}"
