"""Sending a registered dataset to a host by content (the host side is remote/host_datasets.py): each file once per
host as objects/<sha256>, verified there before it counts, the dataset folder built from the objects. A sync cut
short resumes: what arrived whole is kept; an object found corrupted is sent again."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..training.datasets import MANIFEST_NAME, load_dataset
from .errors import RemoteCommandFailed
from .session import HostLink, call

MODULE = "easeml_gui.remote.host_datasets"
ROUNDS = 3  # sends of a file that keeps arriving broken before the sync gives up


@dataclass(frozen=True)
class Synced:
    folder: str  # the dataset folder on the host (TASK.json's dataset)
    files_sent: int
    bytes_sent: int


def sync_dataset(link: HostLink, python: str, code: str, root: str, local_folder: str,
                 on_sent: Callable[[str], None] = lambda sha: None) -> Synced:
    """Make the registered dataset at `local_folder` present and checked on the host; raises DatasetError (the
    local dataset is not a registered one), RemoteCommandFailed or Unreachable. `on_sent` hears of each object
    sent."""
    info = load_dataset(local_folder)
    files = [[entry.path, entry.size, entry.sha256] for entry in info.manifest]
    request = {"root": root, "hash": info.content_hash, "files": files}
    folder = f"{root}/datasets/{info.content_hash}"
    answer = call(link, python, code, MODULE, "plan", request)
    source = {entry.sha256: Path(info.root) / entry.path for entry in info.manifest}
    sent = sent_bytes = 0
    for _ in range(ROUNDS):
        if answer["ready"]:
            return Synced(folder, sent, sent_bytes)
        for sha in answer["missing"]:
            target = f"{root}/objects/{sha}.part"
            link.sftp(lambda sftp: sftp.put(str(source[sha]), target))
            sent, sent_bytes = sent + 1, sent_bytes + source[sha].stat().st_size
            on_sent(sha)
        manifest = (Path(info.root) / MANIFEST_NAME).read_text()
        answer = call(link, python, code, MODULE, "finish", {**request, "manifest": manifest})
    raise RemoteCommandFailed(f"{len(answer['missing'])} file(s) of dataset {local_folder} kept arriving broken on "
                              f"{link.name}; check the host's free disk", status="dataset sync failed")
