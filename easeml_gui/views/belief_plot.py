"""A selected tenant's models as the engine last believed them: posterior mean ± sigma per model (a dot and a
bar), the accuracy observed for the models already trained (a diamond), the next pick ringed. One row per model,
names on the left, so twenty models still read at 1366x768."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

import pyqtgraph as pg

from .model_beliefs import ModelBelief
from .plot_export import number, write_png, write_rows
from .plot_style import Placeholder, keep_within_unit, offer_saving, style_axes
from .theme import ACCENT, scheme

NEXT = "#DD8452"
NO_TENANT = "Select a tenant to see its models"
KEY = ("● ± bar: posterior mean ± sigma when a decision last weighed the model · ◆ observed · "
       "orange ring: next pick")


class BeliefPlot(pg.PlotWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent=parent)
        item = self.getPlotItem()
        style_axes(item, "validation accuracy", "model")
        view = item.getViewBox()
        view.invertY(True)  # the first model on top
        view.setMouseEnabled(y=False)
        keep_within_unit(view, "x")
        self._bars = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), pen=pg.mkPen(ACCENT, width=2), beam=0.25)
        item.addItem(self._bars)
        # No legend box over the data: the section's note is the key (KEY).
        self._means = pg.ScatterPlotItem(size=8, brush=pg.mkBrush(ACCENT), pen=None)
        self._observed = pg.ScatterPlotItem(symbol="d", size=11, brush=pg.mkBrush(scheme().text), pen=None)
        self._next = pg.ScatterPlotItem(size=18, brush=None, pen=pg.mkPen(NEXT, width=2.5))
        for part in (self._means, self._observed, self._next):
            item.addItem(part)
        self._placeholder = Placeholder(self, NO_TENANT)
        self.tenant = ""
        self.beliefs: tuple[ModelBelief, ...] = ()
        offer_saving(self, "model beliefs", self.save_png, self.save_csv)

    def set_beliefs(self, tenant: str, beliefs: Sequence[ModelBelief]) -> None:
        self.tenant, self.beliefs = tenant, tuple(beliefs)
        weighed = [(i, b) for i, b in enumerate(self.beliefs) if b.mean is not None]
        observed = [(i, b) for i, b in enumerate(self.beliefs) if b.observed is not None]
        picked = [(i, b) for i, b in enumerate(self.beliefs) if b.next_pick]
        rows = np.array([i for i, _ in weighed], dtype=float)
        means = np.array([b.mean for _, b in weighed], dtype=float)
        sigmas = np.array([b.sigma for _, b in weighed], dtype=float)
        self._bars.setData(x=means, y=rows, **within_unit(means, sigmas))
        self._means.setData(x=means, y=rows)
        self._observed.setData(x=[b.observed for _, b in observed], y=[i for i, _ in observed])
        self._next.setData(x=[b.mean if b.mean is not None else b.observed for _, b in picked],
                           y=[i for i, _ in picked])
        self.getPlotItem().getAxis("left").setTicks([list(enumerate(b.model for b in self.beliefs))])
        self.getPlotItem().getViewBox().setYRange(-0.6, max(len(self.beliefs), 1) - 0.4, padding=0)
        self.getPlotItem().setTitle(tenant or None, color=scheme().text, size="10pt")
        self._placeholder.set_text(NO_TENANT if not tenant else
                                   f"No decision has weighed {tenant}'s models yet")
        self._placeholder.show_if(not self.beliefs)

    def save_png(self, path: Path) -> bool:
        return write_png(self, path)

    def save_csv(self, path: Path) -> None:
        write_rows(path, ["tenant", "model", "mean", "sigma", "observed", "next pick"],
                   ((self.tenant, b.model, number(b.mean), number(b.sigma), number(b.observed), int(b.next_pick))
                    for b in self.beliefs))


def within_unit(means: np.ndarray, sigmas: np.ndarray) -> dict[str, np.ndarray]:
    """The error bars' reach left and right of each mean: ± sigma, cut at 0 and 1 (no accuracy lies beyond)."""
    low, high = np.clip(means - sigmas, 0.0, 1.0), np.clip(means + sigmas, 0.0, 1.0)
    return {"left": np.maximum(means - low, 0.0), "right": np.maximum(high - means, 0.0)}
