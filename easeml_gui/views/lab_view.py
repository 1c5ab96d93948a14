"""The Lab tab: tenants and the tasks running now on the left; on the right, in tabs, best accuracy and global
regret over time, the running tasks' validation accuracy per epoch, the device timeline, and the selected
tenant's models as the engine believes them; "Why?" below; or, when there is no lab, how to make one."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtWidgets

from .belief_plot import KEY as BELIEF_KEY
from .belief_plot import BeliefPlot
from .decision_panel import DecisionPanel
from .device_timeline import DeviceTimeline
from .empty_lab import EmptyLabPanel
from .lab_snapshot import LabSnapshot, RunningRow
from .running_tasks import RunningTasks
from .series_plot import SeriesPlot
from .tenant_actions import TenantActions
from .tenants_table import TenantsTable
from .theme import ColourMap, heading, hint

Qt = QtCore.Qt
REGRET_SERIES = "global regret estimate"


def _section(title: str, widget: QtWidgets.QWidget, note: str = "",
             tools: QtWidgets.QWidget | None = None) -> QtWidgets.QWidget:
    box = QtWidgets.QFrame()
    box.setObjectName("card")
    layout = QtWidgets.QVBoxLayout(box)
    layout.setContentsMargins(12, 10, 12, 10)
    layout.setSpacing(6)
    top = QtWidgets.QHBoxLayout()
    top.addWidget(heading(title))
    if note:
        top.addWidget(hint(note), 1)
    top.addStretch(0 if note else 1)
    if tools is not None:
        top.addWidget(tools)
    layout.addLayout(top)
    layout.addWidget(widget, 1)
    return box


def epoch_series(row: RunningRow) -> tuple[np.ndarray, np.ndarray]:
    epochs, accuracies = zip(*row.curve)
    return np.asarray(epochs, dtype=float), np.asarray(accuracies, dtype=float)


class LabView(QtWidgets.QStackedWidget):
    """show_snapshot(LabSnapshot) or show_unavailable(message, empty, store). `loaded` once either happened."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.colours = ColourMap()
        self.loaded = False
        self.snapshot: LabSnapshot | None = None

        self.empty = EmptyLabPanel()
        self.tenants = TenantsTable(self.colours)
        self.tenant_actions = TenantActions()
        self.tenants.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tenants.customContextMenuRequested.connect(
            lambda at: self.tenant_actions.menu().popup(self.tenants.viewport().mapToGlobal(at)))
        self.running = RunningTasks(self.colours)
        self.accuracy_plot = SeriesPlot("time (s)", "best accuracy", self.colours, legend="bottom-right",
                                        accuracy=True, placeholder="No finished training run yet", steps=True)
        regret_colours = ColourMap()
        regret_colours.colour(REGRET_SERIES)
        self.regret_plot = SeriesPlot("time (s)", "global regret", regret_colours, legend=None, fill=True,
                                      placeholder="No finished training run yet", steps=True)
        self.regret_plot.getPlotItem().getViewBox().setLimits(yMin=-0.05)
        self.regret_plot.setXLink(self.accuracy_plot)  # one time axis: zoom or pan one, both follow
        self.epochs_plot = SeriesPlot("epoch", "validation accuracy", legend="bottom-right", accuracy=True,
                                      markers=True,  # a task's first epoch is one point: a dot, not nothing
                                      placeholder="No task has finished an epoch yet: the tasks running now draw "
                                                  "their validation accuracy per epoch here")
        self.timeline = DeviceTimeline(self.colours)
        self.beliefs = BeliefPlot()
        self.why = DecisionPanel(self.colours)
        self.tenants.tenantSelected.connect(self._highlight)

        plots = QtWidgets.QSplitter(Qt.Orientation.Vertical)
        plots.addWidget(_section("Best accuracy per tenant", self.accuracy_plot))
        plots.addWidget(_section("Global regret", self.regret_plot,
                                 "estimate: weighted mean of (upper bound − best accuracy)"))
        plots.setSizes([320, 240])
        views = QtWidgets.QTabWidget()
        views.setDocumentMode(True)
        views.addTab(plots, "Accuracy and regret")
        views.addTab(_section("Running tasks, epoch by epoch", self.epochs_plot,
                              "validation accuracy after each epoch, while they train"), "Epochs")
        views.addTab(_section("Device timeline", self.timeline, "each task on its device, coloured by tenant"),
                     "Devices")
        views.addTab(_section("Models of the selected tenant", self.beliefs, BELIEF_KEY), "Models")
        self.views = views
        # What each tab draws from a snapshot, in tab order (the Models tab follows the tenant selection).
        self._tab_plots = [self._show_progress, self._show_epochs, self._show_timeline, lambda snapshot: None]
        views.currentChanged.connect(self._show_tab)
        left = QtWidgets.QSplitter(Qt.Orientation.Vertical)
        left.addWidget(_section("Tenants", self.tenants, tools=self.tenant_actions))
        left.addWidget(_section("Running now", self.running, "each task's latest fold and epoch"))
        left.setSizes([380, 180])
        top = QtWidgets.QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(left)
        top.addWidget(views)
        top.setStretchFactor(0, 0)
        top.setStretchFactor(1, 1)
        top.setSizes([740, 660])  # the tenants table's eight columns without eliding names at 1440 px
        why = QtWidgets.QFrame()
        why.setObjectName("card")
        why_layout = QtWidgets.QVBoxLayout(why)
        why_layout.setContentsMargins(12, 10, 12, 10)
        why_layout.addWidget(self.why)
        outer = QtWidgets.QSplitter(Qt.Orientation.Vertical)
        outer.addWidget(top)
        outer.addWidget(why)
        # both give when the screen is small (1366 x 768), the tenants and plots twice as much as the why panel
        outer.setStretchFactor(0, 2)
        outer.setStretchFactor(1, 1)
        outer.setSizes([560, 270])
        for splitter in (left, plots, top, outer):
            splitter.setChildrenCollapsible(False)
            splitter.setHandleWidth(10)
        dashboard = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(dashboard)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addWidget(outer)
        self.dashboard = dashboard
        self.addWidget(self.empty)
        self.addWidget(dashboard)

    def show_snapshot(self, snapshot: LabSnapshot) -> None:
        self.loaded = True
        self.snapshot = snapshot
        if snapshot.empty:  # a store with no tenant yet: the welcome, which counts the datasets already there
            self.tenants.set_rows(())  # behind the welcome too: the last tenant archived leaves no row to act on
            self.running.set_rows(snapshot.running)
            self.empty.show_message("", True, snapshot.source, len(snapshot.datasets))
            self.setCurrentWidget(self.empty)
            return
        for row in snapshot.tenants:  # colours in name order, so the same lab looks the same every time
            self.colours.colour(row.name)
        self.tenants.set_rows(snapshot.tenants)
        self.tenant_actions.set_row(self.tenants.selected_row())
        self.running.set_rows(snapshot.running)
        self._show_tab(self.views.currentIndex())  # the plots in view; the other tabs catch up when opened
        self._show_beliefs(self.tenants.selected_tenant())
        self.why.set_decisions(snapshot.decisions, snapshot.t0,
                               {row.name: row.best_accuracy for row in snapshot.tenants})
        self.setCurrentWidget(self.dashboard)

    def show_unavailable(self, message: str, empty: bool, store: str = "") -> None:
        self.loaded = True
        self.snapshot = None
        self.empty.show_message(message, empty, store)
        self.setCurrentWidget(self.empty)

    def flush(self) -> None:
        self.accuracy_plot.flush()
        self.regret_plot.flush()

    def _show_tab(self, index: int) -> None:
        """Give the plots of tab `index` the latest snapshot (a hidden tab's plots are not redrawn at each read)."""
        if self.snapshot is None or self.snapshot.empty or not 0 <= index < len(self._tab_plots):
            return
        self._tab_plots[index](self.snapshot)

    def _show_progress(self, snapshot: LabSnapshot) -> None:
        self.accuracy_plot.set_series(snapshot.accuracy)
        regret_x, _ = snapshot.regret
        self.regret_plot.set_series({REGRET_SERIES: snapshot.regret} if regret_x.size else {})

    def _show_epochs(self, snapshot: LabSnapshot) -> None:
        self.epochs_plot.set_series({row.label: epoch_series(row) for row in snapshot.running if row.curve})

    def _show_timeline(self, snapshot: LabSnapshot) -> None:
        self.timeline.set_spans(snapshot.spans, snapshot.t0)

    def _highlight(self, tenant: str) -> None:
        self.accuracy_plot.highlight(tenant or None)
        self.tenant_actions.set_row(self.tenants.selected_row())
        self._show_beliefs(tenant)

    def _show_beliefs(self, tenant: str) -> None:
        beliefs = self.snapshot.beliefs.get(tenant, ()) if self.snapshot is not None and tenant else ()
        self.beliefs.set_beliefs(tenant, beliefs)
