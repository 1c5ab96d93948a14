"""A pyqtgraph plot of named series (one colour each, with a legend) that keeps its items and redraws at most
20 times a second: set_series() only stores the data; a single-shot timer applies it with setData. Its
right-click menu saves it as a PNG and its data as CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
from PySide6 import QtCore, QtGui

import pyqtgraph as pg

from .held_tails import HeldTails, Tail
from .plot_export import write_csv, write_png
from .plot_style import Placeholder, faded, keep_within_unit, offer_saving, style_axes
from .theme import PLOT_THROTTLE_MS, ColourMap, scheme

Series = Mapping[str, tuple[np.ndarray, np.ndarray]]
Bands = Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # x, low, high
LONG_SERIES = 2_000  # points from which a curve is thinned to the pixels it covers and clipped to the view
DOWNSAMPLE_FACTOR = 1.0  # samples per pixel before a series is thinned (pyqtgraph's default, 5, keeps 10,000)
LEGEND_CORNERS = {"top-right": (-8, 8), "bottom-right": (-8, -8), "top-left": (8, 8), "bottom-left": (8, -8)}
MARKER_SIZE = 6  # px: a series of one point (a task's first epoch) is a dot, not nothing


class SeriesPlot(pg.PlotWidget):
    def __init__(self, x_label: str, y_label: str, colours: ColourMap | None = None, *,
                 legend: str | None = "top-right", legend_limit: int = 12, fill: bool = False,
                 accuracy: bool = False, markers: bool = False, placeholder: str = "", steps: bool = False,
                 parent=None) -> None:
        """accuracy: the y values are accuracies (the view stays within [0, 1]); markers: a dot at every point."""
        super().__init__(parent=parent)
        self.colours = colours or ColourMap()
        self._fill = fill
        self._markers = markers
        # Step curves are all horizontal and vertical lines, which antialiasing does not smooth: drawn without
        # it, 50 tenants' curves paint in a fraction of the time.
        self._antialias = not steps
        self._legend_limit = legend_limit
        self._curves: dict[str, pg.PlotDataItem | pg.PlotCurveItem] = {}
        self._bands: dict[str, tuple[pg.PlotCurveItem, pg.PlotCurveItem, pg.FillBetweenItem]] = {}
        # Step curves (unfilled) end in a level tail, held until "now": those tails are drawn by one item, so a
        # refresh where only the time moved on sets that item alone, not every curve (50 tenants' curves, each
        # set again at every read of the store, were most of a refresh's time on the GUI thread). Such curves
        # (best so far: a step per improvement) stay short, so they are bare PlotCurveItems, without
        # PlotDataItem's thinning and symbols: a third of the cost to create, one item in the scene, not two.
        self._tails = HeldTails() if steps and not fill else None
        self._pending: tuple[Series, Bands] | None = None
        self._highlight: str | None = None
        self.redraws = 0  # how many times data reached the items (throttling is visible in tests)

        item = self.getPlotItem()
        style_axes(item, x_label, y_label)
        if accuracy:
            keep_within_unit(item.getViewBox(), "y")
        self._legend: pg.LegendItem | None = None
        self._legend_names: tuple[str, ...] = ()  # the curves the legend names, in its order
        if legend is not None:
            back = QtGui.QColor(scheme().card)
            back.setAlpha(220)  # the curves show through, faintly
            # Not the plot's own legend (addLegend), which names every curve as it is added: this one is filled
            # once per change of the names, and not at all past the limit (50 curves added one by one to a
            # hidden legend re-laid it out 50 times, 60 ms on the GUI thread).
            self._legend = pg.LegendItem(offset=LEGEND_CORNERS[legend], labelTextColor=scheme().text,
                                         brush=pg.mkBrush(back), pen=pg.mkPen(scheme().control))
            self._legend.setParentItem(item.getViewBox())
            self._legend.layout.setSpacing(0)
            self._legend.setVisible(False)  # until there is something to name
        if self._tails is not None:
            item.addItem(self._tails)
        self._placeholder = Placeholder(self, placeholder)

        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PLOT_THROTTLE_MS)
        self._timer.timeout.connect(self.flush)

        self.labels = (x_label, y_label)
        self._shown: Series = {}  # the series as given, tails and all: what "Save data as CSV" writes
        offer_saving(self, y_label, self.save_png, self.save_csv)

    # ---- data -----------------------------------------------------------------------------------------------
    def set_series(self, series: Series, bands: Bands | None = None) -> None:
        """Show exactly these series (by name); applied at the next redraw tick, at most 20 per second."""
        self._pending = (dict(series), dict(bands or {}))
        if not self._timer.isActive():
            self._timer.start()

    @property
    def pending(self) -> bool:
        return self._pending is not None

    def flush(self) -> None:
        """Apply pending data now (the redraw timer calls it; so may a screenshot)."""
        self._timer.stop()
        if self._pending is None:
            return
        series, bands = self._pending
        self._pending = None
        self._shown = series
        item = self.getPlotItem()
        for name in [n for n in self._curves if n not in series]:
            item.removeItem(self._curves.pop(name))
        for name in [n for n in self._bands if n not in bands]:
            for part in self._bands.pop(name):
                item.removeItem(part)
        for name, (low_x, low, high) in ((n, (b[0], b[1], b[2])) for n, b in bands.items()):
            if name not in self._bands:
                colour = QtGui.QColor(self.colours.colour(name))
                lo, hi = pg.PlotCurveItem(pen=None), pg.PlotCurveItem(pen=None)
                colour.setAlpha(38)
                fill = pg.FillBetweenItem(lo, hi, brush=pg.mkBrush(colour))
                fill.setZValue(-10)
                for part in (lo, hi, fill):
                    item.addItem(part)
                self._bands[name] = (lo, hi, fill)
            lo, hi, _ = self._bands[name]
            lo.setData(low_x, low)
            hi.setData(low_x, high)
        tails: dict[str, Tail] = {}
        for name, (x, y) in series.items():
            x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
            if self._tails is not None and x.size >= 2 and y[-1] == y[-2]:
                tails[name] = (x[-2], x[-1], y[-1])
                x, y = x[:-1], y[:-1]
            curve = self._curves.get(name)
            if curve is not None and _same((curve.xData, curve.yData), (x, y)):
                continue  # a curve given its data again is not redrawn: the scene re-measures only what changed
            if curve is None:
                curve = self._curves[name] = self._new_curve(name)
                item.addItem(curve)
            curve.setData(x, y)
            if isinstance(curve, pg.PlotDataItem):  # a bare step curve stays short: nothing to thin
                # A long series draws at most about one min/max pair per pixel column of the visible range: the
                # same picture, and a 10,000-point curve redraws 3x faster with the theme's antialiased 2 px pens.
                # Short ones are left whole: thinning re-processes a curve at every change of the view, and a
                # lab's 50 step curves, whose time axis grows at each refresh, spent 45 ms on it each time.
                thinned = len(x) >= LONG_SERIES
                curve.setDownsampling(auto=thinned, method="peak")
                curve.setClipToView(thinned)
        if self._tails is not None:
            self._tails.set_tails(tails)
        if self._legend is not None:
            self._name_curves()
        self._placeholder.show_if(not self._curves)
        self.redraws += 1

    def _new_curve(self, name: str) -> pg.PlotDataItem | pg.PlotCurveItem:
        if self._tails is not None:
            self._tails.set_pen(name, self._pen(name), on_top=name == self._highlight)
            return pg.PlotCurveItem(name=name, pen=self._pen(name), antialias=self._antialias)
        curve = pg.PlotDataItem(name=name, pen=self._pen(name), autoDownsampleFactor=DOWNSAMPLE_FACTOR,
                                antialias=self._antialias)
        if self._markers:
            curve.setSymbol("o")
            curve.setSymbolSize(MARKER_SIZE)
            curve.setSymbolPen(None)
            curve.setSymbolBrush(self._pen(name).color())
        if self._fill:
            under = QtGui.QColor(self.colours.colour(name))
            under.setAlpha(40)
            curve.setFillLevel(0.0)
            curve.setBrush(pg.mkBrush(under))
        return curve

    def _name_curves(self) -> None:
        named = tuple(self._curves) if len(self._curves) <= self._legend_limit else ()
        if named != self._legend_names:
            self._legend.clear()
            self._legend.setColumnCount(1 if len(named) <= 4 else 2)
            for name in named:
                self._legend.addItem(self._curves[name], name)
            self._legend_names = named
        self._legend.setVisible(bool(named))

    # ---- looks ----------------------------------------------------------------------------------------------
    def _pen(self, name: str) -> QtGui.QPen:
        colour = QtGui.QColor(self.colours.colour(name))
        if self._highlight is None or self._highlight == name:
            return pg.mkPen(colour, width=3.0 if self._highlight == name else 2.0)
        return pg.mkPen(faded(colour), width=2.0)

    def highlight(self, name: str | None) -> None:
        """Draw one series bold and fade the others (None: all alike)."""
        self._highlight = name
        for curve_name, curve in self._curves.items():
            curve.setPen(self._pen(curve_name))
            if self._markers:
                curve.setSymbolBrush(self._pen(curve_name).color())
            curve.setZValue(10 if curve_name == name else 0)
            if self._tails is not None:
                self._tails.set_pen(curve_name, self._pen(curve_name), on_top=curve_name == name)

    def set_placeholder(self, text: str) -> None:
        self._placeholder.set_text(text)
        self._placeholder.show_if(not self._curves)

    # ---- saving ---------------------------------------------------------------------------------------------
    def save_png(self, path: Path) -> bool:
        self.flush()
        return write_png(self, path)

    def save_csv(self, path: Path) -> None:
        self.flush()
        write_csv(self._shown, path, *self.labels)

    # ---- for tests and callers ------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return list(self._curves)

    def curve(self, name: str) -> pg.PlotDataItem | pg.PlotCurveItem:
        return self._curves[name]


def _same(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> bool:
    return all(np.array_equal(p, q) for p, q in zip(a, b))
