"""Which pretrained ImageNet weights the lab has, per architecture (torch-free).

Weights live in torch hub's cache (`<hub dir>/checkpoints`), where torchvision itself looks: torchvision's own
files under their own names (`resnet18-f37072fd.pth`), a lab's own checkpoints under managed names
(`easeml/<arch>-<sha256[:12]>.pth`). `easeml-weights.json` beside them records, per architecture, the file that
`weights fetch` or `weights import` checked, with its sha256, source, size and time. A torchvision file found in
the cache without a record counts too (torchvision would use it). Torch-free so that `job add` and `weights
list` run on machines without torch; `training/weights.py` checks, downloads and loads the files.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from .atomic import write_atomically
from .catalogue import CATALOGUE

REGISTRY_NAME = "easeml-weights.json"
MANAGED_FOLDER = "easeml"  # inside the checkpoints folder: the lab's own checkpoints
FOUND_IN_CACHE = "found in the torch hub cache"
_FORMAT = 1


class WeightsError(Exception):
    """Weights that cannot be used or recorded; str(error) says what is wrong and what to do."""


@dataclass(frozen=True)
class WeightsEntry:
    architecture: str
    file: Path
    sha256: str | None  # None: a file found in the cache, never checked by fetch or import
    source: str  # "torchvision download", "imported from /path/x.pth", FOUND_IN_CACHE, ...
    size: int  # bytes
    recorded: str | None = None  # ISO time of the fetch or import; None when found in the cache

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "file": str(self.file)}


def hub_dir() -> Path:
    """torch.hub.get_dir() without torch: $TORCH_HOME/hub, $TORCH_HOME defaulting to $XDG_CACHE_HOME/torch, and
    $XDG_CACHE_HOME to ~/.cache (tests/test_weights.py checks this against torch's own rule)."""
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    return Path(os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))) / "hub"


def hub_checkpoints_dir() -> Path:
    """Where torch hub (and so torchvision) keeps downloaded weight files."""
    return hub_dir() / "checkpoints"


def registry_path() -> Path:
    return hub_checkpoints_dir() / REGISTRY_NAME


def managed_name(arch: str, sha256: str) -> str:
    """Where a lab's own checkpoint is kept, relative to the checkpoints folder: named by content, like hub files."""
    return f"{MANAGED_FOLDER}/{arch}-{sha256[:12]}.pth"


def torchvision_cache_file(arch: str) -> Path:
    """The file torchvision loads arch's default ImageNet weights from, present or not."""
    return hub_checkpoints_dir() / CATALOGUE[arch].weights_file


def _read_records() -> dict[str, WeightsEntry]:
    path = registry_path()
    if not path.is_file():
        return {}
    try:
        records = json.loads(path.read_text())["weights"]
        return {arch: WeightsEntry(arch, hub_checkpoints_dir() / r["file"], r["sha256"], r["source"], int(r["size"]),
                                   r["recorded"]) for arch, r in records.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise WeightsError(f"the weights registry {path} is damaged ({error!r}); delete it and run "
                           "`easeml-gui weights fetch` or `easeml-gui weights import` again") from None


def weights_for(arch: str) -> WeightsEntry | None:
    """The weights the lab has for arch: the recorded file, else torchvision's file in the cache, else None."""
    return _available(arch, _read_records())


def pretrained_available() -> dict[str, WeightsEntry]:
    """Every catalogue architecture the lab has ImageNet weights for, by name (catalogue order)."""
    records = _read_records()
    entries = {arch: _available(arch, records) for arch in CATALOGUE}
    return {arch: entry for arch, entry in entries.items() if entry is not None}


def _available(arch: str, records: dict[str, WeightsEntry]) -> WeightsEntry | None:
    entry = records.get(arch)
    if entry is not None and entry.file.is_file():  # a recorded file deleted by hand no longer counts
        return entry
    cached = torchvision_cache_file(arch)
    if cached.is_file():
        return WeightsEntry(arch, cached, None, FOUND_IN_CACHE, cached.stat().st_size)
    return None


@contextmanager
def _locked() -> Iterator[None]:
    # Two imports at once must not both read the old registry and each drop the other's record.
    with open(registry_path().with_name(f"{REGISTRY_NAME}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def record(entry: WeightsEntry) -> None:
    """Record entry as the weights of its architecture (replacing an earlier record); the file must be inside
    the checkpoints folder, so the record stays right when $TORCH_HOME moves."""
    hub_checkpoints_dir().mkdir(parents=True, exist_ok=True)
    with _locked():
        records = {arch: _stored(e) for arch, e in _read_records().items()}
        records[entry.architecture] = _stored(entry)
        text = json.dumps({"format": _FORMAT, "weights": records}, indent=1, sort_keys=True)
        write_atomically(registry_path(), lambda out: out.write(text.encode()))


def _stored(entry: WeightsEntry) -> dict[str, object]:
    return {**entry.to_json(), "file": entry.file.relative_to(hub_checkpoints_dir()).as_posix()}
