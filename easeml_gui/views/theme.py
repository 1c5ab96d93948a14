"""Colours, fonts and pyqtgraph defaults shared by every view: one look, one colour per tenant or policy."""

from __future__ import annotations

from importlib import resources

from PySide6 import QtCore, QtGui, QtWidgets  # PySide6 before pyqtgraph: it picks the binding already loaded

import pyqtgraph as pg

# Seaborn's "deep" palette: distinct, calm, readable on white; beyond it, evenly spaced hues.
PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974",
           "#64B5CD")
TEXT = "#2b2f36"
MUTED = "#6b7280"
GRID_ALPHA = 0.15
ACCENT = "#4C72B0"
STATE_COLOURS = {"queued": "#8C8C8C", "running": "#4C72B0", "done": "#55A868", "failed": "#C44E52"}
PLOT_THROTTLE_MS = 50  # plots redraw at most 20 times a second


class ColourMap:
    """A stable colour per name: the first name seen gets the first colour, and keeps it for the session."""

    def __init__(self) -> None:
        self._index: dict[str, int] = {}

    def colour(self, name: str) -> QtGui.QColor:
        index = self._index.setdefault(name, len(self._index))
        if index < len(PALETTE):
            return QtGui.QColor(PALETTE[index])
        return pg.intColor(index - len(PALETTE), hues=13, values=2, minValue=170, maxValue=220)


def configure_pyqtgraph() -> None:
    pg.setConfigOptions(antialias=True, background="w", foreground=TEXT)


def resource_path(name: str) -> str:
    return str(resources.files("easeml_gui") / "resources" / name)


def apply_style(app: QtWidgets.QApplication) -> None:
    """Fusion with a light palette, a readable base font and the app's style sheet and icon."""
    app.setStyle("Fusion")
    palette = app.style().standardPalette()
    palette.setColor(QtGui.QPalette.ColorRole.Window, QtGui.QColor("#f6f7f9"))
    palette.setColor(QtGui.QPalette.ColorRole.Base, QtGui.QColor("#ffffff"))
    palette.setColor(QtGui.QPalette.ColorRole.AlternateBase, QtGui.QColor("#f3f5f8"))
    palette.setColor(QtGui.QPalette.ColorRole.Highlight, QtGui.QColor("#dbe6f6"))
    palette.setColor(QtGui.QPalette.ColorRole.HighlightedText, QtGui.QColor(TEXT))
    palette.setColor(QtGui.QPalette.ColorRole.WindowText, QtGui.QColor(TEXT))
    palette.setColor(QtGui.QPalette.ColorRole.Text, QtGui.QColor(TEXT))
    app.setPalette(palette)
    font = app.font()
    font.setPointSizeF(max(font.pointSizeF(), 10.0))
    app.setFont(font)
    try:
        with open(resource_path("style.qss"), encoding="utf-8") as handle:
            app.setStyleSheet(handle.read())
    except OSError:
        pass  # a missing style sheet only costs looks
    app.setWindowIcon(QtGui.QIcon(resource_path("easeml-gui.svg")))
    configure_pyqtgraph()


def heading(text: str) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel(text)
    label.setObjectName("heading")
    return label


def hint(text: str) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel(text)
    label.setObjectName("hint")
    label.setWordWrap(True)
    label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def swatch(colour: QtGui.QColor, size: int = 10) -> QtGui.QIcon:
    pixmap = QtGui.QPixmap(size, size)
    pixmap.fill(QtCore.Qt.GlobalColor.transparent)
    painter = QtGui.QPainter(pixmap)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    painter.setBrush(colour)
    painter.setPen(QtCore.Qt.PenStyle.NoPen)
    painter.drawRoundedRect(0, 0, size, size, 2, 2)
    painter.end()
    return QtGui.QIcon(pixmap)
