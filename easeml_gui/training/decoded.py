"""Decode a registered dataset once into one uint8 array, cached on disk per (content hash, image size, channels).

Training then never touches an image file again: no per-epoch decoding, no DataLoader workers. The cache lives in
the dataset's hidden .cache/ folder (ignored by dataset scans) and is written atomically, so two workers that
decode the same dataset at once both end with a whole file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from .atomic import write_atomically
from .datasets import DatasetInfo
from .errors import DatasetError
from .images import decode_image
from .safe_files import RefusedFile, read_regular

CACHE_DIR = ".cache"


def cache_path(info: DatasetInfo, image_size: int) -> Path:
    return (Path(info.root) / CACHE_DIR /
            f"decoded-{info.content_hash[:16]}-{image_size}px-{info.stats.channels}ch.npy")


def decoded_images(info: DatasetInfo, image_size: int) -> np.ndarray:
    """(N, C, S, S) uint8 images in manifest order. Building the cache checks every file against the manifest."""
    path = cache_path(info, image_size)
    if path.is_file():
        return np.load(path)
    channels = info.stats.channels
    images = np.empty((info.num_images, channels, image_size, image_size), dtype=np.uint8)
    for i, entry in enumerate(info.manifest):
        try:  # bounded by the registered size: a file replaced by a link, a FIFO or a huge file is not read
            data = read_regular(Path(info.root) / entry.path, entry.size)
        except (OSError, RefusedFile):
            data = b""
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            raise DatasetError(f"{entry.path} in {info.root} is missing or changed since the dataset was registered; "
                               "register the dataset again")
        images[i] = decode_image(data, channels, image_size)
    _save_atomic(path, images)
    return images


def split_rows(info: DatasetInfo, images: np.ndarray, paths: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The decoded images of `paths` (a split; `images` in manifest order) and their int64 labels."""
    index = {entry.path: i for i, entry in enumerate(info.manifest)}
    return images[[index[p] for p in paths]], np.asarray(info.labels(paths), dtype=np.int64)


def _save_atomic(path: Path, images: np.ndarray) -> None:
    try:
        path.parent.mkdir(exist_ok=True)
        write_atomically(path, lambda out: np.save(out, images))
    except OSError:
        pass  # a read-only dataset folder: train from the decoded array without caching it
