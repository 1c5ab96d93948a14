"""The lab's register from the command line: tenants and status against a real SQLite file."""

from __future__ import annotations

import json

import pytest
from cli_runner import run_cli  # noqa: F401 (a fixture)


@pytest.fixture
def cli(run_cli):
    return lambda db, *args: run_cli("--db", db, *args)


def test_tenants_round_trip_and_status_json(tmp_path, cli):
    db = tmp_path / "lab.sqlite"
    assert cli(db, "tenant", "add", "alice", "--weight", "2").returncode == 0
    assert cli(db, "tenant", "add", "bob", "--quota-hours", "1.5").returncode == 0
    assert cli(db, "tenant", "pause", "bob").returncode == 0
    listing = cli(db, "tenant", "list").stdout
    assert "alice" in listing and "paused" in listing
    status = json.loads(cli(db, "status", "--json").stdout)
    assert set(status) == {"tenants", "tasks", "global_regret_estimate"}
    assert [t["name"] for t in status["tenants"]] == ["alice", "bob"]
    assert set(status["tenants"][0]) == {"name", "weight", "tasks_done", "best_accuracy", "best_model",
                                         "best_test_accuracy", "best_members"}
    assert status["tasks"] == {"queued": 0, "running": 0, "done": 0, "failed": 0}


def test_bad_names_and_duplicates_change_nothing(tmp_path, cli):
    db = tmp_path / "lab.sqlite"
    cli(db, "tenant", "add", "alice")
    before = db.read_bytes()
    for args, message in [
        (("tenant", "add", "../etc"), "invalid tenant name"),
        (("tenant", "add", "alice"), "already exists"),
        (("tenant", "pause", "carol"), "unknown tenant 'carol'; known tenants: alice"),
        (("tenant", "add", "x", "--weight", "-1"), "must be positive"),
    ]:
        out = cli(db, *args)
        assert out.returncode in (1, 2) and message in out.stderr and "Traceback" not in out.stderr
    assert json.loads(cli(db, "status", "--json").stdout)["tenants"][0]["name"] == "alice"
    assert len(json.loads(cli(db, "status", "--json").stdout)["tenants"]) == 1
    assert before  # the file existed before and still opens: nothing half-written


def test_status_without_a_store_says_how_to_start(tmp_path, cli):
    out = cli(tmp_path / "none.sqlite", "status")
    assert out.returncode == 1 and "easeml-gui demo" in out.stderr
    assert not (tmp_path / "none.sqlite").exists()


def test_run_without_jobs_says_how_to_add_one(tmp_path, cli):
    db = tmp_path / "lab.sqlite"
    assert cli(db, "tenant", "add", "alice").returncode == 0
    out = cli(db, "run")
    assert out.returncode == 0 and "no active jobs: add one with `easeml-gui job add" in out.stdout


def test_tenant_set_changes_weight_and_quota(tmp_path, cli):
    db = tmp_path / "lab.sqlite"
    assert cli(db, "tenant", "add", "alice", "--quota-hours", "1").returncode == 0
    out = cli(db, "tenant", "set", "alice", "--weight", "3", "--quota-hours", "2.5")
    assert out.returncode == 0 and "weight 3, quota 2.5 h" in out.stdout
    assert "no quota" in cli(db, "tenant", "set", "alice", "--no-quota").stdout
    assert json.loads(cli(db, "status", "--json").stdout)["tenants"][0]["weight"] == 3
    unknown = cli(db, "tenant", "set", "bob", "--weight", "2")
    assert unknown.returncode == 1 and "unknown tenant 'bob'" in unknown.stderr
    assert cli(db, "tenant", "set", "alice").returncode == 2  # nothing to change
