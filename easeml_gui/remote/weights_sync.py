"""Sending the lab's pretrained weights to a host (the host side is remote/host_weights.py): the checked file, by
content, once per host, recorded in the lab's torch home there, so remote fine-tunes start from exactly the
weights `weights fetch` or `weights import` checked here."""

from __future__ import annotations

from ..training.weights_registry import WeightsEntry, hub_checkpoints_dir
from .dataset_sync import send_bundle
from .errors import RemoteCommandFailed
from .host_datasets import sha256_of
from .host_weights import TORCH_HOME
from .session import HostLink, call

MODULE = "easeml_gui.remote.host_weights"


def torch_home(root: str) -> str:
    """The $TORCH_HOME of the lab's workers on a host."""
    return f"{root}/{TORCH_HOME}"


def ensure_weights(link: HostLink, python: str, code: str, root: str, entry: WeightsEntry) -> bool:
    """Make arch's weights present and recorded on the host; True when the file had to be sent."""
    sha = entry.sha256 or sha256_of(entry.file)  # a torchvision file found in the cache was never hashed
    request = {"root": root, "arch": entry.architecture, "file": entry.file.relative_to(hub_checkpoints_dir())
               .as_posix(), "sha256": sha, "size": entry.size, "source": entry.source, "recorded": entry.recorded}
    if call(link, python, code, MODULE, "place", request)["ready"]:
        return False
    send_bundle(link, f"{root}/objects", [sha], {sha: entry.file})
    if not call(link, python, code, MODULE, "place", request)["ready"]:
        raise RemoteCommandFailed(f"the {entry.architecture} weights ({entry.file.name}) arrived broken on "
                                  f"{link.name}; check the host's free disk", status="weights sync failed")
    return True
