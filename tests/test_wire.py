"""The wire contract between executors and the worker: task files, progress events read by offset, results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from easeml_gui.training import wire


def test_events_are_read_incrementally_and_a_half_written_line_waits(tmp_path: Path) -> None:
    progress = tmp_path / wire.PROGRESS_FILE
    start = wire.Start(arm="svc", device="cpu", image_size=8, train_images=10, val_images=5)
    progress.write_text(start.line() + "\nnot json from a library\n" + '{"event": "oom", "batch_')
    events, offset = wire.read_events(progress)
    assert events == [start]
    assert offset == len(progress.read_bytes()) - len('{"event": "oom", "batch_')
    with open(progress, "a") as out:
        out.write('size": 16}\n' + wire.End(state=wire.DONE, accuracy=0.5).line() + "\n")
    events, offset = wire.read_events(progress, offset)
    assert events == [wire.OomRetry(batch_size=16), wire.End(state=wire.DONE, accuracy=0.5)]
    assert wire.read_events(progress, offset) == ([], offset) == (wire.read_events(progress, offset)[0], offset)
    assert wire.read_events(tmp_path / "missing.jsonl", 7) == ([], 7)


def test_each_event_round_trips_through_its_line_and_a_newer_workers_fields_survive() -> None:
    events = [wire.Start(arm="resnet18", device="cuda:0", image_size=32, train_images=600, val_images=200,
                         batch_size=64, pretrained=True),
              wire.Epoch(epoch=1, epochs=2, val_accuracy=0.5, images_per_second=900.0, seconds=1.5, loss=2.3, fold=1,
                         folds=4),
              wire.Epoch(epoch=1, epochs=1, val_accuracy=0.75, images_per_second=1e4, seconds=0.2),  # a classical fit
              wire.OomRetry(batch_size=32),
              wire.FoldEpoch(fold=2, folds=4, epoch=1, epochs=2, loss=2.0, images_per_second=800.0, seconds=1.0),
              wire.Fold(fold=2, folds=4, val_accuracy=0.6), wire.Refit(epochs=2, fit_images=800),
              wire.End(state=wire.FAILED, error="out of memory"),
              wire.Epoch(epoch=3, epochs=3, val_accuracy=0.9, images_per_second=1.0, seconds=9.0,
                         extra={"stop_requested": True})]
    data = "".join(event.line() + "\n" for event in events).encode()
    assert wire.parse_events(data) == (events, len(data))
    assert '"loss"' not in events[2].line() and '"stop_requested": true' in events[-1].line()


@pytest.mark.parametrize("line", [
    '{"event": "paused", "epoch": 3}',  # a kind this version does not know
    '{"event": "epoch", "epoch": 1, "epochs": 2}',  # a field missing
    '{"event": "epoch", "epoch": 1.5, "epochs": 2, "val_accuracy": 0.5, "images_per_second": 1, "seconds": 1}',
    '{"event": "fold", "fold": 2, "folds": 4, "val_accuracy": "high"}',
    '{"event": "refit", "epochs": true, "fit_images": 10}',  # a bool is no number
    '[1, 2]', '"epoch"', '{"event": ["epoch"]}', '{"epoch": 1}',
])
def test_a_line_that_is_no_known_well_typed_event_is_skipped(line: str) -> None:
    data = f"{line}\n{wire.Refit(epochs=1, fit_images=10).line()}\n".encode()
    assert wire.parse_events(data, 5) == ([wire.Refit(epochs=1, fit_images=10)], 5 + len(data))


def test_the_worker_cannot_write_what_readers_would_refuse() -> None:
    with pytest.raises(wire.BadRecord, match="fold must be int, got 'two'"):
        wire.Fold(fold="two", folds=4, val_accuracy=0.5)
    with pytest.raises(wire.BadRecord, match="a done result needs its accuracy"):
        wire.TaskOutcome(state=wire.DONE)
    with pytest.raises(TypeError, match="unexpected keyword argument 'acuracy'"):
        wire.TaskOutcome(state=wire.DONE, acuracy=0.5)  # a result field the readers do not know
    numpy_numbers = wire.TaskOutcome(state=wire.DONE, accuracy=np.float32(0.5), seed=np.int64(3))
    assert json.loads(numpy_numbers.to_json()) == {"state": "done", "accuracy": 0.5, "seed": 3}


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
    assert wire.read_result(tmp_path) is None and wire.read_pid(tmp_path) is None
    outcome = wire.TaskOutcome(state=wire.DONE, accuracy=0.5, test_accuracy=None, checkpoint="best.pt",
                               extra={"curve": "curve.npz"})  # a newer worker's field
    wire.write_result(tmp_path, outcome)
    wire.write_pid(tmp_path, 1234)
    assert wire.read_result(tmp_path) == outcome and wire.read_pid(tmp_path) == 1234
    assert json.loads((tmp_path / wire.RESULT_FILE).read_text()) == {
        "curve": "curve.npz", "state": "done", "accuracy": 0.5, "checkpoint": "best.pt"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [wire.RESULT_FILE, wire.PID_FILE]
    wire.remove_pid(tmp_path)
    assert wire.read_pid(tmp_path) is None


@pytest.mark.parametrize("text", ["", '{"state": "do', "[]", '{"error": "no state"}', '{"state": "done"}',
                                  '{"state": "failed", "seconds": "long"}', '{"state": 1}'])
def test_a_result_that_is_not_one_reads_as_none(tmp_path: Path, text: str) -> None:
    (tmp_path / wire.RESULT_FILE).write_text(text)
    assert wire.read_result(tmp_path) is None


def test_a_result_names_only_plain_files_in_its_folder() -> None:
    assert wire.TaskOutcome(state=wire.DONE, accuracy=0.5, checkpoint="best.pt").files() == ["best.pt"]
    for name in ("../../.ssh/authorized_keys", "/etc/passwd", "..", "", "a/b.pt", None):
        assert wire.TaskOutcome(state=wire.DONE, accuracy=0.5, checkpoint=name).files() == []


def test_the_stores_result_keys_are_the_results_fields() -> None:
    assert wire.result_key("test_accuracy") == "test_accuracy"
    with pytest.raises(KeyError, match="result.json has no field 'test_acc'"):
        wire.result_key("test_acc")
