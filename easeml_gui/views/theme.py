"""Colours, fonts and pyqtgraph defaults shared by every view: one look, one colour per tenant or policy.

The look follows the desktop: a dark colour scheme gets the dark colours (Qt's style hints say which;
EASEML_GUI_THEME=dark|light overrides). Views read scheme() when they build or draw, never a colour of their own,
and style.qss is a template of the same names."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from string import Template

from PySide6 import QtCore, QtGui, QtWidgets  # PySide6 before pyqtgraph: it picks the binding already loaded

import pyqtgraph as pg

# Seaborn's "deep" palette: distinct, calm, readable on white; beyond it, evenly spaced hues.
PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974",
           "#64B5CD")
GRID_ALPHA = 0.15
ACCENT = "#4C72B0"
THEME_ENV = "EASEML_GUI_THEME"


@dataclass(frozen=True)
class Colours:
    window: str  # behind the cards
    card: str  # cards, tables, inputs, plots
    alternate: str  # every other table row
    border: str  # card and header lines
    control: str  # the border of inputs and buttons
    hover: str
    text: str
    soft: str  # secondary text that must stay readable (reasons, messages)
    muted: str  # hints, axes, placeholders
    disabled: str
    highlight: str  # a selected row
    marked: str  # a row the admin should look at (the decision just made)
    code: str  # the background of inline commands
    axis: str  # plot axis lines
    primary_off: str  # a disabled main button
    progress: str
    drop: str  # the dashed edge of the drop zone
    problem_text: str
    problem_back: str
    problem_border: str


LIGHT = Colours(window="#f6f7f9", card="#ffffff", alternate="#f3f5f8", border="#e3e6eb", control="#d5d9e0",
                hover="#f0f3f7", text="#2b2f36", soft="#3b4250", muted="#6b7280", disabled="#a0a6b0",
                highlight="#dbe6f6", marked="#e8f0fb", code="#eef1f5", axis="#c9ced6", primary_off="#a9bcdc",
                progress="#9db5dc", drop="#b8c3d4", problem_text="#9b2c2f", problem_back="#fcf1f1",
                problem_border="#f0d0d1")
DARK = Colours(window="#1c1e22", card="#25282d", alternate="#2a2d33", border="#363a41", control="#454a52",
               hover="#30343a", text="#e4e6ea", soft="#c9cdd4", muted="#9aa1ad", disabled="#666c76",
               highlight="#2f4366", marked="#283955", code="#32363d", axis="#4a4f58", primary_off="#3a4f73",
               progress="#4f6fa3", drop="#555c68", problem_text="#f2a7a9", problem_back="#3a2426",
               problem_border="#5a3336")
_chosen = [LIGHT]


def scheme() -> Colours:
    """The colour scheme apply_style chose (light until then)."""
    return _chosen[0]


def desktop_colours(app: QtGui.QGuiApplication) -> Colours:
    """Dark when EASEML_GUI_THEME says so, else when the desktop's colour scheme is dark."""
    wanted = os.environ.get(THEME_ENV, "").strip().lower()
    if wanted in ("dark", "light"):
        return DARK if wanted == "dark" else LIGHT
    return DARK if app.styleHints().colorScheme() == QtCore.Qt.ColorScheme.Dark else LIGHT
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
    pg.setConfigOptions(antialias=True, background=scheme().card, foreground=scheme().text)


def resource_path(name: str) -> str:
    return str(resources.files("easeml_gui.resources") / name)


def apply_style(app: QtWidgets.QApplication) -> None:
    """Fusion with the desktop's light or dark colours, a readable base font, the app's style sheet and icon."""
    theme = _chosen[0] = desktop_colours(app)
    app.setStyle("Fusion")
    palette = app.style().standardPalette()
    roles = QtGui.QPalette.ColorRole
    for role, colour in ((roles.Window, theme.window), (roles.Base, theme.card), (roles.AlternateBase, theme.alternate),
                         (roles.Button, theme.card), (roles.Highlight, theme.highlight),
                         (roles.HighlightedText, theme.text), (roles.WindowText, theme.text), (roles.Text, theme.text),
                         (roles.ButtonText, theme.text), (roles.ToolTipBase, theme.card),
                         (roles.ToolTipText, theme.text), (roles.PlaceholderText, theme.muted)):
        palette.setColor(role, QtGui.QColor(colour))
    palette.setColor(QtGui.QPalette.ColorGroup.Disabled, roles.Text, QtGui.QColor(theme.disabled))
    palette.setColor(QtGui.QPalette.ColorGroup.Disabled, roles.ButtonText, QtGui.QColor(theme.disabled))
    app.setPalette(palette)
    font = app.font()
    font.setPointSizeF(max(font.pointSizeF(), 10.0))
    app.setFont(font)
    try:
        with open(resource_path("style.qss"), encoding="utf-8") as handle:
            app.setStyleSheet(Template(handle.read()).substitute(asdict(theme)))
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
    return _swatch(colour.rgba(), size)


@lru_cache(maxsize=512)
def _swatch(rgba: int, size: int) -> QtGui.QIcon:
    """Painted once per colour and size: tables and pickers ask for the same few at every refresh."""
    pixmap = QtGui.QPixmap(size, size)
    pixmap.fill(QtCore.Qt.GlobalColor.transparent)
    painter = QtGui.QPainter(pixmap)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    painter.setBrush(QtGui.QColor.fromRgba(rgba))
    painter.setPen(QtCore.Qt.PenStyle.NoPen)
    painter.drawRoundedRect(0, 0, size, size, 2, 2)
    painter.end()
    return QtGui.QIcon(pixmap)
