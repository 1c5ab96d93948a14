"""The contract between every executor (local, SSH) and the training worker: one task folder, five files.

A task folder holds
  TASK.json       the request an executor writes before starting the worker (TaskRequest)
  progress.jsonl  the worker's stdout: one JSON event per line, appended as they happen (read_events)
  worker.log      the worker's stderr: tracebacks and library warnings, for a failure's log tail
  result.json     the outcome, written once, atomically, when the worker ends (write_result / read_result)
  worker.pid      the worker's pid while it runs, written by whoever started it (a crashed `run` leaves it behind)
and the trained model the result names in "checkpoint" (best.pt for a network, model.skops for a classical arm).

Events (progress.jsonl), by "event":
  start  arm, device, image_size, train_images, val_images (networks add batch_size, pretrained)
  epoch  epoch, epochs, loss (null for a classical fit), val_accuracy, images_per_second, seconds; while
         cross-validating also fold (1: the registered split) and folds
  oom    batch_size (the smaller batch the worker retries with)
  fold_epoch  fold, folds, epoch, epochs, loss, images_per_second, seconds: an epoch of a further fold (a network's;
         not validated: its model is scored once, at the fold's end)
  fold   fold, folds, val_accuracy: a fold's end (a small validation split is cross-validated: training/folds.py)
  refit  epochs, fit_images (a network the lab would deliver trains again on train + validation)
  end    state ("done" | "failed" | "cancelled"), accuracy (done) or error (failed)
result.json: state, error, seconds, task_id, arm, device, seed, python; when done also accuracy (the best
validation accuracy, pooled over its folds: what selection sees), folds, test_accuracy, checkpoint and the fields training/worker.py lists.

Torch-free and standard-library only: the SSH executor reads these files on a machine without torch.
"""

from __future__ import annotations

import json
import re
import signal
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .atomic import write_atomically

TASK_FILE, PROGRESS_FILE, LOG_FILE, RESULT_FILE, PID_FILE = (
    "TASK.json", "progress.jsonl", "worker.log", "result.json", "worker.pid")
WORKER_MODULE = "easeml_gui.training.worker"  # run as `python -m WORKER_MODULE <folder>/TASK.json`
EXIT_DONE, EXIT_FAILED, EXIT_BAD_TASK, EXIT_TERMINATED = 0, 1, 2, 128 + signal.SIGTERM
DONE, FAILED, CANCELLED = "done", "failed", "cancelled"  # result.json "state" and the end event's
DEVICE_PATTERN = re.compile(r"cpu|cuda(:\d+)?")


class BadTask(ValueError):
    """A TASK.json that is missing, malformed or names what does not exist."""


@dataclass(frozen=True)
class TaskRequest:
    """TASK.json. None means "the recipe's" (epochs, batch_size, augment) or "the dataset's" (image_size)."""

    task_id: str
    arm: str  # an arm name, training/arms.py: "resnet18", "resnet18@imagenet", "svc", ...
    dataset: str  # a registered dataset folder on the machine that runs the worker
    output_dir: str  # the task folder
    device: str = "cpu"  # "cpu" | "cuda" | "cuda:N"
    seed: int = 0
    epochs: int | None = None
    max_seconds: float | None = None
    image_size: int | None = None
    batch_size: int | None = None
    augment: tuple[str, ...] | None = None  # "crop", "flip"
    threads: int | None = None  # CPU threads; None: the libraries' default
    # the tenant's finished runs when the task was decided, (validation accuracy, selection seconds) each (engine/
    # types.py TENANT_RUNS): a network that the lab would deliver among them is refit on train + validation; None
    # (a task run by hand): never
    tenant_runs: tuple[tuple[float, float], ...] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # fields this version does not know, kept as they came

    def to_json(self) -> str:
        fields = asdict(self)
        extra = fields.pop("extra")
        return json.dumps({**extra, **{k: v for k, v in fields.items() if v is not None}}, indent=1)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> "TaskRequest":
        """Checks types and the device's form; BadTask says what is wrong. The arm is checked by the worker."""
        if not isinstance(raw, Mapping):
            raise BadTask(f"the task must be a JSON object, got {type(raw).__name__}")
        missing = [key for key in ("task_id", "arm", "dataset", "output_dir") if not raw.get(key)]
        if missing:
            raise BadTask(f"missing field: {', '.join(missing)}")
        device = str(raw.get("device") or "cpu")
        if not DEVICE_PATTERN.fullmatch(device):
            raise BadTask(f"unknown device {device!r}; use cpu, cuda or cuda:N")
        known = {name for name in cls.__dataclass_fields__ if name != "extra"}
        try:
            return cls(task_id=str(raw["task_id"]), arm=str(raw["arm"]), dataset=str(raw["dataset"]),
                       output_dir=str(raw["output_dir"]), device=device, seed=int(raw.get("seed") or 0),
                       epochs=_optional(raw, "epochs", int), max_seconds=_optional(raw, "max_seconds", float),
                       image_size=_optional(raw, "image_size", int), batch_size=_optional(raw, "batch_size", int),
                       augment=_augment(raw.get("augment")), threads=_optional(raw, "threads", int),
                       tenant_runs=_runs(raw.get("tenant_runs")),
                       extra={k: v for k, v in raw.items() if k not in known})
        except (TypeError, ValueError) as error:
            raise BadTask(f"a field has the wrong type: {error}") from None

    @classmethod
    def read(cls, path: Path) -> "TaskRequest":
        try:
            return cls.from_mapping(json.loads(Path(path).read_text()))
        except OSError as error:
            raise BadTask(f"cannot read {path}: {error.strerror or error}") from None
        except json.JSONDecodeError as error:
            raise BadTask(f"{path} is not JSON: {error}") from None


def _optional(raw: Mapping[str, Any], key: str, kind: type) -> Any:
    value = raw.get(key)
    return None if value is None or value == "" else kind(value)


def _runs(raw: Any) -> tuple[tuple[float, float], ...] | None:
    if raw is None:
        return None
    if isinstance(raw, (str, Mapping)) or not all(len(run) == 2 for run in raw):
        raise BadTask(f"tenant_runs must be a list of [accuracy, seconds] pairs, got {raw!r}")
    return tuple((float(quality), float(seconds)) for quality, seconds in raw)


def _augment(raw: Any) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if isinstance(raw, str) or not all(isinstance(name, str) for name in raw):
        raise BadTask(f"augment must be a list of names, got {raw!r}")
    return tuple(raw)


def event_line(kind: str, **fields: Any) -> str:
    """One progress.jsonl line (without its newline)."""
    return json.dumps({"event": kind, **fields})


def emit(kind: str, **fields: Any) -> None:
    """The worker's side: print one event to stdout (progress.jsonl), at once."""
    print(event_line(kind, **fields), flush=True)


def read_events(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The complete events after byte `offset` and the offset to read from next time: a line still being
    written (no newline yet) is left for the next read, so nothing is read twice or lost."""
    try:
        with open(path, "rb") as stream:
            stream.seek(offset)
            data = stream.read()
    except FileNotFoundError:
        return [], offset
    return parse_events(data, offset)


def parse_events(data: bytes, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """read_events for bytes already read from byte `offset` of a progress file (an SSH executor's read)."""
    complete = data[:data.rfind(b"\n") + 1]
    events = []
    for line in complete.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # not ours: a library printed to stdout
        if isinstance(event, dict) and "event" in event:
            events.append(event)
    return events, offset + len(complete)


def write_result(folder: Path, result: Mapping[str, Any]) -> None:
    write_atomically(Path(folder) / RESULT_FILE, lambda out: out.write(json.dumps(result, indent=1).encode()))


def read_result(folder: Path) -> dict[str, Any]:
    """result.json as a dict; {} while there is none (the worker still runs, or died before writing one)."""
    try:
        data = json.loads((Path(folder) / RESULT_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_pid(folder: Path, pid: int) -> None:
    write_atomically(Path(folder) / PID_FILE, lambda out: out.write(str(pid).encode()))


def read_pid(folder: Path) -> int | None:
    try:
        return int((Path(folder) / PID_FILE).read_text())
    except (OSError, ValueError):
        return None


def remove_pid(folder: Path) -> None:
    (Path(folder) / PID_FILE).unlink(missing_ok=True)


def is_worker_command(command: list[bytes], folder: Path) -> bool:
    """Whether a process's argv (from /proc/PID/cmdline) is the worker of this task folder: pids get reused,
    so a recorded pid is trusted only while it still runs that very command."""
    return WORKER_MODULE.encode() in command and str(Path(folder) / TASK_FILE).encode() in command

