"""Saving a plot as a PNG and its data as CSV, offered in every SeriesPlot's right-click menu."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Mapping

import numpy as np
from PySide6 import QtWidgets

Series = Mapping[str, tuple[np.ndarray, np.ndarray]]


def write_csv(series: Series, path: Path, x_label: str, y_label: str) -> None:
    """One row per point: series, x, y (long format: any number of series, any lengths)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["series", x_label, y_label])
        for name, (x, y) in series.items():
            out.writerows((name, f"{a:.6g}", f"{b:.6g}") for a, b in zip(np.asarray(x), np.asarray(y)))


def write_png(widget: QtWidgets.QWidget, path: Path) -> bool:
    return widget.grab().save(str(path), "PNG")


def ask_path(parent: QtWidgets.QWidget, title: str, suggested: str, pattern: str) -> Path | None:
    name, _ = QtWidgets.QFileDialog.getSaveFileName(parent, title, suggested, pattern)
    return Path(name) if name else None


def slug(title: str) -> str:
    """A file name from a plot's title: "best accuracy" -> "best-accuracy"."""
    return "-".join("".join(c if c.isalnum() else " " for c in title.lower()).split()) or "plot"
