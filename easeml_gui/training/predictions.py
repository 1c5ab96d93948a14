"""A finished task's class probabilities, what ensemble selection (engine/ensemble.py) combines.

The worker writes predictions.npz into the task folder (named in result.json): for every validation image it
scored, the row (its index in train + validation, the registered order training/folds.py numbers folds in: the
registered validation split, and each further fold's held-out part where the task cross-validates), the true class
and the class probabilities; and the same for the test split, in its registered order. float32, images x classes:
2,000 images of 10 classes are 80 KB.

Read back with numpy's own format and never a pickle (allow_pickle=False), shapes and values checked, so a file
from a host is data, not code. Torch-free: the lab reads these where no torch is installed.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import write_atomically

PREDICTIONS_FILE = "predictions.npz"
MAX_BYTES = 64 * 1024 * 1024  # 64 MiB: a million images x 16 classes; a larger file is not one the worker wrote
_ARRAYS = ("val_rows", "val_labels", "val_probabilities", "test_labels", "test_probabilities")


class BadPredictions(ValueError):
    """A predictions file that is missing, too large, malformed, or inconsistent."""


@dataclass(frozen=True)
class Predictions:
    val_rows: np.ndarray  # (V,) int64, unique
    val_labels: np.ndarray  # (V,) int64
    val_probabilities: np.ndarray  # (V, C) float32
    test_labels: np.ndarray  # (T,) int64; T = 0 without a test split
    test_probabilities: np.ndarray  # (T, C) float32

    def __post_init__(self) -> None:
        classes = self.val_probabilities.shape[1] if self.val_probabilities.ndim == 2 else -1
        checks = [
            (self.val_rows.ndim == 1 and len(np.unique(self.val_rows)) == len(self.val_rows)
             and (len(self.val_rows) == 0 or self.val_rows.min() >= 0), "validation rows must be distinct indices"),
            (classes >= 2 and self.val_probabilities.shape[0] == len(self.val_rows) == len(self.val_labels),
             "validation probabilities must be one row of at least 2 classes per validation image"),
            (self.test_probabilities.ndim == 2 and self.test_probabilities.shape == (len(self.test_labels), classes),
             "test probabilities must be one row per test image, with the validation's classes"),
        ]
        for ok, message in checks:
            if not ok:
                raise BadPredictions(message)
        for name, labels in (("validation", self.val_labels), ("test", self.test_labels)):
            if labels.ndim != 1 or (len(labels) and (labels.min() < 0 or labels.max() >= classes)):
                raise BadPredictions(f"{name} labels must be class indices below {classes}")
        for name, values in (("validation", self.val_probabilities), ("test", self.test_probabilities)):
            if not np.all(np.isfinite(values)) or np.any(values < 0):
                raise BadPredictions(f"{name} probabilities must be finite and non-negative")

    @property
    def classes(self) -> int:
        return int(self.val_probabilities.shape[1])

    @classmethod
    def of(cls, val_rows: np.ndarray, val_labels: np.ndarray, val_probabilities: np.ndarray,
           test_labels: np.ndarray | None, test_probabilities: np.ndarray | None) -> "Predictions":
        """From what a task computed (any numeric dtypes; no test split: None), rows of each probability
        normalised to sum to 1."""
        classes = np.asarray(val_probabilities).shape[-1]
        return cls(np.asarray(val_rows, dtype=np.int64), np.asarray(val_labels, dtype=np.int64),
                   _normalised(val_probabilities),
                   np.asarray(test_labels if test_labels is not None else [], dtype=np.int64),
                   _normalised(test_probabilities if test_probabilities is not None else np.zeros((0, classes))))

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{name: getattr(self, name) for name in _ARRAYS})
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Predictions":
        if len(data) > MAX_BYTES:
            raise BadPredictions(f"a predictions file of {len(data) / 2**20:.0f} MiB is over the "
                                 f"{MAX_BYTES // 2**20} MiB a task writes")
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                # each member's declared size is bounded too: a small zip can expand to gigabytes
                if sum(info.file_size for info in archive.zip.infolist()) > 4 * MAX_BYTES:
                    raise BadPredictions("a predictions file that expands beyond what a task writes")
                arrays = {name: archive[name] for name in _ARRAYS}
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
            if isinstance(error, BadPredictions):
                raise
            raise BadPredictions(f"not a predictions file: {error}") from None
        return cls(**{name: arrays[name].astype(np.float32 if "probabilities" in name else np.int64, copy=False)
                      for name in _ARRAYS})

    def save(self, folder: Path) -> str:
        """Write PREDICTIONS_FILE into `folder` atomically; return its name (for result.json)."""
        data = self.to_bytes()
        write_atomically(Path(folder) / PREDICTIONS_FILE, lambda out: out.write(data))
        return PREDICTIONS_FILE

    @classmethod
    def load(cls, path: Path) -> "Predictions":
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_BYTES + 1)
        except OSError as error:
            raise BadPredictions(f"cannot read {path}: {error.strerror or error}") from None
        return cls.from_bytes(data)


class ValidatedRows:
    """A task's validation probabilities as they come: the registered split's, then each further fold's held-out
    part (training/folds.py), each row named by its index in train + validation."""

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    @classmethod
    def registered(cls, train_images: int, labels: np.ndarray, probabilities: np.ndarray) -> "ValidatedRows":
        """Starting with the registered validation split, which follows the training split in that order."""
        validated = cls()
        validated.add(train_images + np.arange(len(labels)), labels, probabilities)
        return validated

    def add(self, rows: np.ndarray, labels: np.ndarray, probabilities: np.ndarray) -> None:
        self._parts.append((np.asarray(rows), np.asarray(labels), np.asarray(probabilities)))

    def with_test(self, labels: np.ndarray | None, probabilities: np.ndarray | None) -> Predictions:
        rows, row_labels, row_probabilities = (np.concatenate(part) for part in zip(*self._parts))
        return Predictions.of(rows, row_labels, row_probabilities, labels, probabilities)


def _normalised(probabilities: np.ndarray) -> np.ndarray:
    values = np.asarray(probabilities, dtype=np.float32)
    if values.ndim != 2:
        raise BadPredictions(f"probabilities must be images x classes, got shape {values.shape}")
    totals = values.sum(axis=1, keepdims=True)
    return np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)
