"""The window never shows a lab that is not the store's: what a refresh reads, what a failed read shows, and a
soak of the real window's own actions beside CLI writers in other processes, compared with a fresh read after
every step."""

from __future__ import annotations

import time
from pathlib import Path

from window_fixtures import open_window  # noqa: F401  (a fixture)

from easeml_gui.lab import tenants
from easeml_gui.lab.stores import open_writer


def shown_tenants(window) -> dict[str, bool]:
    return {row.name: row.paused for row in window.lab.tenants.source_model.rows()}


def test_a_failed_read_keeps_the_lab_marked_out_of_date_and_the_next_good_read_clears_it(open_window, qtbot,
                                                                                           tmp_path: Path):
    db = tmp_path / "lab.sqlite"
    with open_writer(db) as store:
        tenants.add(store, "ana")
    window = open_window(db)
    qtbot.waitUntil(lambda: "ana" in shown_tenants(window), timeout=10000)
    good = db.read_bytes()
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    db.write_bytes(b"this is not a store" * 100)  # a damaged file under the window (a new inode: reopened)
    qtbot.waitUntil(lambda: "out of date" in window.source.text(), timeout=10000)
    assert shown_tenants(window) == {"ana": False}  # the last lab read stays, greyed, never presented as current
    assert not window.lab.isEnabled() and "not an easeml-gui store" in window.source.toolTip()
    db.write_bytes(good)
    qtbot.waitUntil(lambda: window.lab.isEnabled() and "out of date" not in window.source.text(), timeout=10000)


def test_refresh_reads_the_store_again_and_says_when(open_window, qtbot, tmp_path: Path):
    db = tmp_path / "lab.sqlite"
    with open_writer(db) as store:
        tenants.add(store, "ana")
    window = open_window(db)
    qtbot.waitUntil(lambda: "ana" in shown_tenants(window), timeout=10000)
    reads = []
    window.poller.poller.snapshotReady.connect(lambda snapshot: reads.append(snapshot))
    time.sleep(1.1)  # the status bar's clock has seconds
    before = window.source.text()
    window.refreshRequested.emit()  # F5: nothing changed, the store is read and shown all the same
    qtbot.waitUntil(lambda: bool(reads), timeout=5000)
    qtbot.waitUntil(lambda: window.source.text() != before, timeout=5000)
