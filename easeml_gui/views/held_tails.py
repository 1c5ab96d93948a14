"""The held tails of many step curves in one plot item: each curve's last value, level from its last change until
now. A live lab's curves all end at "now", so every refresh changed every curve; with the tails drawn here the
curves themselves change only when a result arrives, and this one item is the only thing set at each refresh."""

from __future__ import annotations

from typing import Mapping

from PySide6 import QtCore, QtGui

import pyqtgraph as pg

Tail = tuple[float, float, float]  # x from, x to, y


class HeldTails(pg.GraphicsObject):
    def __init__(self) -> None:
        super().__init__()
        self._tails: dict[str, Tail] = {}
        self._pens: dict[str, QtGui.QPen] = {}
        self._on_top: str | None = None  # drawn last (the highlighted curve)
        self._data_rect = QtCore.QRectF()
        self._bounds: QtCore.QRectF | None = None

    def set_tails(self, tails: Mapping[str, Tail]) -> None:
        if tails == self._tails:
            return
        self.prepareGeometryChange()
        self._tails = dict(tails)
        xs = [x for x0, x1, _ in self._tails.values() for x in (x0, x1)]
        ys = [y for _, _, y in self._tails.values()]
        self._data_rect = (QtCore.QRectF(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)) if xs
                           else QtCore.QRectF())
        self._bounds = None
        self.update()

    def set_pen(self, name: str, pen: QtGui.QPen, on_top: bool = False) -> None:
        self._pens[name] = pen
        if on_top:
            self._on_top = name
        elif self._on_top == name:
            self._on_top = None
        self.update()

    def tails(self) -> dict[str, Tail]:
        return dict(self._tails)

    # ---- QGraphicsItem and pyqtgraph's auto-range ---------------------------------------------------------------
    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange=None) -> tuple[float, float] | None:
        if not self._tails:
            return None
        r = self._data_rect
        return (r.left(), r.right()) if ax == 0 else (r.top(), r.bottom())

    def viewTransformChanged(self) -> None:
        self._bounds = None  # the pens' pixel width, in data units, changed
        self.prepareGeometryChange()

    def boundingRect(self) -> QtCore.QRectF:
        if self._bounds is None:
            width = max((pen.widthF() for pen in self._pens.values()), default=1.0) + 1.0
            px, py = (v.length() if v is not None else 0.0 for v in self.pixelVectors())
            self._bounds = self._data_rect.adjusted(-px * width, -py * width, px * width, py * width)
        return self._bounds

    def paint(self, painter: QtGui.QPainter, *args) -> None:
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, False)  # level lines: nothing to smooth
        names = [n for n in self._tails if n != self._on_top] + ([self._on_top] if self._on_top in self._tails else [])
        for name in names:
            x0, x1, y = self._tails[name]
            painter.setPen(self._pens.get(name, QtGui.QPen()))
            painter.drawLine(QtCore.QLineF(x0, y, x1, y))
