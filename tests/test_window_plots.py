"""Every plot saves itself as a PNG and its data as CSV, from its right-click menu."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PySide6 import QtGui

import pyqtgraph as pg
from window_fixtures import open_window  # noqa: F401  (a fixture)

from easeml_gui.engine.matrix import synthetic
from easeml_gui.engine.simulate import SimulatedExecutor
from easeml_gui.engine.types import Arm, Observation
from easeml_gui.lab.read_model import TenantInfo
from easeml_gui.live_lab import LiveLab
from easeml_gui.store import LabStore
from easeml_gui.views.lab_snapshot import build_snapshot
from easeml_gui.views.lab_view import REGRET_SERIES
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


def test_the_legend_names_the_curves_up_to_its_limit_and_none_past_it(qtbot):
    plot = SeriesPlot("time (s)", "best accuracy", legend_limit=3)
    qtbot.addWidget(plot)

    def show(names: list[str]) -> list[str]:
        plot.set_series({name: (np.array([0.0, 1.0]), np.array([0.5, 0.6])) for name in names})
        plot.flush()
        return [label.text for _, label in plot._legend.items] if plot._legend.isVisible() else []

    assert show([]) == []
    assert show(["alice", "bob"]) == ["alice", "bob"]
    assert show(["alice", "bob", "carol", "dave"]) == [] and plot._legend.items == []  # too many to name
    assert show(["bob", "carol"]) == ["bob", "carol"]


def test_unchanged_curves_are_left_alone_and_only_long_ones_are_thinned(qtbot):
    plot = SeriesPlot("time (s)", "best accuracy")
    qtbot.addWidget(plot)
    short = (np.array([0.0, 10.0]), np.array([0.5, 0.75]))
    long = (np.arange(10_000.0), np.sin(np.arange(10_000.0)))
    plot.set_series({"short": short, "long": long})
    plot.flush()
    held = plot.curve("short").xData
    plot.set_series({"short": (short[0].copy(), short[1].copy()), "long": (long[0], long[1] * 2)})
    plot.flush()
    assert plot.curve("short").xData is held  # the same numbers: not set again, not re-measured by the scene
    assert plot.curve("long").yData.max() == pytest.approx(2.0, abs=1e-3)  # changed: set
    assert plot.curve("long").opts["clipToView"] and plot.curve("long").opts["autoDownsample"]
    assert not plot.curve("short").opts["clipToView"] and not plot.curve("short").opts["autoDownsample"]


def test_step_curves_are_not_set_again_when_only_the_time_moves_on(qtbot, tmp_path):
    """A live lab's best-accuracy curves all end at "now": their held tails are one item, the curves stay put."""
    from easeml_gui.views.step_series import step_xy

    plot = SeriesPlot("time (s)", "best accuracy", steps=True, legend=None)
    qtbot.addWidget(plot)
    plot.resize(400, 300)
    plot.set_series({"alice": step_xy([0.0, 5.0], [0.5, 0.8], end=10.0), "bob": step_xy([2.0], [0.3], end=10.0)})
    plot.flush()
    held = plot.curve("alice").xData
    assert list(held) == [0.0, 5.0, 5.0]  # up to its last change; the tail (5 -> 10 at 0.8) is drawn apart
    plot.set_series({"alice": step_xy([0.0, 5.0], [0.5, 0.8], end=20.0), "bob": step_xy([2.0, 15.0], [0.3, 0.6], end=20.0)})
    plot.flush()
    assert plot.curve("alice").xData is held  # only the time moved on: the curve was not set again
    assert list(plot.curve("bob").yData) == [0.3, 0.3, 0.6]  # a new result: set
    assert plot._tails.tails() == {"alice": (5.0, 20.0, 0.8), "bob": (15.0, 20.0, 0.6)}
    assert plot.getPlotItem().getViewBox().childrenBounds()[0][1] == pytest.approx(20.0)  # auto-range sees them
    plot.save_csv(tmp_path / "steps.csv")  # the data as given, tails and all
    with open(tmp_path / "steps.csv", newline="") as handle:
        assert ["alice", "20", "0.8"] in list(csv.reader(handle))

    image = plot.grab().toImage()  # the tail is on screen, in the tenant's colour: right of alice's last change
    colour = QtGui.QColor(plot.colours.colour("alice"))
    view = plot.getPlotItem().getViewBox()
    point = plot.mapFromScene(view.mapViewToScene(pg.Point(17.0, 0.8)))
    near = [QtGui.QColor(image.pixel(point.x(), point.y() + dy)) for dy in (-1, 0, 1)]
    assert any(abs(c.red() - colour.red()) + abs(c.green() - colour.green()) + abs(c.blue() - colour.blue()) < 40
               for c in near)


def test_full_garbage_collections_run_on_the_windows_timer(qtbot):
    """Off Python's own trigger while the window lives, on the timer between events, and handed back after."""
    import gc

    from easeml_gui.views.paced_collector import NEVER, PacedCollector

    before = gc.get_threshold()
    collector = PacedCollector(interval_ms=20)
    collector.start()
    try:
        assert gc.get_threshold()[2] == NEVER and gc.get_threshold()[:2] == before[:2]
        qtbot.waitUntil(lambda: collector.collections >= 2, timeout=2000)
    finally:
        collector.stop()
    assert gc.get_threshold() == before


def test_the_lab_views_plots_all_offer_it(open_window, qtbot, tmp_path):
    window = open_window(tmp_path / "none.sqlite")
    for plot in (window.lab.accuracy_plot, window.lab.regret_plot, window.simulate.plot):
        assert "Save data as CSV…" in [a.text() for a in plot.getPlotItem().getViewBox().menu.actions()]


def test_the_regret_curve_of_the_past_stays_as_it_was_believed(open_window, qtbot, tmp_path):
    """Each decision keeps the regret estimate of its moment: later results leave the curve before them alone."""
    quality, _ = synthetic(rows=3, arms=5, seed=2)
    arms = tuple(Arm(f"m{k}", k) for k in range(5))
    names = ("ana", "ben", "cleo")
    path = tmp_path / "lab.sqlite"
    with LabStore(path) as store:
        for i, name in enumerate(names):
            store.add_dataset(f"{name}-data", f"/data/{name}", f"{i:064d}", manifest={}, stats={})
            store.add_tenant(name)
            store.add_job(name, f"{name}-data", arms, epochs=1, image_size=32, seed=3)
        lab = LiveLab(store, SimulatedExecutor({n: quality.values[i] for i, n in enumerate(names)}, None, 2))
        window = open_window(path)

        def curve_after(tasks: int) -> np.ndarray:
            """The plotted steps, rows of (start, value), once the window shows the run's first `tasks` decisions."""
            lab.run(max_tasks=tasks)
            decisions = len(store.believed_regret())
            qtbot.waitUntil(lambda: window.lab.snapshot is not None
                            and len(window.lab.snapshot.regret[0]) >= 2 * decisions)
            window.lab.flush()
            x, y = window.lab.regret_plot.curve(REGRET_SERIES).getOriginalDataset()  # as set, before thinning
            return np.column_stack([x[::2], y[::2]])

        early = curve_after(6)
        believed = store.believed_regret()
        later = curve_after(12)
    t0 = window.lab.snapshot.t0
    n = len(believed)
    np.testing.assert_allclose(early[:n], [(time - t0, estimate) for time, estimate in believed])
    np.testing.assert_array_equal(later[:n], early[:n])
    assert len(later) > len(early)


def test_decisions_that_kept_no_estimate_draw_the_replay_of_the_observations():
    """Before the first kept estimate (a store from before v4), and at a decision without one, the curve replays
    the observations with today's bounds; after the last decision it steps to what status believes now."""
    status = {"tenants": [{"name": "ana", "weight": 1.0, "tasks_done": 2, "best_accuracy": 0.8, "best_model": "m1"}],
              "tasks": {"done": 2}, "global_regret_estimate": 0.1}
    observations = [Observation("ana", Arm("m0", 0), 0.5, 1.0, 1.0), Observation("ana", Arm("m1", 1), 0.8, 1.0, 4.0)]
    ana = TenantInfo("ana", 1.0, None, 0.0, False, 2, 0.8, "m1", None)
    snapshot = build_snapshot("test", (ana,), status, observations, (), upper_bounds={"ana": 0.9},
                              believed=[(0.0, None), (2.0, 0.3), (3.0, None)])
    x, y = snapshot.regret
    np.testing.assert_allclose(np.column_stack([x[::2], y[::2]]),
                               [(0.0, 0.9), (1.0, 0.4), (2.0, 0.3), (3.0, 0.4), (4.0, 0.1)])
