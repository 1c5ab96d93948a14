"""Which tenant's task ran on which device when: one row per device, one bar per task, coloured by tenant
(running tasks reach to now). Redrawn from each snapshot (a few hundred bars at most: one item, setOpts)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np
from PySide6 import QtGui

import pyqtgraph as pg

from .lab_snapshot import TaskSpan
from .plot_export import number, write_png, write_rows
from .plot_style import Placeholder, offer_saving, style_axes
from .theme import ColourMap, scheme

BAR_HEIGHT = 0.7


class DeviceTimeline(pg.PlotWidget):
    def __init__(self, colours: ColourMap, parent=None) -> None:
        super().__init__(parent=parent)
        self.colours = colours
        item = self.getPlotItem()
        style_axes(item, "time (s)", "device")
        item.getViewBox().invertY(True)  # the first device on top, as a list reads
        item.getViewBox().setMouseEnabled(y=False)
        # One bar item per colour (tenant and state): pyqtgraph paints a single-brush item as one batch of
        # rectangles, where per-bar brushes cost a paint call each (4,000 tasks: set_spans + repaint 102 -> 39 ms).
        self._bars: dict[tuple[str, str], pg.BarGraphItem] = {}
        self._drawn: dict[tuple[str, str], list[tuple[str, str, str, float, float, str]]] = {}  # what each holds
        self._placeholder = Placeholder(self, "No task has started yet")
        self.devices: list[str] = []
        self.rows: list[tuple[str, str, str, float, float, str]] = []  # device, tenant, task, start, end, state
        offer_saving(self, "device timeline", self.save_png, self.save_csv)

    def set_spans(self, spans: Sequence[TaskSpan], t0: float, now: float | None = None) -> None:
        """Bars in seconds since `t0` (the lab's time axis, as the other plots); running ones end at `now`."""
        now = time.time() if now is None else now  # the store's clock is wall time
        devices = sorted({span.device for span in spans})
        if devices != self.devices:
            self._drawn.clear()  # every bar's row may move
        self.devices = devices
        row_of = {device: index for index, device in enumerate(self.devices)}
        self.rows = [(s.device, s.tenant, s.task_id, s.started - t0, (now if s.ended is None else s.ended) - t0,
                      s.state) for s in spans]
        groups: dict[tuple[str, str], list[tuple[str, str, str, float, float, str]]] = {}
        for row in self.rows:
            groups.setdefault((row[1], row[5]), []).append(row)
        for key in set(self._bars) - set(groups):
            self.getPlotItem().removeItem(self._bars.pop(key))
            self._drawn.pop(key, None)
        gap = pg.mkPen(scheme().card, width=1)  # a thin gap between a device's tasks
        for key, rows in groups.items():
            if self._drawn.get(key) == rows:
                continue  # ended tasks stay as they are: only the groups with a new or running task are redrawn
            self._drawn[key] = rows
            bars = self._bars.get(key)
            if bars is None:
                bars = self._bars[key] = pg.BarGraphItem(x0=[], y0=[], width=[], height=[])
                self.getPlotItem().addItem(bars)
            starts = np.array([r[3] for r in rows], dtype=float)
            ends = np.array([r[4] for r in rows], dtype=float)
            bars.setOpts(x0=starts, width=np.maximum(ends - starts, 0.0),
                         y0=np.array([row_of[r[0]] - BAR_HEIGHT / 2 for r in rows], dtype=float),
                         height=BAR_HEIGHT, brush=self._brush(*key), pen=gap)
        self.getPlotItem().getAxis("left").setTicks([list(enumerate(self.devices))])
        self.getPlotItem().getViewBox().setYRange(-0.6, max(len(self.devices), 1) - 0.4, padding=0)
        self._placeholder.show_if(not self.rows)

    def _brush(self, tenant: str, state: str) -> QtGui.QBrush:
        colour = QtGui.QColor(self.colours.colour(tenant))
        if state == "failed" or state == "cancelled":
            colour.setAlpha(90)  # work that led nowhere stays visible, faded
        return pg.mkBrush(colour)

    def save_png(self, path: Path) -> bool:
        return write_png(self, path)

    def save_csv(self, path: Path) -> None:
        write_rows(path, ["device", "tenant", "task", "start (s)", "end (s)", "state"],
                   ((d, tenant, task, number(a), number(b), state) for d, tenant, task, a, b, state in self.rows))
