"""Per-tenant usage on a real store: device seconds split over the days and ISO weeks a task spans (local time),
a task that never started counted at its end, the quota flag at 90% and 100% of all-time use, the CSV, and
`easeml-gui usage` as a table, JSON and CSV."""

from __future__ import annotations

import csv
import json
import time
from datetime import date, datetime
from pathlib import Path

import pytest

from cli_runner import run_cli  # noqa: F401 (a fixture)
from easeml_gui.engine.types import Arm, Observation, Task, TaskResult, TaskState
from easeml_gui.lab import tenants
from easeml_gui.lab.errors import LabError
from easeml_gui.lab.usage import usage
from easeml_gui.store import LabStore

SVC = Arm("svc", 0)
HOUR = 3600.0


def at(day: int, hour: float = 0.0) -> float:
    """Local time on day `day` of May 2024 (Sunday the 5th ends ISO week 18; Monday the 6th starts week 19)."""
    return datetime(2024, 5, day).timestamp() + hour * HOUR


class Clock:
    """The store's clock, set by the test: tasks start and end when the test says."""

    def __init__(self) -> None:
        self.t = at(1)

    def __call__(self) -> float:
        return self.t


def finish(store: LabStore, clock: Clock, task_id: str, tenant: str, started: float | None, ended: float,
           seconds: float) -> None:
    """A task of `tenant` that ran from `started` to `ended` for `seconds` of device time (started None: it failed
    while queued, before it ran)."""
    task = Task(task_id, tenant, SVC, "cpu:0")
    clock.t = ended if started is None else started
    store.task_state(task, TaskState.QUEUED if started is None else TaskState.RUNNING)
    clock.t = ended
    if started is None:
        store.record_result(TaskResult(task_id, tenant, SVC, "cpu:0", TaskState.FAILED, 0.0, seconds), None)
    else:
        store.record_result(TaskResult(task_id, tenant, SVC, "cpu:0", TaskState.DONE, 0.9, seconds),
                            Observation(tenant, SVC, 0.9, seconds, ended))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """alice: 2 h from Sunday 23:00 to Monday 01:00 (across midnight and a week's end), 1.5 h on Wednesday;
    bob (quota 4 h): 3.6 h that failed while queued on Tuesday at 10:00 (no start); carol: nothing yet."""
    path = tmp_path / "lab.sqlite"
    clock = Clock()
    with LabStore(path, clock=clock) as store:
        tenants.add(store, "alice")
        tenants.add(store, "bob", quota_hours=4.0)
        tenants.add(store, "carol", quota_hours=10.0)
        finish(store, clock, "t1", "alice", at(5, 23), at(6, 1), 2 * HOUR)
        finish(store, clock, "t2", "alice", at(8, 9), at(8, 10.5), 1.5 * HOUR)
        finish(store, clock, "t3", "bob", None, at(7, 10), 3.6 * HOUR)
    return path


def read(db: Path, by: str, since: float | None = None, until: float | None = None):
    with LabStore.open_readonly(db) as reader:
        return usage(reader, by=by, since=since, until=until)


def hours_of(table) -> dict[str, list[float]]:
    return {t.name: [round(h, 6) for h in t.hours] for t in table.tenants}


def test_a_task_across_midnight_is_split_between_the_two_days_in_proportion(db):
    table = read(db, "day", since=at(5), until=at(9))
    assert table.periods == ("2024-05-05", "2024-05-06", "2024-05-07", "2024-05-08")
    assert hours_of(table) == {"alice": [1.0, 1.0, 0.0, 1.5], "bob": [0.0, 0.0, 3.6, 0.0], "carol": [0.0] * 4}
    assert table.period_totals == pytest.approx((1.0, 1.0, 3.6, 1.5))


def test_a_task_across_sunday_midnight_is_split_between_the_two_iso_weeks(db):
    table = read(db, "week", since=at(1), until=at(12))
    assert table.periods == ("2024-W18", "2024-W19")
    assert hours_of(table) == {"alice": [1.0, 2.5], "bob": [0.0, 3.6], "carol": [0.0, 0.0]}
    assert [t.total_hours for t in table.tenants] == pytest.approx([3.5, 3.6, 0.0])


def test_the_share_follows_the_span_when_device_time_differs_from_wall_time(tmp_path):
    """A task's recorded device seconds (here half its wall time) are what is split, in the span's proportions."""
    clock = Clock()
    with LabStore(tmp_path / "lab.sqlite", clock=clock) as store:
        tenants.add(store, "alice")
        finish(store, clock, "t1", "alice", at(5, 21), at(6, 1), 2 * HOUR)  # 3 h before midnight, 1 h after
    assert hours_of(read(tmp_path / "lab.sqlite", "day", since=at(5), until=at(7))) == {"alice": [1.5, 0.5]}


def test_only_the_time_within_the_chosen_period_counts(db):
    table = read(db, "day", since=at(6), until=at(7, 12))
    assert table.periods == ("2024-05-06", "2024-05-07")
    assert hours_of(table) == {"alice": [1.0, 0.0], "bob": [0.0, 3.6], "carol": [0.0, 0.0]}


def test_without_a_start_the_table_begins_at_the_first_task(db):
    assert read(db, "day", until=at(9)).periods[0] == "2024-05-05"


def test_a_period_that_ends_before_it_starts_is_refused(db):
    with pytest.raises(LabError, match="swap the two dates"):
        read(db, "day", since=at(9), until=at(5))


@pytest.mark.parametrize("used_hours, nearly, over, note", [
    (3.5, False, False, ""), (3.6, True, False, "nearly used"), (4.0, True, True, "over quota")])
def test_the_quota_is_flagged_at_90_and_100_percent_of_all_time_use(tmp_path, used_hours, nearly, over, note):
    clock = Clock()
    with LabStore(tmp_path / "lab.sqlite", clock=clock) as store:
        tenants.add(store, "bob", quota_hours=4.0)
        finish(store, clock, "t1", "bob", at(1, 8), at(1, 8 + used_hours), used_hours * HOUR)
    # A period without bob's task: the quota is on all-time use, not on the hours shown.
    [bob] = read(tmp_path / "lab.sqlite", "week", since=at(20), until=at(21)).tenants
    assert (bob.total_hours, bob.used_hours, bob.quota_hours) == (0.0, pytest.approx(used_hours), 4.0)
    assert (bob.nearly_used, bob.over_quota, bob.quota_note) == (nearly, over, note)


def test_a_tenant_without_a_quota_is_never_flagged(db):
    alice = read(db, "week", since=at(1), until=at(12)).tenants[0]
    assert (alice.quota_hours, alice.quota_share, alice.nearly_used) == (None, None, False)


def test_an_archived_tenant_has_a_row_only_where_it_used_the_lab(db):
    with LabStore(db) as store:
        tenants.archive(store, "alice")
    assert [t.name for t in read(db, "week", since=at(1), until=at(12)).tenants] == ["alice", "bob", "carol"]
    assert [t.name for t in read(db, "week", since=at(13), until=at(20)).tenants] == ["bob", "carol"]


def test_the_csv_holds_a_row_per_tenant_the_totals_and_the_quota_flag(db, tmp_path):
    out = tmp_path / "usage.csv"
    read(db, "week", since=at(1), until=at(12)).to_csv(out)
    with open(out, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [
        ["tenant", "2024-W18", "2024-W19", "total_hours", "quota_hours", "used_hours", "quota"],
        ["alice", "1.000", "2.500", "3.500", "", "3.500", ""],
        ["bob", "0.000", "3.600", "3.600", "4.000", "3.600", "nearly used"],
        ["carol", "0.000", "0.000", "0.000", "10.000", "0.000", ""],
        ["all tenants", "1.000", "6.100", "7.100", "", "", ""],
    ]


def test_the_command_prints_a_table_with_the_quota_flag(db, run_cli):
    result = run_cli("--db", db, "usage", "--by", "day", "--since", "2024-05-05", "--until", "2024-05-08")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["tenant", "2024-05-05", "2024-05-06", "2024-05-07", "2024-05-08", "total", "quota",
                                "used"]
    assert lines[2].split() == ["alice", "1.00", "1.00", "0.00", "1.50", "3.50", "-", "3.50"]
    assert lines[3].split() == ["bob", "0.00", "0.00", "3.60", "0.00", "3.60", "4.00", "3.60", "NEARLY", "USED",
                                "(90%)"]
    assert lines[5].split() == ["all", "tenants", "1.00", "1.00", "3.60", "1.50", "7.10"]


def test_the_command_prints_json_and_writes_csv(db, run_cli, tmp_path):
    out = tmp_path / "usage.csv"
    result = run_cli("--db", db, "usage", "--since", "2024-05-01", "--until", "2024-05-12", "--json", "--csv", out)
    assert result.returncode == 0, result.stderr
    table = json.loads(result.stdout)
    assert table["by"] == "week"
    assert table["periods"] == [{"label": "2024-W18", "first": "2024-04-29", "last": "2024-05-05"},
                                {"label": "2024-W19", "first": "2024-05-06", "last": "2024-05-12"}]
    bob = table["tenants"][1]
    assert (bob["name"], bob["hours"], bob["quota_hours"], bob["nearly_used"], bob["over_quota"]) == (
        "bob", [0.0, pytest.approx(3.6)], 4.0, True, False)
    assert table["total_hours"] == pytest.approx(7.1)
    assert out.read_text().splitlines()[0] == "tenant,2024-W18,2024-W19,total_hours,quota_hours,used_hours,quota"


def test_the_command_defaults_to_the_last_four_weeks(db, run_cli):
    result = run_cli("--db", db, "usage", "--json")
    assert result.returncode == 0, result.stderr
    periods = json.loads(result.stdout)["periods"]
    assert len(periods) == 4 and date.fromisoformat(periods[-1]["last"]) >= date.today()


def test_the_command_refuses_a_bad_date_and_a_reversed_period(db, run_cli):
    bad = run_cli("--db", db, "usage", "--since", "5 May")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
    reversed_ = run_cli("--db", db, "usage", "--since", "2024-05-08", "--until", "2024-05-01")
    assert reversed_.returncode == 2 and "give the earlier day first" in reversed_.stderr


def test_days_follow_local_time_across_a_daylight_saving_change(tmp_path, monkeypatch):
    """Zurich's clocks skip 02:00-03:00 on 31 March 2024: noon to noon is 23 h, 12 of them on the 30th."""
    with monkeypatch.context() as patch:
        patch.setenv("TZ", "Europe/Zurich")
        time.tzset()
        try:
            noon_30, noon_31 = datetime(2024, 3, 30, 12).timestamp(), datetime(2024, 3, 31, 12).timestamp()
            assert noon_31 - noon_30 == 23 * HOUR
            clock = Clock()
            with LabStore(tmp_path / "lab.sqlite", clock=clock) as store:
                tenants.add(store, "alice")
                finish(store, clock, "t1", "alice", noon_30, noon_31, 23 * HOUR)
            table = read(tmp_path / "lab.sqlite", "day", since=noon_30 - 12 * HOUR, until=noon_31 + 12 * HOUR)
        finally:
            patch.undo()
            time.tzset()
    assert table.periods == ("2024-03-30", "2024-03-31")
    assert hours_of(table) == {"alice": [12.0, 11.0]}
