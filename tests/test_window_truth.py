"""The window never shows a lab that is not the store's: what a refresh reads, what a failed read shows, and a
soak of the real window's own actions beside CLI writers in other processes, compared with a fresh read after
every step."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import pytest
from cli_runner import run_cli  # noqa: F401  (a fixture)
from window_fixtures import open_window  # noqa: F401  (a fixture)

from easeml_gui.lab import datasets, tenants
from easeml_gui.lab.stores import open_writer
from easeml_gui.training.digits import export_digits

REPO = Path(__file__).resolve().parents[1]


def shown_tenants(window) -> dict[str, bool]:
    return {row.name: row.paused for row in window.lab.tenants.source_model.rows()}


def test_a_failed_read_keeps_the_lab_marked_out_of_date_and_the_next_good_read_clears_it(open_window, qtbot,
                                                                                           tmp_path: Path):
    db = tmp_path / "lab.sqlite"
    with open_writer(db) as store:
        tenants.add(store, "ana")
    good = db.read_bytes()  # before the window opens it: a plain read and close would drop its locks
    window = open_window(db)
    qtbot.waitUntil(lambda: "ana" in shown_tenants(window), timeout=10000)
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    damaged = tmp_path / "damaged"
    damaged.write_bytes(b"this is not a store" * 100)
    os.replace(damaged, db)  # another file at the store's path (a bad restore): the window reopens it
    qtbot.waitUntil(lambda: "out of date" in window.source.text(), timeout=10000)
    assert shown_tenants(window) == {"ana": False}  # the last lab read stays, greyed, never presented as current
    assert not window.lab.isEnabled() and "not an easeml-gui store" in window.source.toolTip()
    restored = tmp_path / "restored"
    restored.write_bytes(good)
    os.replace(restored, db)
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


def load_soak():
    spec = importlib.util.spec_from_file_location("window_soak_bench", REPO / "bench" / "window_soak.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_window_agrees_with_the_store_through_random_actions_beside_cli_writers_and_a_run(qtbot, tmp_path):
    """The soak of bench/window_soak.py, short: the window's own actions, CLI writes from other processes and a
    real run training classical arms; after every step every table shown equals a fresh read of the store."""
    soak = load_soak()
    db = tmp_path / "lab.sqlite"
    soak.build_lab(db, tmp_path, tenants_n=8, jobs_n=3)
    report = soak.soak(db, steps=30, tenants_n=8, seed=1, lag_limit=10.0)
    assert report.steps == 30
    assert report.disagreements == [], report.disagreements[:3]
    assert len(report.actions) >= 8  # a real mix of window and CLI actions ran


def test_the_json_lists_and_the_window_show_the_same_lab(open_window, qtbot, tmp_path: Path, run_cli):
    db = tmp_path / "lab.sqlite"
    for args in (("tenant", "add", "ana", "--quota-hours", "2"), ("tenant", "add", "bo", "--weight", "3"),
                 ("tenant", "pause", "bo"), ("host", "add", "box1", "--address", "me@127.0.0.1:2222")):
        assert run_cli("--db", db, *args).returncode == 0
    window = open_window(db)
    qtbot.waitUntil(lambda: len(window.lab.tenants.source_model.rows()) == 2 and bool(window.hosts.rows), timeout=10000)
    listed = json.loads(run_cli("--db", db, "tenant", "list", "--json").stdout)
    assert [{k: t[k] for k in ("name", "weight", "quota_hours", "used_hours", "paused")} for t in listed] == [
        {"name": "ana", "weight": 1.0, "quota_hours": 2.0, "used_hours": 0.0, "paused": False},
        {"name": "bo", "weight": 3.0, "quota_hours": None, "used_hours": 0.0, "paused": True}]
    shown = sorted(window.lab.tenants.source_model.rows(), key=lambda row: row.name)
    assert [(r.name, r.weight, r.paused, r.quota_seconds) for r in shown] == [
        (t["name"], t["weight"], t["paused"], None if t["quota_hours"] is None else t["quota_hours"] * 3600)
        for t in listed]
    hosts = json.loads(run_cli("--db", db, "host", "list", "--json").stdout)
    assert hosts == [{"name": "box1", "address": "me@127.0.0.1:2222", "trusted": False, "status": "never probed",
                      "kind": "ssh", "ready": False, "probed": None, "python": "python3", "gpus": None}]
    assert [(r.name, r.address, r.status) for r in window.hosts.rows] == [
        (h["name"], h["address"], h["status"]) for h in hosts]
    assert json.loads(run_cli("--db", db, "dataset", "list", "--json").stdout) == [] == list(window.datasets.names())


def test_a_snapshot_delivered_after_the_window_shut_down_starts_no_work(open_window, qtbot, tmp_path: Path):
    """A snapshot the poller queued just before it stopped reaches the window after its pool closed (seen in the
    suite as 'the window is closing; no new work starts' from the Datasets tab's preview): it is not shown."""
    db = tmp_path / "lab.sqlite"
    with open_writer(db) as store:
        tenants.add(store, "ana")
        datasets.register(store, "digits", export_digits(tmp_path / "digits", (0, 1), per_class=12), tmp_path)
    window = open_window(db)
    qtbot.waitUntil(lambda: window.lab.snapshot is not None and bool(window.lab.snapshot.datasets), timeout=10000)
    shown = window.lab.snapshot
    window.datasets.set_rows(())  # the tab showed an older lab: the late snapshot brings it a new dataset
    window.shutdown()
    window.show_snapshot(shown)  # raised RuntimeError from the Datasets tab's preview before


def test_archiving_the_last_tenant_leaves_no_row_behind_the_welcome(open_window, qtbot, tmp_path: Path):
    """The soak's one disagreement: with every tenant archived the welcome shows, and the tenants table behind it
    kept the last tenant (its actions still offered it) until a tenant was added again."""
    db = tmp_path / "lab.sqlite"
    with open_writer(db) as store:
        tenants.add(store, "ana")
    window = open_window(db)
    qtbot.waitUntil(lambda: "ana" in shown_tenants(window), timeout=10000)
    with open_writer(db) as store:
        tenants.archive(store, "ana")
    qtbot.waitUntil(lambda: window.lab.currentWidget() is window.lab.empty, timeout=10000)
    assert shown_tenants(window) == {}
