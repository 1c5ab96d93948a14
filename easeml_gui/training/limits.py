"""How much a dataset may hold: the guards against decompression bombs and datasets too small to learn from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_total_bytes: int = 16 * 1024**3  # uncompressed bytes an archive may extract to
    max_members: int = 500_000  # files and folders an archive may hold
    max_files: int = 500_000  # files a dataset folder may hold
    max_file_bytes: int = 64 * 1024**2  # per image file or archive member: a larger one is refused, never read whole
    max_ratio: int = 200  # how many times its compressed size an archive or zip member may expand to ...
    ratio_exempt_bytes: int = 16 * 1024**2  # ... once past this (below it, blank BMPs may compress better)
    max_pixels: int = 64_000_000  # per image (about 8000 x 8000); PIL's own guard starts at 89 M
    min_images_per_class: int = 10  # fewer cannot be split into train and validation meaningfully
