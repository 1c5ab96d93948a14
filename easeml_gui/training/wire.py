"""The contract between every executor (local, SSH) and the training worker: one task folder, five files.

A task folder holds
  TASK.json       the request an executor writes before starting the worker (TaskRequest)
  progress.jsonl  the worker's stdout: one JSON event per line, appended as they happen (read_events)
  worker.log      the worker's stderr: tracebacks and library warnings, for a failure's log tail
  result.json     the outcome, written once, atomically, when the worker ends (TaskOutcome: write_result /
                  read_result)
  worker.pid      the worker's pid while it runs, written by whoever started it (a crashed `run` leaves it behind)
and the files the result names (TaskOutcome.files: the trained model, best.pt for a network, model.skops for a
classical arm).

Events and results are dataclasses, parsed here and nowhere else, and the worker writes them through the same
types, so writer and readers cannot drift. A field that is null (unknown, or not applicable) is left out of the JSON;
keys this version does not know are kept in `extra`, so a newer worker's fields survive the trip through an older
reader. A progress line that is not a known event with well-typed fields is skipped (a library printed to stdout);
a result.json that is missing or malformed reads as None.

Torch-free and standard-library only: the SSH executor reads these files on a machine without torch.
"""

from __future__ import annotations

import json
import numbers
import operator
import re
import signal
import typing
from dataclasses import asdict, dataclass, field, fields
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Mapping, TypeVar

from .atomic import write_atomically

TASK_FILE, PROGRESS_FILE, LOG_FILE, RESULT_FILE, PID_FILE = (
    "TASK.json", "progress.jsonl", "worker.log", "result.json", "worker.pid")
WORKER_MODULE = "easeml_gui.training.worker"  # run as `python -m WORKER_MODULE <folder>/TASK.json`
EXIT_DONE, EXIT_FAILED, EXIT_BAD_TASK, EXIT_TERMINATED = 0, 1, 2, 128 + signal.SIGTERM
DONE, FAILED, CANCELLED = "done", "failed", "cancelled"  # result.json "state" and the end event's
DEVICE_PATTERN = re.compile(r"cpu|cuda(:\d+)?")
FILE = {"file": True}  # the metadata of a result field that names a file in the task folder (TaskOutcome.files)
R = TypeVar("R", bound="_Record")


class BadTask(ValueError):
    """A TASK.json that is missing, malformed or names what does not exist."""


class BadRecord(ValueError):
    """A result or event whose fields are missing or of the wrong type."""


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


# ---- results and events: typed records ----------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class _Record:
    """A JSON object with typed fields (str, int, float or bool, each maybe None), checked when made (so the
    worker cannot write what readers would refuse) and when parsed; keys it does not know are kept in `extra`."""

    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, (kind, optional) in _field_types(type(self)).items():
            object.__setattr__(self, name, _checked(name, getattr(self, name), kind, optional))

    @classmethod
    def from_mapping(cls: type[R], raw: Mapping[str, Any]) -> R:
        """BadRecord says which field is missing or of the wrong type."""
        if not isinstance(raw, Mapping):
            raise BadRecord(f"expected a JSON object, got {type(raw).__name__}")
        known = _field_types(cls)
        try:
            return cls(**{k: v for k, v in raw.items() if k in known},
                       extra={k: v for k, v in raw.items() if k not in known})
        except TypeError as error:  # a required field is missing
            raise BadRecord(str(error)) from None

    def to_mapping(self) -> dict[str, Any]:
        """The JSON object: the unknown keys it came with, then every field that is not None."""
        values = {name: getattr(self, name) for name in _field_types(type(self))}
        return {**self.extra, **{k: v for k, v in values.items() if v is not None}}


@cache
def _field_types(cls: type) -> dict[str, tuple[type, bool]]:
    """Each field's type and whether it may be None, from its annotation ("float | None")."""
    hints = typing.get_type_hints(cls)
    types = {}
    for f in fields(cls):
        if f.name != "extra":
            args = typing.get_args(hints[f.name])
            types[f.name] = (next(a for a in args if a is not type(None)) if args else hints[f.name],
                             type(None) in args)
    return types


def _checked(name: str, value: Any, kind: type, optional: bool) -> Any:
    """`value` as `kind` (an int is a float too, numpy scalars are numbers; a bool is no number), or BadRecord."""
    if value is None:
        if optional:
            return None
    elif kind is bool and isinstance(value, bool):
        return value
    elif kind is str and isinstance(value, str):
        return str(value)
    elif kind in (int, float) and not isinstance(value, bool):
        try:
            return float(value) if kind is float and isinstance(value, numbers.Real) else operator.index(value)
        except TypeError:
            pass
    raise BadRecord(f"{name} must be {kind.__name__}{' or null' if optional else ''}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class TaskOutcome(_Record):
    """result.json. Every task that ended in the worker has state, error (None unless failed or cancelled),
    seconds (the whole task's wall time), task_id, arm, device, seed and python; a done one the rest.

    A field added here is read and written everywhere: the executors pass every field on to the store (the task's
    details), and the SSH executor fetches every file a FILE field names."""

    state: str  # DONE | FAILED | CANCELLED
    error: str | None = None
    seconds: float | None = None
    task_id: str | None = None
    arm: str | None = None
    device: str | None = None
    seed: int | None = None
    python: str | None = None
    accuracy: float | None = None  # best validation accuracy, pooled over `folds` folds: what selection sees
    folds: int | None = None
    test_accuracy: float | None = None  # the kept model on the held-out test split; None without one
    test_images: int | None = None
    final_accuracy: float | None = None  # the last epoch's validation accuracy
    best_epoch: int | None = None
    epochs_run: int | None = None
    stopped_by_time: bool | None = None  # the task's max_seconds ended training early
    train_seconds: float | None = None
    images_per_second: float | None = None
    device_name: str | None = None  # the GPU's name, or the CPU's
    peak_memory_bytes: int | None = None  # on the GPU, or of the process
    batch_size: int | None = None
    oom_retries: int | None = None
    pretrained: bool | None = None
    probe: bool | None = None
    image_size: int | None = None
    channels: int | None = None
    num_classes: int | None = None
    dataset_hash: str | None = None
    train_images: int | None = None
    val_images: int | None = None
    fit_images: int | None = None  # what the kept model was fit on: train + validation after a refit
    refit_seconds: float | None = None  # None unless the kept model was refit (a network's)
    weights_sha256: str | None = None  # a pretrained network's ImageNet weights
    weights_source: str | None = None
    torch: str | None = None  # a network's library versions
    torchvision: str | None = None
    checkpoint: str | None = field(default=None, metadata=FILE)  # the kept model: best.pt or model.skops
    # class probabilities of every validated and test image (training/predictions.py): what ensembles combine
    predictions: str | None = field(default=None, metadata=FILE)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.state == DONE and self.accuracy is None:
            raise BadRecord("a done result needs its accuracy")

    def files(self) -> list[str]:
        """The files in the task folder this result names; only plain file names, never a path to follow."""
        names = [getattr(self, f.name) for f in fields(self) if f.metadata.get("file")]
        return [name for name in names if name and name != ".." and PurePosixPath(name).name == name]

    def to_json(self) -> str:
        return json.dumps(self.to_mapping(), indent=1)

    @classmethod
    def from_json(cls, data: str | bytes) -> "TaskOutcome | None":
        """None for what is not a result (not JSON, not an object, fields missing or of the wrong type)."""
        try:
            return cls.from_mapping(json.loads(data))
        except ValueError:  # BadRecord and JSONDecodeError both
            return None


def result_key(name: str) -> str:
    """The key of result.json field `name`, which a stored task's details hold too (the store reads some of them in
    SQL); KeyError where TaskOutcome has no such field, so a renamed field cannot leave a query reading nulls."""
    if name not in _field_types(TaskOutcome):
        raise KeyError(f"result.json has no field {name!r}")
    return name


def write_result(folder: Path, outcome: TaskOutcome) -> None:
    write_atomically(Path(folder) / RESULT_FILE, lambda out: out.write(outcome.to_json().encode()))


def read_result(folder: Path) -> TaskOutcome | None:
    """result.json; None while there is none (the worker still runs, or died before writing one) or it is not one."""
    try:
        return TaskOutcome.from_json((Path(folder) / RESULT_FILE).read_bytes())
    except OSError:
        return None


@dataclass(frozen=True, kw_only=True)
class Event(_Record):
    """A progress line: {"event": KIND, ...fields}."""

    KIND: ClassVar[str]

    def line(self) -> str:
        """Its progress.jsonl line (without the newline)."""
        return json.dumps({"event": self.KIND, **self.to_mapping()})


@dataclass(frozen=True, kw_only=True)
class Start(Event):
    """A training attempt starts (a network's again, with a smaller batch, after running out of memory)."""

    KIND = "start"
    arm: str
    device: str
    image_size: int
    train_images: int
    val_images: int
    batch_size: int | None = None  # a network's
    pretrained: bool | None = None  # a network's


@dataclass(frozen=True, kw_only=True)
class Epoch(Event):
    """An epoch of the registered split, validated (a classical fit reports one, without a loss); while
    cross-validating it names its fold (1: the registered split) and the folds."""

    KIND = "epoch"
    epoch: int
    epochs: int
    val_accuracy: float
    images_per_second: float
    seconds: float  # since training started
    loss: float | None = None  # None for a classical fit
    fold: int | None = None
    folds: int | None = None


@dataclass(frozen=True, kw_only=True)
class OomRetry(Event):
    """The device ran out of memory: the attempt starts again with this smaller batch."""

    KIND = "oom"
    batch_size: int


@dataclass(frozen=True, kw_only=True)
class FoldEpoch(Event):
    """An epoch of a further fold (a network's): not validated, its model is scored once, at the fold's end."""

    KIND = "fold_epoch"
    fold: int
    folds: int
    epoch: int
    epochs: int
    loss: float
    images_per_second: float
    seconds: float


@dataclass(frozen=True, kw_only=True)
class Fold(Event):
    """A fold's end (a small validation split is cross-validated: training/folds.py)."""

    KIND = "fold"
    fold: int
    folds: int
    val_accuracy: float


@dataclass(frozen=True, kw_only=True)
class Refit(Event):
    """A network the lab would deliver trains again on train + validation."""

    KIND = "refit"
    epochs: int
    fit_images: int


@dataclass(frozen=True, kw_only=True)
class End(Event):
    """The task ended: DONE with its accuracy, FAILED with the error, or CANCELLED."""

    KIND = "end"
    state: str
    accuracy: float | None = None
    error: str | None = None


EVENTS: dict[str, type[Event]] = {kind.KIND: kind for kind in (Start, Epoch, OomRetry, FoldEpoch, Fold, Refit, End)}


def emit(event: Event) -> None:
    """The worker's side: print one event to stdout (progress.jsonl), at once."""
    print(event.line(), flush=True)


def read_events(path: Path, offset: int = 0) -> tuple[list[Event], int]:
    """The complete events after byte `offset` and the offset to read from next time: a line still being
    written (no newline yet) is left for the next read, so nothing is read twice or lost."""
    try:
        with open(path, "rb") as stream:
            stream.seek(offset)
            data = stream.read()
    except FileNotFoundError:
        return [], offset
    return parse_events(data, offset)


def parse_events(data: bytes, offset: int = 0) -> tuple[list[Event], int]:
    """read_events for bytes already read from byte `offset` of a progress file (an SSH executor's read)."""
    complete = data[:data.rfind(b"\n") + 1]
    events = []
    for line in complete.splitlines():
        try:
            raw = json.loads(line)
            kind = EVENTS[raw.pop("event")]
            events.append(kind.from_mapping(raw))
        except (ValueError, TypeError, KeyError, AttributeError):
            continue  # not ours (a library printed to stdout), or an event this version does not know
    return events, offset + len(complete)


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
