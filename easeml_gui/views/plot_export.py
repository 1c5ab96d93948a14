"""Saving a plot as a PNG and its data as CSV, offered in every plot's right-click menu (plot_style)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
from PySide6 import QtWidgets

Series = Mapping[str, tuple[np.ndarray, np.ndarray]]


def write_rows(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A CSV file: the header, then the rows (numbers formatted by the caller)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(header)
        out.writerows(rows)


def number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def write_csv(series: Series, path: Path, x_label: str, y_label: str) -> None:
    """One row per point: series, x, y (long format: any number of series, any lengths)."""
    write_rows(path, ["series", x_label, y_label],
               ((name, number(a), number(b)) for name, (x, y) in series.items()
                for a, b in zip(np.asarray(x), np.asarray(y))))


def write_png(widget: QtWidgets.QWidget, path: Path) -> bool:
    return widget.grab().save(str(path), "PNG")


def ask_path(parent: QtWidgets.QWidget, title: str, suggested: str, pattern: str) -> Path | None:
    name, _ = QtWidgets.QFileDialog.getSaveFileName(parent, title, suggested, pattern)
    return Path(name) if name else None


def slug(title: str) -> str:
    """A file name from a plot's title: "best accuracy" -> "best-accuracy"."""
    return "-".join("".join(c if c.isalnum() else " " for c in title.lower()).split()) or "plot"
