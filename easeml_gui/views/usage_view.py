"""The Usage tab: device hours per tenant per day or week over a chosen period (the accounting a lab reports to
its groups), as a table with totals and each tenant's quota (a row nearly used or over it is highlighted), and as
stacked bars per period; Export CSV… and Save PNG… write what is shown.

The table is read off the GUI thread (RegistryController.usage). The window calls lab_changed() at every change
of the lab; the tab re-reads at most every THROTTLE_S seconds, and only while it is shown."""

from __future__ import annotations

import html
import math
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

import pyqtgraph as pg

from ..controllers.operations import Operation
from ..controllers.registry import RegistryController
from ..lab.usage import (
    NEARLY_USED, Period, TenantUsage, UsageTable, day_end, day_start, period_end, recent_since,
)
from .plot_export import ask_path, write_png
from .plot_style import Placeholder, style_axes
from .theme import ColourMap, heading, hint, scheme, swatch

Qt = QtCore.Qt
THROTTLE_S = 5.0  # a running lab changes every second; accounting need not follow that fast
BAR_WIDTH = 0.6
MAX_TICK_LABELS = 14  # day labels along the chart's axis before they are thinned out
BY_CHOICES: tuple[tuple[str, Period], ...] = (("by week", "week"), ("by day", "day"))


def quota_text(tenant: TenantUsage) -> str:
    """'3.60 of 4 h (90%)', or '—' without a quota."""
    if tenant.quota_hours is None:
        return "—"
    return f"{tenant.used_hours:.2f} of {tenant.quota_hours:g} h ({tenant.quota_share:.0%})"


def quota_tip(tenant: TenantUsage) -> str:
    """Why a row is highlighted, and what the admin can do about it."""
    if tenant.over_quota:
        state = "has used all of its quota: the lab gives it no new tasks"
    elif tenant.nearly_used:
        state = f"has used {NEARLY_USED:.0%} or more of its quota: at 100% the lab gives it no new tasks"
    else:
        return ""
    return (f"{tenant.name} {state} ({quota_text(tenant)}, all time). Raise it with Change… on the Lab tab or "
            f"`easeml-gui tenant set {tenant.name} --quota-hours H`.")


def tick_labels(table: UsageTable) -> list[str]:
    """A week's label with the day it starts (2024-W19, from 6 May): ISO week numbers alone say little. Days are
    short (6 May), and only every k-th is labelled where more than MAX_TICK_LABELS would run into each other."""
    if table.by == "week":
        return [f"{label}, from {start.day} {start:%b}" for label, start in zip(table.periods, table.starts)]
    every = math.ceil(len(table.starts) / MAX_TICK_LABELS)
    return [f"{start.day} {start:%b}" if index % every == 0 else "" for index, start in enumerate(table.starts)]


def _date_edit(day: date) -> QtWidgets.QDateEdit:
    edit = QtWidgets.QDateEdit(QtCore.QDate(day.year, day.month, day.day))
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    return edit


def _day(edit: QtWidgets.QDateEdit) -> date:
    return edit.date().toPython()


class UsageChart(pg.PlotWidget):
    """Hours per period, one stacked bar segment per tenant (in the colour of its swatch in the table)."""

    def __init__(self, colours: ColourMap, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent=parent)
        self.colours = colours
        item = self.getPlotItem()
        style_axes(item, "", "device hours")
        item.getViewBox().setMouseEnabled(x=False, y=False)  # a report, not a plot to explore
        item.hideButtons()
        # Beside the plot, in the plot item's own grid (right of the right axis): it never hides a bar.
        self.legend = pg.LegendItem(labelTextColor=scheme().soft, labelTextSize="10pt", verSpacing=-4)
        self.legend.setSizePolicy(QtWidgets.QSizePolicy.Policy.Fixed, QtWidgets.QSizePolicy.Policy.Fixed)
        item.layout.addItem(self.legend, 2, 3)
        item.layout.setAlignment(self.legend, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self._bars: list[pg.BarGraphItem] = []
        self._placeholder = Placeholder(self, "No device time in this period")

    def set_table(self, table: UsageTable, title: str) -> None:
        item = self.getPlotItem()
        for bars in self._bars:
            item.removeItem(bars)
        self.legend.clear()
        self._bars = []
        x = np.arange(len(table.periods), dtype=float)
        bottom = np.zeros(len(table.periods))
        for tenant in table.tenants:
            if tenant.total_hours <= 0:
                continue  # nothing to stack, and no legend entry for it
            hours = np.asarray(tenant.hours, dtype=float)
            bars = pg.BarGraphItem(x=x, y0=bottom.copy(), height=hours, width=BAR_WIDTH,
                                   brush=self.colours.colour(tenant.name), pen=pg.mkPen(scheme().card, width=1),
                                   name=tenant.name)
            item.addItem(bars)
            self.legend.addItem(bars, tenant.name)
            self._bars.append(bars)
            bottom += hours
        item.getAxis("bottom").setTicks([list(enumerate(tick_labels(table)))])
        item.setTitle(html.escape(title), color=scheme().text, size="11pt")
        item.getViewBox().setXRange(-0.6, max(len(table.periods), 1) - 0.4, padding=0)
        top = max(float(bottom.max(initial=0.0)), 1.0) * 1.1
        item.getViewBox().setYRange(-0.03 * top, top, padding=0)  # a sliver below 0, so its tick is drawn
        self._placeholder.show_if(not self._bars)


class UsageView(QtWidgets.QWidget):
    """What it has to say (a read failed, a file saved or not) it says in its own status line, under the table."""

    def __init__(self, registry: RegistryController, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self.table_data: UsageTable | None = None  # the table shown now
        self._reading: Operation | None = None
        self._stale = True  # the lab (or the choice) changed since the last read
        self._read_at = float("-inf")  # time.monotonic() of the last read
        self._later = QtCore.QTimer(self, singleShot=True, timeout=self._maybe_read)

        self.by = QtWidgets.QComboBox()
        for text, by in BY_CHOICES:
            self.by.addItem(text, by)
        self.since_edit = _date_edit(recent_since("week", time.time()))
        self.until_edit = _date_edit(date.today())
        self.until_edit.setMinimumDate(self.since_edit.date())
        self.export_button = QtWidgets.QPushButton("Export CSV…")
        self.export_button.setToolTip("the table as a CSV file: hours per tenant and period, totals, quotas")
        self.png_button = QtWidgets.QPushButton("Save PNG…")
        self.png_button.setToolTip("the chart as a PNG image")
        self.by.currentIndexChanged.connect(self.choice_changed)
        self.since_edit.dateChanged.connect(self._since_changed)
        self.until_edit.dateChanged.connect(self.choice_changed)
        self.export_button.clicked.connect(self.ask_csv)
        self.png_button.clicked.connect(self.ask_png)

        self.colours = ColourMap()
        self.table = QtWidgets.QTableWidget()
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.setShowGrid(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.chart = UsageChart(self.colours)
        self.status = hint("")

        controls = QtWidgets.QHBoxLayout()
        for widget in (QtWidgets.QLabel("Device hours"), self.by, QtWidgets.QLabel("from"), self.since_edit,
                       QtWidgets.QLabel("to"), self.until_edit):
            controls.addWidget(widget)
        controls.addStretch(1)
        controls.addWidget(self.export_button)
        controls.addWidget(self.png_button)
        card = QtWidgets.QFrame()
        card.setObjectName("card")
        card_layout = QtWidgets.QVBoxLayout(card)
        card_layout.setContentsMargins(16, 12, 16, 12)
        card_layout.addWidget(heading("Usage per tenant"))
        card_layout.addLayout(controls)
        splitter = QtWidgets.QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.chart)
        splitter.setSizes([300, 400])
        card_layout.addWidget(splitter, 1)
        card_layout.addWidget(self.status)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addWidget(card)

    # ---- when to read -------------------------------------------------------------------------------------
    def lab_changed(self) -> None:
        """The lab changed (the window's poller saw a new snapshot): re-read soon, if shown."""
        self._stale = True
        self._maybe_read()

    def choice_changed(self) -> None:
        """The admin chose another period: read now."""
        self._stale = True
        self._read_at = float("-inf")
        self._maybe_read()

    def _since_changed(self) -> None:
        self.until_edit.setMinimumDate(self.since_edit.date())  # a period never ends before it starts
        self.choice_changed()

    def showEvent(self, event: QtGui.QShowEvent) -> None:
        super().showEvent(event)
        self._maybe_read()

    def _maybe_read(self) -> None:
        if not self._stale or not self.isVisible() or self._reading is not None:
            return
        wait = THROTTLE_S - (time.monotonic() - self._read_at)
        if wait > 0:
            self._later.start(int(wait * 1000))
            return
        self._read()

    def _read(self) -> None:
        self._stale = False
        self._read_at = time.monotonic()
        since, until = _day(self.since_edit), _day(self.until_edit)
        self._reading = self.registry.usage(self.by.currentData(), day_start(since),
                                            min(day_end(until), time.time()))
        self._reading.finished.connect(self.show_table)
        self._reading.failed.connect(lambda message: self.status.setText(f"The usage could not be read: {message}"))
        self._reading.ended.connect(self._read_ended)

    def _read_ended(self) -> None:
        self._reading = None
        self._maybe_read()  # a change that came while reading

    # ---- what is shown ------------------------------------------------------------------------------------
    def title(self) -> str:
        return (f"Device hours per tenant, {self.by.currentText()}, "
                f"{_day(self.since_edit).isoformat()} to {_day(self.until_edit).isoformat()}")

    def show_table(self, table: UsageTable) -> None:
        self.table_data = table
        headers = ["tenant", *table.periods, "total", "quota (used, all time)"]
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        for column, start in enumerate(table.starts, start=1):
            last = period_end(start, table.by) - timedelta(days=1)
            self.table.horizontalHeaderItem(column).setToolTip(f"{start:%a %d %b %Y} to {last:%a %d %b %Y}")
        self.table.setRowCount(len(table.tenants) + 1)
        for row, tenant in enumerate(table.tenants):
            self._set_row(row, tenant.name, [*tenant.hours, tenant.total_hours], quota_text(tenant))
            self.table.item(row, 0).setIcon(swatch(self.colours.colour(tenant.name)))
            if tenant.nearly_used:
                self._highlight(row, tenant)
        totals = self._set_row(len(table.tenants), "all tenants", [*table.period_totals, table.total_hours], "")
        for item in totals:
            font = item.font()
            font.setBold(True)
            item.setFont(font)
        self.table.resizeColumnsToContents()
        self.chart.set_table(table, self.title())
        flagged = [t.name for t in table.tenants if t.nearly_used]
        self.status.setText("Hours of finished tasks, split over the periods they ran in (local time). "
                            + (f"Quota nearly used or over: {', '.join(flagged)}." if flagged else
                               f"No tenant has used {NEARLY_USED:.0%} of its quota."))

    def _set_row(self, row: int, name: str, hours: list[float], quota: str) -> list[QtWidgets.QTableWidgetItem]:
        items = [QtWidgets.QTableWidgetItem(name)]
        for value in hours:
            item = QtWidgets.QTableWidgetItem(f"{value:.2f}")
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            items.append(item)
        items.append(QtWidgets.QTableWidgetItem(quota))
        for column, item in enumerate(items):
            self.table.setItem(row, column, item)
        return items

    def _highlight(self, row: int, tenant: TenantUsage) -> None:
        """A warning row: the problem colours, bold where over quota, and the reason in every cell's tooltip."""
        tip = quota_tip(tenant)
        for column in range(self.table.columnCount()):
            item = self.table.item(row, column)
            item.setBackground(QtGui.QColor(scheme().problem_back))
            item.setForeground(QtGui.QColor(scheme().problem_text))
            item.setToolTip(tip)
            if tenant.over_quota:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
        quota = self.table.item(row, self.table.columnCount() - 1)
        quota.setText(f"⚠ {quota.text()} {tenant.quota_note}")

    # ---- exports ------------------------------------------------------------------------------------------
    def _file_name(self, suffix: str) -> str:
        return f"usage-by-{self.by.currentData()}-{_day(self.since_edit)}-to-{_day(self.until_edit)}.{suffix}"

    def ask_csv(self) -> None:
        path = ask_path(self, "Export the usage as CSV", self._file_name("csv"), "CSV files (*.csv)")
        if path is not None:
            self.save_csv(path)

    def ask_png(self) -> None:
        path = ask_path(self, "Save the usage chart as PNG", self._file_name("png"), "PNG images (*.png)")
        if path is not None:
            self.save_png(path)

    def save_csv(self, path: Path) -> bool:
        if self.table_data is None:
            self.status.setText("The usage is still being read; export it in a moment.")
            return False
        try:
            self.table_data.to_csv(path)
        except OSError as error:
            self.status.setText(f"Could not write {path}: {error.strerror}. Choose another folder.")
            return False
        self.status.setText(f"Saved the usage table to {path}.")
        return True

    def save_png(self, path: Path) -> bool:
        if not write_png(self.chart, path):
            self.status.setText(f"Could not write {path}. Choose another folder.")
            return False
        self.status.setText(f"Saved the usage chart to {path}.")
        return True
