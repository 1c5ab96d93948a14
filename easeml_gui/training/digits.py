"""scikit-learn's bundled 8x8 digits as an image-folder dataset: the demo lab's data and the tests' real images."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image


def export_digits(target: Path, classes: Iterable[int] = range(10), per_class: int | None = None) -> Path:
    """Write the digits of `classes` (all of them, or the first `per_class` of each) as 8-bit grey PNGs in one
    folder per class under `target`; returns `target`."""
    from sklearn.datasets import load_digits  # scikit-learn is slow to import; only this needs it

    wanted = set(classes)
    digits = load_digits()
    written = dict.fromkeys(wanted, 0)
    for index, (image, label) in enumerate(zip(digits.images, digits.target)):
        label = int(label)
        if label not in wanted or written[label] == per_class:
            continue
        written[label] += 1
        folder = target / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        # Pixel values run 0..16: scale to the full 8-bit range.
        Image.fromarray((image * 255 / 16).round().astype(np.uint8), "L").save(folder / f"{index:04d}.png")
    return target
