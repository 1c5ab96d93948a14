"""How the plots draw what they hold (real widgets offscreen): a highlighted tenant leaves the others faded but
visible, a series of one point is a dot, accuracy axes stay within [0, 1], the models' error bars too."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtGui

import pyqtgraph as pg
from window_fixtures import open_window  # noqa: F401  (a fixture)

from easeml_gui.engine.types import Arm, Observation, Task, TaskResult, TaskState
from easeml_gui.lab import tenants
from easeml_gui.lab.stores import open_writer
from easeml_gui.store import EpochReport
from easeml_gui.views.belief_plot import BeliefPlot
from easeml_gui.views.model_beliefs import ModelBelief
from easeml_gui.views.plot_style import FADED_ALPHA, UNIT_PADDING
from easeml_gui.views.series_plot import SeriesPlot
from easeml_gui.views.step_series import step_xy

UNIT_VIEW = (-UNIT_PADDING, 1.0 + UNIT_PADDING)


def shown(plot: pg.PlotWidget, width: int = 400, height: int = 300) -> pg.PlotWidget:
    plot.resize(width, height)
    plot.show()
    return plot


def pixel_near(plot: pg.PlotWidget, x: float, y: float) -> list[QtGui.QColor]:
    """The colours on screen at the data point (x, y) and the pixels just above and below it."""
    image = plot.grab().toImage()
    point = plot.mapFromScene(plot.getPlotItem().getViewBox().mapViewToScene(pg.Point(x, y)))
    return [QtGui.QColor(image.pixel(point.x(), point.y() + dy)) for dy in (-1, 0, 1)]


def distance(a: QtGui.QColor, b: QtGui.QColor) -> int:
    return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue())


def within(inner: tuple[float, float], outer: tuple[float, float]) -> bool:
    return outer[0] - 1e-9 <= inner[0] <= inner[1] <= outer[1] + 1e-9


@pytest.mark.parametrize("steps", [True, False])
def test_a_highlighted_tenant_fades_the_others_but_leaves_them_on_screen(qtbot, steps):
    plot = shown(SeriesPlot("time (s)", "best accuracy", steps=steps, legend=None, accuracy=True))
    qtbot.addWidget(plot)
    plot.set_series({"alice": step_xy([0.0, 5.0], [0.5, 0.8], end=10.0), "bob": step_xy([0.0], [0.3], end=10.0)})
    plot.flush()
    background = pixel_near(plot, 2.0, 0.65)[1]  # between the curves
    plot.highlight("alice")
    pens = {name: plot.curve(name).opts["pen"] for name in ("alice", "bob")}
    assert pens["alice"].color().alphaF() == 1.0 and pens["bob"].color().alphaF() == pytest.approx(FADED_ALPHA, abs=0.01)
    if steps:  # the held tails (each curve's level until now) fade alike
        assert plot._tails._pens["bob"].color().alphaF() == pytest.approx(FADED_ALPHA, abs=0.01)
    assert max(distance(c, background) for c in pixel_near(plot, 2.0, 0.3)) > 60  # bob still shows
    plot.highlight(None)
    assert plot.curve("bob").opts["pen"].color().alphaF() == 1.0


def test_a_series_of_one_point_is_a_dot_and_its_axis_stays_within_zero_and_one(qtbot):
    plot = shown(SeriesPlot("epoch", "validation accuracy", accuracy=True, markers=True))
    qtbot.addWidget(plot)
    plot.set_series({"bob/mlp (t2)": (np.array([1.0]), np.array([0.9]))})
    plot.flush()
    curve = plot.curve("bob/mlp (t2)")
    assert curve.opts["symbol"] == "o" and curve.opts["symbolSize"] > 0
    view = plot.getPlotItem().getViewBox()
    qtbot.waitUntil(lambda: within(tuple(view.viewRange()[1]), UNIT_VIEW))  # not 0.4 .. 1.4
    low, high = view.viewRange()[1]
    assert low < 0.9 < high
    colour = QtGui.QColor(plot.colours.colour("bob/mlp (t2)"))
    assert min(distance(c, colour) for c in pixel_near(plot, 1.0, 0.9)) < 40  # the dot is drawn


def test_the_models_error_bars_end_at_zero_and_one(qtbot):
    plot = shown(BeliefPlot())
    qtbot.addWidget(plot)
    plot.set_beliefs("alice", [ModelBelief("svc", 0.95, 0.2, 0.97, False), ModelBelief("mlp", 0.1, 0.3, None, True),
                               ModelBelief("cnn", 0.5, 0.1, None, False)])
    bars = plot._bars.opts
    np.testing.assert_allclose(bars["x"] - bars["left"], [0.75, 0.0, 0.4])
    np.testing.assert_allclose(bars["x"] + bars["right"], [1.0, 0.4, 0.6])
    view = plot.getPlotItem().getViewBox()
    view.autoRange()
    assert within(tuple(view.viewRange()[0]), UNIT_VIEW)


@pytest.fixture
def one_epoch_lab(tmp_path: Path) -> Path:
    """alice: one result (0.9), the lab's first; bob: a task running that has finished one epoch (0.85)."""
    path = tmp_path / "lab.sqlite"
    now = time.time()
    with open_writer(path) as store:
        tenants.add(store, "alice")
        tenants.add(store, "bob")
        svc = Task("t1", "alice", Arm("svc", 0), "cpu:0")
        store.task_state(svc, TaskState.RUNNING)
        store.record_result(TaskResult("t1", "alice", Arm("svc", 0), "cpu:0", TaskState.DONE, 0.9, 3.0),
                            Observation("alice", Arm("svc", 0), 0.9, 3.0, now - 50))
        store.task_state(Task("t2", "bob", Arm("mlp", 1), "cpu:1"), TaskState.RUNNING)
        store.task_epoch("t2", EpochReport(1, 4, 0.85), "epoch 1/4  val 0.8500  1,000 img/s")
    return path


def test_the_lab_tabs_first_points_show_on_accuracy_axes(open_window, qtbot, one_epoch_lab):
    lab = open_window(one_epoch_lab).lab
    qtbot.waitUntil(lambda: lab.loaded and lab.accuracy_plot.names() == ["alice"])
    accuracy = lab.accuracy_plot.getPlotItem().getViewBox()
    qtbot.waitUntil(lambda: within(tuple(accuracy.viewRange()[1]), UNIT_VIEW))
    assert accuracy.viewRange()[1][0] < 0.9 < accuracy.viewRange()[1][1]
    lab.views.setCurrentIndex([lab.views.tabText(i) for i in range(lab.views.count())].index("Epochs"))
    qtbot.waitUntil(lambda: lab.epochs_plot.names() == ["bob/mlp (t2)"])
    curve = lab.epochs_plot.curve("bob/mlp (t2)")
    assert (list(curve.getData()[1]), curve.opts["symbol"]) == ([0.85], "o")  # one epoch: one dot
    epochs = lab.epochs_plot.getPlotItem().getViewBox()
    qtbot.waitUntil(lambda: within(tuple(epochs.viewRange()[1]), UNIT_VIEW))
