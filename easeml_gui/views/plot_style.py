"""What every plot of the window shares: quiet axes and grid, a centred placeholder while there is no data, and
the right-click entries that save the plot as a PNG and its data as CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6 import QtGui, QtWidgets

import pyqtgraph as pg

from .plot_export import ask_path, slug
from .theme import GRID_ALPHA, scheme

FADED_ALPHA = 0.35  # the other series while one is highlighted: in the background, still readable
UNIT_PADDING = 0.02  # room beyond [0, 1], so a curve at 1.0 is not drawn on the frame


def keep_within_unit(view: pg.ViewBox, axis: str) -> None:
    """Accuracies lie in [0, 1]: the view of `axis` ("x" or "y") never leaves it by more than UNIT_PADDING, so a
    single point at 0.9 does not stretch the axis to 1.4 (pyqtgraph shows a flat range as its value ± 0.5)."""
    view.setLimits(**{f"{axis}Min": -UNIT_PADDING, f"{axis}Max": 1.0 + UNIT_PADDING})


def faded(colour: QtGui.QColor) -> QtGui.QColor:
    colour = QtGui.QColor(colour)
    colour.setAlphaF(FADED_ALPHA)
    return colour


def style_axes(item: pg.PlotItem, x_label: str, y_label: str) -> None:
    item.showGrid(x=True, y=True, alpha=GRID_ALPHA)
    item.getViewBox().setDefaultPadding(0.03)
    for axis in ("bottom", "left"):
        # Painted once into a pixmap and blitted at every repaint until the ticks change: replaying an axis's
        # picture (labels and the grid across the plot) was the largest cost of a live window's repaints.
        item.getAxis(axis).setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        item.getAxis(axis).enableAutoSIPrefix(False)
        # Major and minor ticks, not pyqtgraph's third level: its faint grid lines cost more to draw across the
        # plot at every change of range (the axis picture replayed 2.7x faster) than they add to reading it.
        item.getAxis(axis).setStyle(maxTickLevel=1)
        item.getAxis(axis).setTextPen(pg.mkPen(scheme().muted))
        item.getAxis(axis).setPen(pg.mkPen(scheme().axis))
    # after the pens: AxisItem.setPen/setTextPen recolour the label
    label_style = {"color": scheme().soft, "font-size": "10pt"}
    item.setLabel("bottom", x_label, **label_style)
    item.setLabel("left", y_label, **label_style)


class Placeholder:
    """A muted line of text in the middle of a plot's view, shown while the plot has nothing to draw."""

    def __init__(self, plot: pg.PlotWidget, text: str = "") -> None:
        self.item = pg.TextItem(text, color=scheme().muted, anchor=(0.5, 0.5))
        self.item.setFont(QtGui.QFont(plot.font().family(), 11))
        self.item.setVisible(bool(text))
        view = plot.getPlotItem().getViewBox()
        view.addItem(self.item, ignoreBounds=True)
        view.sigResized.connect(self._place)
        view.sigRangeChanged.connect(self._place)
        self._view = view

    @property
    def text(self) -> str:
        return self.item.textItem.toPlainText()

    def set_text(self, text: str) -> None:
        self.item.setText(text)

    def show_if(self, nothing_drawn: bool) -> None:
        self.item.setVisible(bool(self.text) and nothing_drawn)

    def _place(self) -> None:
        self.item.setPos(self._view.viewRect().center())


def offer_saving(plot: pg.PlotWidget, title: str, save_png: Callable[[Path], object],
                 save_csv: Callable[[Path], None]) -> None:
    """Add "Save as PNG…" and "Save data as CSV…" to the plot's right-click menu (file names from `title`)."""
    def ask_png() -> None:
        path = ask_path(plot, "Save the plot as PNG", f"{slug(title)}.png", "PNG images (*.png)")
        if path is not None:
            save_png(path)

    def ask_csv() -> None:
        path = ask_path(plot, "Save the plot's data as CSV", f"{slug(title)}.csv", "CSV files (*.csv)")
        if path is not None:
            save_csv(path)

    menu: QtWidgets.QMenu = plot.getPlotItem().getViewBox().menu
    menu.addSeparator()
    menu.addAction("Save as PNG…").triggered.connect(ask_png)
    menu.addAction("Save data as CSV…").triggered.connect(ask_csv)
