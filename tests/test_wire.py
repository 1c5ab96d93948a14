"""The wire contract between executors and the worker: task files, progress events read by offset, results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from easeml_gui.training import wire


def test_events_are_read_incrementally_and_a_half_written_line_waits(tmp_path: Path) -> None:
    progress = tmp_path / wire.PROGRESS_FILE
    progress.write_text(wire.event_line("start", arm="svc") + "\nnot json from a library\n" + '{"event": "epo')
    events, offset = wire.read_events(progress)
    assert events == [{"event": "start", "arm": "svc"}]
    assert offset == len(progress.read_bytes()) - len('{"event": "epo')
    with open(progress, "a") as out:
        out.write('ch", "epoch": 1}\n' + wire.event_line("end", state=wire.DONE) + "\n")
    events, offset = wire.read_events(progress, offset)
    assert events == [{"event": "epoch", "epoch": 1}, {"event": "end", "state": "done"}]
    assert wire.read_events(progress, offset) == ([], offset) == (wire.read_events(progress, offset)[0], offset)
    assert wire.read_events(tmp_path / "missing.jsonl", 7) == ([], 7)


def test_a_task_request_round_trips_and_keeps_fields_it_does_not_know() -> None:
    raw = {"task_id": "t1", "arm": "svc", "dataset": "/d", "output_dir": "/o", "device": "cuda:1", "seed": 3,
           "epochs": 4, "augment": ["flip"], "tenant_runs": [[0.73, 197.5]], "future_field": {"a": 1}}
    request = wire.TaskRequest.from_mapping(raw)
    assert request.augment == ("flip",) and request.extra == {"future_field": {"a": 1}}
    assert request.tenant_runs == ((0.73, 197.5),)
    assert wire.TaskRequest.from_mapping(json.loads(request.to_json())) == request


@pytest.mark.parametrize("change, message", [
    ({"task_id": None}, "missing field: task_id"),
    ({"device": "gpu0"}, "unknown device 'gpu0'; use cpu, cuda or cuda:N"),
    ({"epochs": "many"}, "wrong type"),
    ({"augment": "flip"}, "augment must be a list of names"),
    ({"tenant_runs": [[0.9]]}, r"tenant_runs must be a list of \[accuracy, seconds\] pairs"),
    ({"tenant_runs": "0.9"}, "tenant_runs must be a list"),
])
def test_a_bad_task_request_says_what_is_wrong(change: dict, message: str) -> None:
    raw = {"task_id": "t1", "arm": "svc", "dataset": "/d", "output_dir": "/o", **change}
    with pytest.raises(wire.BadTask, match=message):
        wire.TaskRequest.from_mapping(raw)


def test_results_and_pids_are_whole_or_absent(tmp_path: Path) -> None:
    assert wire.read_result(tmp_path) == {} and wire.read_pid(tmp_path) is None
    wire.write_result(tmp_path, {"state": wire.DONE, "accuracy": 0.5})
    wire.write_pid(tmp_path, 1234)
    assert wire.read_result(tmp_path) == {"state": "done", "accuracy": 0.5} and wire.read_pid(tmp_path) == 1234
    assert sorted(p.name for p in tmp_path.iterdir()) == [wire.RESULT_FILE, wire.PID_FILE]
    wire.remove_pid(tmp_path)
    assert wire.read_pid(tmp_path) is None
