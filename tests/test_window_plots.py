"""Every plot saves itself as a PNG and its data as CSV, from its right-click menu."""

from __future__ import annotations

import csv

import numpy as np
from PySide6 import QtGui
from window_fixtures import open_window  # noqa: F401  (a fixture)

from easeml_gui.views.series_plot import SeriesPlot


def test_a_plot_saves_a_png_and_its_data_as_csv(qtbot, tmp_path):
    plot = SeriesPlot("time (s)", "best accuracy")
    qtbot.addWidget(plot)
    plot.resize(400, 300)
    plot.set_series({"alice": (np.array([0.0, 10.0]), np.array([0.5, 0.75])), "bob": (np.array([5.0]), np.array([0.25]))})
    menu = [action.text() for action in plot.getPlotItem().getViewBox().menu.actions()]
    assert "Save as PNG…" in menu and "Save data as CSV…" in menu
    assert plot.save_png(tmp_path / "plot.png")
    assert QtGui.QImage(str(tmp_path / "plot.png")).width() == 400
    plot.save_csv(tmp_path / "plot.csv")
    with open(tmp_path / "plot.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["series", "time (s)", "best accuracy"], ["alice", "0", "0.5"], ["alice", "10", "0.75"],
                    ["bob", "5", "0.25"]]


def test_the_lab_views_plots_all_offer_it(open_window, qtbot, tmp_path):
    window = open_window(tmp_path / "none.sqlite")
    for plot in (window.lab.accuracy_plot, window.lab.regret_plot, window.simulate.plot):
        assert "Save data as CSV…" in [a.text() for a in plot.getPlotItem().getViewBox().menu.actions()]
