"""The Usage tab of the real window on a real store: hours per tenant and week (or day) with totals, a tenant near
its quota highlighted with the reason in a tooltip, the stacked bar chart saved as a PNG and the table as CSV, and
re-reading when the lab changes: at most every few seconds, and only while the tab is shown."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6 import QtCore, QtGui
from window_fixtures import open_window  # noqa: F401  (a fixture)
from test_usage import HOUR, Clock, at, finish

from easeml_gui.lab import tenants
from easeml_gui.store import LabStore
from easeml_gui.views import usage_view
from easeml_gui.views.theme import scheme

READ_MS = 20000


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """alice: 2 h across Sunday 5 May 2024's midnight (1 h in each ISO week); bob (quota 4 h): 3.6 h on Tuesday,
    90% of his quota; carol (quota 10 h): nothing."""
    path = tmp_path / "lab.sqlite"
    clock = Clock()
    with LabStore(path, clock=clock) as store:
        tenants.add(store, "alice")
        tenants.add(store, "bob", quota_hours=4.0)
        tenants.add(store, "carol", quota_hours=10.0)
        finish(store, clock, "t1", "alice", at(5, 23), at(6, 1), 2 * HOUR)
        finish(store, clock, "t2", "bob", at(7, 9), at(7, 12.6), 3.6 * HOUR)
    return path


def show_usage(window, since: QtCore.QDate | None = None, until: QtCore.QDate | None = None):
    """Open the Usage tab (and choose the period: from first, since `to` may not precede it)."""
    window.tabs.setCurrentWidget(window.usage)
    view = window.usage
    if since is not None:
        view.since_edit.setDate(since)
        view.until_edit.setDate(until)
    return view


def wait_for_periods(qtbot, view, periods: tuple[str, ...]) -> None:
    qtbot.waitUntil(lambda: view.table_data is not None and view.table_data.periods == periods, timeout=READ_MS)


def cells(view) -> list[list[str]]:
    table = view.table
    return [[table.item(row, column).text() for column in range(table.columnCount())]
            for row in range(table.rowCount())]


def test_the_tab_shows_the_last_four_weeks_by_week_at_first(open_window, qtbot, db):
    view = show_usage(open_window(db))
    qtbot.waitUntil(lambda: view.table_data is not None, timeout=READ_MS)
    assert view.by.currentData() == "week" and len(view.table_data.periods) == 4
    assert [row[0] for row in cells(view)] == ["alice", "bob", "carol", "all tenants"]


def test_rows_per_tenant_with_totals_and_a_nearly_used_quota_highlighted(open_window, qtbot, db):
    view = show_usage(open_window(db), QtCore.QDate(2024, 5, 1), QtCore.QDate(2024, 5, 12))
    wait_for_periods(qtbot, view, ("2024-W18", "2024-W19"))
    assert [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())] == [
        "tenant", "2024-W18", "2024-W19", "total", "quota (used, all time)"]
    assert cells(view) == [
        ["alice", "1.00", "1.00", "2.00", "—"],
        ["bob", "0.00", "3.60", "3.60", "⚠ 3.60 of 4 h (90%) nearly used"],
        ["carol", "0.00", "0.00", "0.00", "0.00 of 10 h (0%)"],
        ["all tenants", "1.00", "4.60", "5.60", ""],
    ]
    warning = QtGui.QColor(scheme().problem_back)
    bob = [view.table.item(1, column) for column in range(view.table.columnCount())]
    assert all(item.background().color() == warning for item in bob)
    assert "used 90% or more of its quota" in bob[2].toolTip() and "--quota-hours" in bob[2].toolTip()
    assert view.table.item(0, 1).background().color() != warning and not view.table.item(0, 1).toolTip()
    assert "Quota nearly used or over: bob." in view.status.text()


def test_by_day_splits_the_task_across_midnight(open_window, qtbot, db):
    view = show_usage(open_window(db), QtCore.QDate(2024, 5, 5), QtCore.QDate(2024, 5, 7))
    view.by.setCurrentIndex(view.by.findData("day"))
    wait_for_periods(qtbot, view, ("2024-05-05", "2024-05-06", "2024-05-07"))
    assert cells(view)[0] == ["alice", "1.00", "1.00", "0.00", "2.00", "—"]


def test_the_chart_is_saved_as_png_and_the_table_as_csv(open_window, qtbot, db, tmp_path):
    window = open_window(db)
    window.resize(1200, 800)
    view = show_usage(window, QtCore.QDate(2024, 4, 22), QtCore.QDate(2024, 5, 12))
    wait_for_periods(qtbot, view, ("2024-W17", "2024-W18", "2024-W19"))
    assert [bars.name() for bars in view.chart._bars] == ["alice", "bob"]  # carol used nothing: no empty bars
    assert view.save_png(tmp_path / "usage.png")
    image = QtGui.QImage(str(tmp_path / "usage.png"))
    assert image.width() > 400 and image.height() > 200
    assert view.save_csv(tmp_path / "usage.csv")
    assert (tmp_path / "usage.csv").read_text().splitlines()[2] == (
        "bob,0.000,0.000,3.600,3.600,4.000,3.600,nearly used")
    assert "Saved the usage table" in view.status.text()


def test_an_over_quota_tenant_is_highlighted_in_bold(open_window, qtbot, db):
    clock = Clock()
    with LabStore(db, clock=clock) as store:
        finish(store, clock, "t3", "bob", at(8, 9), at(8, 9.5), 0.4 * HOUR)
    view = show_usage(open_window(db), QtCore.QDate(2024, 5, 1), QtCore.QDate(2024, 5, 12))
    wait_for_periods(qtbot, view, ("2024-W18", "2024-W19"))
    assert cells(view)[1][-1] == "⚠ 4.00 of 4 h (100%) over quota"
    assert view.table.item(1, 0).font().bold()
    assert "has used all of its quota" in view.table.item(1, 0).toolTip()


def test_the_tab_rereads_when_the_lab_changes_only_while_shown_and_not_too_often(open_window, qtbot, db,
                                                                                   monkeypatch):
    monkeypatch.setattr(usage_view, "THROTTLE_S", 3.0)
    window = open_window(db)
    reads = []
    read = window.registry.usage
    monkeypatch.setattr(window.registry, "usage", lambda *args: reads.append(args) or read(*args))
    view = show_usage(window)
    qtbot.waitUntil(lambda: view.table_data is not None, timeout=READ_MS)
    window.tabs.setCurrentWidget(window.lab)
    shown_reads = len(reads)
    clock = Clock()
    now = time.time()
    with LabStore(db, clock=clock) as store:
        store.add_tenant("dave")
        finish(store, clock, "t9", "dave", now - HOUR, now - 0.5 * HOUR, 0.5 * HOUR)  # an hour ago
    qtbot.wait(1500)  # the poller saw the change (every 100 ms); a hidden tab does not read
    assert len(reads) == shown_reads
    window.tabs.setCurrentWidget(window.usage)
    qtbot.waitUntil(lambda: "dave" in [t.name for t in view.table_data.tenants], timeout=READ_MS)
    assert view.table_data.tenants[-1].total_hours == pytest.approx(0.5)
    qtbot.waitUntil(lambda: view._reading is None, timeout=READ_MS)
    before = len(reads)
    for _ in range(10):  # a busy lab: a change every 50 ms
        view.lab_changed()
        qtbot.wait(50)
    assert len(reads) == before  # within THROTTLE_S of the last read: deferred, not read
    qtbot.waitUntil(lambda: len(reads) == before + 1, timeout=READ_MS)  # then once for all of them
    qtbot.wait(1500)
    assert len(reads) == before + 1
