"""Pretrained ImageNet weights: check, download, import and load them (torch side of weights_registry.py).

A weight file is accepted only when it loads into the architecture's torchvision model with the 1000-class
ImageNet head, key for key and shape for shape; a file under one of torchvision's own names must also have the
sha256 prefix that name carries (torch hub's naming rule). Files are always read with
`torch.load(weights_only=True)`: a lab's checkpoint may come from anywhere.

`python -m easeml_gui.training.weights fetch [--progress] ARCH... | import FILE --model ARCH | verify FILE
--model ARCH` is what `easeml-gui weights` runs (the command line stays torch-free). It prints one JSON line per
architecture on stdout, the weights entry or {"architecture", "error"}, and exits 1 when any failed; stderr only
carries torch's download progress.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO
from urllib.error import URLError

import torch
import torchvision
from torch.hub import HASH_REGEX, download_url_to_file
from torchvision.models import densenet, get_model, get_model_builder, get_model_weights, list_models

from .atomic import write_atomically
from .catalogue import CATALOGUE
from .weights_registry import (FOUND_IN_CACHE, WeightsEntry, WeightsError, hub_checkpoints_dir, managed_name,
                               record, torchvision_cache_file, weights_for)

DOWNLOAD_TIMEOUT_S = 60.0  # per connect and per read: torch hub sets none, so a dead network would hang forever
_CHUNK = 1 << 20
_LISTED = 6  # keys named per kind of problem in a refusal


class NoNetwork(WeightsError):
    """A download that could not reach the server: every other download would fail the same way."""


def load_pretrained_state(arch: str) -> dict[str, torch.Tensor]:
    """The ImageNet state dict the lab has for arch (1000-class head), on the CPU, with current key names."""
    entry = weights_for(arch)
    if entry is None:
        raise FileNotFoundError(
            f"no ImageNet weights for {arch}: {torchvision_cache_file(arch)} is not in the torch hub cache and none "
            f"were imported; run `easeml-gui weights fetch {arch}` (needs network), or copy a weights file here and "
            f"run `easeml-gui weights import FILE --model {arch}`")
    return _current_keys(arch, _load(entry.file, str(entry.file)))


def verify(file: Path, arch: str) -> str:
    """The file's sha256 once it is known to be arch's ImageNet weights; WeightsError says why it is not."""
    sha256 = file_sha256(file)
    _check_torchvision_name(file, sha256, arch)
    _check_loads(_current_keys(arch, _load(file, str(file))), arch, str(file))
    return sha256


def import_file(source: Path, arch: str) -> WeightsEntry:
    """Check source (a torchvision file or a lab's own checkpoint) and copy it into the hub cache as arch's
    weights: torchvision's files under their own name, so torchvision finds them too, others under a managed one."""
    if not source.is_file():
        raise WeightsError(f"{source} is not a file; give the path of a weights file")
    sha256 = verify(source, arch)
    torchvision_name = source.name in torchvision_files()
    dest = hub_checkpoints_dir() / (source.name if torchvision_name else managed_name(arch, sha256))
    existed = dest.is_file()
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(dest, lambda out: _copy_unchanged(source, out, sha256))
    kind = "torchvision file imported" if torchvision_name else "imported"
    entry = WeightsEntry(arch, dest, sha256, f"{kind} from {source.absolute()}", dest.stat().st_size, _now())
    _record_or_remove(entry, remove=not existed)
    return entry


def fetch(arch: str, progress: bool = False) -> WeightsEntry:
    """torchvision's default ImageNet weights for arch, downloaded into the hub cache unless already there."""
    url = get_model_weights(arch).DEFAULT.url
    dest = hub_checkpoints_dir() / url.rsplit("/", 1)[-1]
    found = dest.is_file()
    if not found:
        _download(url, dest, arch, progress)
    try:
        sha256 = verify(dest, arch)
    except WeightsError as error:
        if found:
            raise WeightsError(f"{error} (it was already in the torch hub cache: delete it and run "
                               f"`easeml-gui weights fetch {arch}` again)") from None
        dest.unlink(missing_ok=True)
        raise
    entry = WeightsEntry(arch, dest, sha256, FOUND_IN_CACHE if found else "torchvision download",
                         dest.stat().st_size, _now())
    _record_or_remove(entry, remove=not found)
    return entry


def torchvision_files() -> dict[str, str]:
    """Every weight file name torchvision publishes for a classification model (all versions) -> architecture."""
    return {weights.url.rsplit("/", 1)[-1]: name
            for name in list_models(module=torchvision.models) for weights in get_model_weights(name)}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_torchvision_name(file: Path, sha256: str, arch: str) -> None:
    owner = torchvision_files().get(file.name)
    if owner is None:
        return  # a lab's own checkpoint: its name promises nothing
    if owner != arch:
        raise WeightsError(f"{file} is torchvision's weights file for {owner}, not {arch}; "
                           f"import it with --model {owner}")
    match = HASH_REGEX.search(file.name)
    prefix = match.group(1) if match else ""
    if not sha256.startswith(prefix):
        raise WeightsError(f"{file} has the name of torchvision's {arch} weights, but its sha256 starts with "
                           f"{sha256[:len(prefix)]}, not {prefix}: the copy is damaged or another file under that "
                           "name. Copy torchvision's file again (a checkpoint of your own: give it another name)")


def _load(path: Path, label: str) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a damaged file makes torch.load raise anything from EOFError to RuntimeError
        raise WeightsError(f"{label} cannot be read as torch weights ({_first_sentence(error)}): it is truncated, "
                           "damaged or no file saved by torch.save; copy it again") from None
    if not isinstance(state, dict) or not state:
        raise WeightsError(f"{label} holds a {type(state).__name__}, not a state dict; "
                           "save the model's state_dict() with torch.save")
    others = [str(key) for key, value in state.items() if not isinstance(value, torch.Tensor)]
    if others:
        raise WeightsError(f"{label} is no plain state dict: {_some(others)} are not tensors (a training "
                           "checkpoint?); save the model's state_dict() alone with torch.save")
    return state


class _Loaded:
    """Hands torchvision's densenet loader a state dict already loaded (it asks a WeightsEnum for one)."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        self.state = state

    def get_state_dict(self, **_: object) -> dict[str, torch.Tensor]:
        return self.state


class _Capture:
    """Stands in for the model torchvision's densenet loader loads into, keeping the renamed state dict."""

    state: dict[str, torch.Tensor]

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.state = state


def _current_keys(arch: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision's densenet files use key names modules can no longer have ("norm.1"); torchvision renames them
    in its densenet loader, so the same loader renames them here."""
    if get_model_builder(arch).__module__ != densenet.__name__:
        return state
    capture = _Capture()
    densenet._load_state_dict(model=capture, weights=_Loaded(state), progress=False)  # type: ignore[arg-type]
    return capture.state


def _check_loads(state: dict[str, torch.Tensor], arch: str, label: str) -> None:
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        model = get_model(arch, weights=None)
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    wrong = {key: f"{key} {tuple(value.shape)} where {arch} has {expected[key]}"
             for key, value in state.items() if key in expected and tuple(value.shape) != expected[key]}
    loadable = {key: value for key, value in state.items() if key not in wrong}
    if hasattr(state, "_metadata"):  # module versions: batch norm fills in counters old files lack
        loadable = type(state)(loadable)
        loadable._metadata = state._metadata  # type: ignore[attr-defined]
    # load_state_dict itself decides what is missing: it knows which keys a module may do without
    incompatible = model.load_state_dict(loadable, strict=False, assign=True)
    problems = [f"{len(keys)} {kind}: {_some(keys)}" for kind, keys in (
        ("missing", incompatible.missing_keys), ("unexpected", incompatible.unexpected_keys),
        ("with another shape", list(wrong.values()))) if keys]
    if problems:
        raise WeightsError(f"{label} does not load into {arch} with its 1000-class ImageNet head; keys "
                           f"{'; '.join(problems)}. Is it another architecture's, or trained with another head? "
                           f"Give {arch}'s ImageNet weights, or the right --model")


def _first_sentence(error: Exception) -> str:
    text = str(error).strip().split(". ")[0].splitlines()[0][:200] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _some(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LISTED])
    return shown if len(keys) <= _LISTED else f"{shown}, ... ({len(keys) - _LISTED} more)"


def _copy_unchanged(source: Path, out: BinaryIO, sha256: str) -> None:
    digest = hashlib.sha256()
    with open(source, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != sha256:  # e.g. a copy still being written when the import started
        raise WeightsError(f"{source} changed while it was imported; wait until it is complete and import it again")


def _download(url: str, dest: Path, arch: str, progress: bool) -> None:
    """torch hub's own download (what torchvision's loader calls): a temporary file, checked against the hash
    prefix in the name, then moved into place; nothing is left behind when it fails."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    match = HASH_REGEX.search(dest.name)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        download_url_to_file(url, str(dest), match.group(1) if match else None, progress=progress)
    except (URLError, http.client.HTTPException, ConnectionError, TimeoutError) as error:
        reason = getattr(error, "reason", None) or error
        raise NoNetwork(f"could not download {url} ({reason}; no network?). On a machine with network run "
                        f"`easeml-gui weights fetch {arch}`, copy {dest.name} from its torch hub cache "
                        f"(~/.cache/torch/hub/checkpoints) here and run "
                        f"`easeml-gui weights import {dest.name} --model {arch}`") from None
    except OSError as error:  # the network was fine: the disk was not
        raise WeightsError(f"could not write {dest} ({error}); free space or fix the permissions of "
                           f"{dest.parent} and run `easeml-gui weights fetch {arch}` again") from None
    except RuntimeError as error:  # torch hub's hash check
        raise WeightsError(f"the download of {url} is damaged ({error}); run "
                           f"`easeml-gui weights fetch {arch}` again") from None
    finally:
        socket.setdefaulttimeout(previous)


def _record_or_remove(entry: WeightsEntry, remove: bool) -> None:
    """Record entry; when that fails, remove the file this call put there, so a failure leaves nothing."""
    try:
        record(entry)
    except BaseException:
        if remove:
            entry.file.unlink(missing_ok=True)
        raise


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _run(action: str, args: argparse.Namespace) -> list[dict[str, object]]:
    """The JSON lines of one helper call; a failed architecture gives {"architecture", "error"}."""
    lines: list[dict[str, object]] = []
    for arch in args.models if action == "fetch" else [args.model]:
        try:
            if action == "fetch":
                lines.append(fetch(arch, args.progress).to_json())
            elif action == "import":
                lines.append(import_file(args.file, arch).to_json())
            else:
                lines.append({"architecture": arch, "file": str(args.file), "sha256": verify(args.file, arch)})
        except WeightsError as error:
            lines.append({"architecture": arch, "error": str(error)})
            if isinstance(error, NoNetwork):
                break  # the rest would wait for the same dead network
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m easeml_gui.training.weights", description=__doc__)
    actions = parser.add_subparsers(dest="action", required=True)
    fetch_parser = actions.add_parser("fetch", help="download torchvision's ImageNet weights")
    fetch_parser.add_argument("models", nargs="+", choices=sorted(CATALOGUE), metavar="ARCH")
    fetch_parser.add_argument("--progress", action="store_true", help="show download progress on stderr")
    for action in ("import", "verify"):
        one = actions.add_parser(action, help=f"{action} a weights file for one architecture")
        one.add_argument("file", type=Path)
        one.add_argument("--model", required=True, choices=sorted(CATALOGUE), metavar="ARCH")
    args = parser.parse_args(argv)
    lines = _run(args.action, args)
    for line in lines:
        print(json.dumps(line), flush=True)
    return 1 if any("error" in line for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
