"""Pretrained weights ON THE HOST: `python -m easeml_gui.remote.host_weights place` from the synced worker code, a
JSON request on stdin, a JSON answer on stdout. The weight file travels as an object like a dataset's files
(remote/host_datasets.py: objects/<sha256>, checked there), and is then recorded in the lab's own torch home on
the host (<root>/torch), whose registry the worker reads (training/weights_registry.py), so a remote fine-tune
loads the very file the lab checked, whatever the host's own torch cache holds.

  place  {"root", "arch", "file", "sha256", "size", "source"}  -> {"ready": true} once the file is in the torch
         home and recorded, else {"ready": false, "missing": [sha256]}: the object still to send
"""

from __future__ import annotations

import os
import sys
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from .host_commands import serve
from .host_datasets import have_object, objects_locked, unpack_bundles

TORCH_HOME = "torch"  # under the host's root: the worker's $TORCH_HOME there


def place(request: Mapping[str, Any]) -> dict[str, Any]:
    root = Path(request["root"])
    with objects_locked(root) as objects:  # hosts sharing this root may place the same file at once
        return _place(request, root, objects)


def _place(request: Mapping[str, Any], root: Path, objects: Path) -> dict[str, Any]:
    unpack_bundles(objects)
    sha, size = request["sha256"], int(request["size"])
    if not have_object(objects, sha, size):
        return {"ready": False, "missing": [sha]}
    os.environ["TORCH_HOME"] = str(root / TORCH_HOME)  # the registry's functions find the hub folder through it
    from ..training.weights_registry import WeightsEntry, hub_checkpoints_dir, record  # torch-free

    relative = PurePosixPath(request["file"])
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise ValueError(f"unsafe weights file name: {request['file']!r}")
    target = hub_checkpoints_dir() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if not (target.is_file() and target.stat().st_size == size):
        staged = target.with_name(f".{target.name}.{os.getpid()}")
        os.link(objects / sha, staged)
        os.replace(staged, target)
    record(WeightsEntry(request["arch"], target, sha, request["source"], size, request.get("recorded")))
    return {"ready": True}


if __name__ == "__main__":
    sys.exit(serve(__spec__.name, {"place": place}, sys.argv[1:]))
