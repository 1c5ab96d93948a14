"""`python -m easeml_gui.training.worker TASK.json`: train and evaluate one arm on one device, report, exit.

TASK.json (written by an executor):
  required  task_id, arm (an arm name, training/arms.py: "resnet18", "resnet18@imagenet", "svc", ...),
            dataset (a registered dataset folder), output_dir
  optional  device ("cpu" | "cuda" | "cuda:N"; default cpu), seed (0), epochs (the recipe's), max_seconds (none),
            image_size (the dataset's default), batch_size (the recipe's), augment (list, the recipe's: "crop",
            "flip"), threads (CPU threads; torch's default)
stdout    one JSON object per line: {"event": "start", ...}, {"event": "epoch", "epoch", "epochs", "loss" (null
          for a classical fit), "val_accuracy", "images_per_second", "seconds"}, {"event": "oom", "batch_size"},
          {"event": "end", "state"}
output    result.json, written atomically (temp file + os.replace): "state" ("done" | "failed" | "cancelled"),
          "accuracy" (best validation accuracy: what selection sees), "test_accuracy" (the selected checkpoint on
          the held-out test split, null when the dataset has none), "seconds" (wall time of the whole task), "error"
          (null unless failed/cancelled), and: task_id, arm, test_images, final_accuracy, best_epoch, epochs_run,
          train_seconds, images_per_second, device, device_name, peak_memory_bytes, batch_size, oom_retries,
          pretrained, probe, weights_sha256, weights_source, image_size, channels, num_classes, dataset_hash, seed,
          checkpoint, torch, torchvision, python.
          best.pt (on success, networks): the best epoch's state_dict with what inference needs (classes,
          preprocessing, stem); model.skops (classical learners): the fitted pipeline (training/classical.py).
Exit codes: 0 done; 1 failed (result.json says why); 2 TASK.json unusable (stderr says why, no result.json);
            143 stopped by SIGTERM or SIGINT (result.json state "cancelled").
Deterministic under its seed on the CPU (same seed, threads and versions: same weights and numbers). On CUDA
cuDNN autotuning is kept for speed, so GPU runs are close, not bitwise equal.
"""

from __future__ import annotations

import gc
import json
import platform
import resource
import signal
import sys
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

import numpy as np
import torch
from torch import nn

from .atomic import write_atomically
from .arms import CLASSICAL_MAX_SIZE, ArmSpec, arm_spec
from .catalogue import AUGMENTATIONS, CATALOGUE, Recipe, small_input
from .datasets import DatasetInfo, load_dataset
from .decoded import decoded_images
from .errors import DatasetError
from .models import build_model, library_versions
from .weights import load_pretrained_state
from .weights_registry import weights_for
from .trainer import Budget, EpochReport, TensorData, TrainingError, TrainOutcome, evaluate, train

EXIT_DONE, EXIT_FAILED, EXIT_BAD_TASK, EXIT_TERMINATED = 0, 1, 2, 128 + signal.SIGTERM
RESULT_NAME, CHECKPOINT_NAME = "result.json", "best.pt"
MAX_OOM_RETRIES = 3  # halve the batch at most this often before giving up
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
T = TypeVar("T")


class Terminated(BaseException):
    """Raised by the SIGTERM/SIGINT handler; a BaseException so no `except Exception` swallows it."""


class BadTask(Exception):
    """TASK.json is missing, malformed or names an unknown model."""


class OutOfMemory(Exception):
    """The device ran out of memory even at the smallest batch tried."""


@dataclass(frozen=True)
class TaskSpec:
    task_id: str
    arm: ArmSpec
    dataset: Path
    output_dir: Path
    device: torch.device
    seed: int
    epochs: int
    max_seconds: float | None
    image_size: int | None
    batch_size: int
    augment: tuple[str, ...]
    threads: int | None

    @property
    def recipe(self) -> Recipe:
        return CATALOGUE[self.arm.model].recipe

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> "TaskSpec":
        try:
            arm = arm_spec(raw["arm"])
            recipe = CATALOGUE[arm.model].recipe if arm.network else None
            device = torch.device(raw.get("device", "cpu"))
            return cls(task_id=str(raw["task_id"]), arm=arm, dataset=Path(raw["dataset"]),
                       output_dir=Path(raw["output_dir"]), device=device, seed=int(raw.get("seed", 0)),
                       epochs=int(raw.get("epochs") or (recipe.epochs if recipe else 1)),
                       max_seconds=_optional_float(raw, "max_seconds"),
                       image_size=int(raw["image_size"]) if raw.get("image_size") else None,
                       batch_size=int(raw.get("batch_size") or (recipe.batch_size if recipe else 1)),
                       augment=_augment(raw.get("augment"), recipe),
                       threads=int(raw["threads"]) if raw.get("threads") else None)
        except KeyError as error:
            raise BadTask(f"missing field: {error}") from None
        except (TypeError, ValueError, RuntimeError) as error:  # a wrong type, an unknown arm, a bad device
            raise BadTask(str(error)) from None


def _augment(raw: Any, recipe: Recipe | None) -> tuple[str, ...]:
    if raw is None:
        return recipe.augment if recipe else ()
    unknown = set(raw) - set(AUGMENTATIONS)
    if unknown:
        raise BadTask(f"unknown augmentation {sorted(unknown)}; use any of {list(AUGMENTATIONS)}")
    return tuple(raw)


def _optional_float(raw: Mapping[str, Any], key: str) -> float | None:
    return float(raw[key]) if raw.get(key) is not None else None


def main(argv: list[str]) -> int:
    started = time.perf_counter()
    _install_signal_handlers()
    if len(argv) != 1:
        print("usage: python -m easeml_gui.training.worker TASK.json", file=sys.stderr)
        return EXIT_BAD_TASK
    try:
        task = TaskSpec.parse(json.loads(Path(argv[0]).read_text()))
        task.output_dir.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError, BadTask) as error:
        print(f"worker: unusable task file {argv[0]}: {error}", file=sys.stderr)
        return EXIT_BAD_TASK
    except Terminated:
        return EXIT_TERMINATED
    base = {"task_id": task.task_id, "arm": task.arm.name, "device": str(task.device), "seed": task.seed,
            **library_versions()}
    try:
        fields = run(task, started)
        _block_termination()  # from here on the task is done: a late SIGTERM must not turn it into "cancelled"
        _write_result(task.output_dir, {"state": "done", "error": None, **base, **fields})
        _emit({"event": "end", "state": "done", "accuracy": fields["accuracy"]})
        return EXIT_DONE
    except Terminated:
        _block_termination()
        _write_result(task.output_dir, {"state": "cancelled", "error": "stopped by a termination signal",
                                        "seconds": time.perf_counter() - started, **base})
        _emit({"event": "end", "state": "cancelled"})
        return EXIT_TERMINATED
    except Exception as error:  # every failure ends as a result the executor can report, with its reason
        _block_termination()
        known = isinstance(error, (DatasetError, TrainingError, FileNotFoundError, OutOfMemory))
        reason = str(error) if known else f"{type(error).__name__}: {error}"
        if not known:
            traceback.print_exc()  # to stderr: the executor's log tail
        _write_result(task.output_dir, {"state": "failed", "error": reason,
                                        "seconds": time.perf_counter() - started, **base})
        _emit({"event": "end", "state": "failed", "error": reason})
        return EXIT_FAILED


def run(task: TaskSpec, started: float) -> dict[str, Any]:
    """Train the arm and write its checkpoint; returns the result fields."""
    torch.use_deterministic_algorithms(task.device.type == "cpu", warn_only=True)
    torch.set_flush_denormal(True)  # tiny weights late in a run must not slow CPU arithmetic tenfold
    if task.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if task.threads:
        torch.set_num_threads(task.threads)
    info = load_dataset(task.dataset)
    schema = info.schema(task.image_size)
    if not task.arm.fits(schema):
        raise TrainingError(f"{task.arm.name} needs images of at least {CATALOGUE[task.arm.model].min_size} px, the "
                            f"task trains at {schema.image_size} px; raise the image size or pick another model")
    train_arm = _train_network if task.arm.network else _train_classical
    fields = train_arm(task, info, schema.image_size)
    return {"image_size": schema.image_size, "channels": schema.channels, "num_classes": schema.num_classes,
            "dataset_hash": info.content_hash, "train_images": len(info.train), "val_images": len(info.val),
            "test_images": len(info.test), **fields, "seconds": time.perf_counter() - started}


def _train_network(task: TaskSpec, info: DatasetInfo, image_size: int) -> dict[str, Any]:
    pretrained = task.arm.pretrained
    weights = weights_for(task.arm.model) if pretrained else None
    state = load_pretrained_state(task.arm.model) if pretrained else None  # once: every attempt starts from it
    data = _tensor_data(info, image_size, task.device, use_imagenet_stats=pretrained)
    schema = info.schema(image_size)

    def attempt(batch_size: int) -> tuple[TrainOutcome, nn.Module]:
        torch.manual_seed(task.seed)  # each attempt starts from the same weights
        model = build_model(CATALOGUE[task.arm.model], schema, pretrained_state=state, probe=task.arm.probe)
        _emit({"event": "start", "arm": task.arm.name, "device": str(task.device), "batch_size": batch_size,
               "pretrained": pretrained, "image_size": image_size, "train_images": len(info.train),
               "val_images": len(info.val)})
        outcome = train(model, data, task.recipe, Budget(task.epochs, task.max_seconds), batch_size=batch_size,
                        device=task.device, seed=task.seed, pretrained=pretrained, augment=task.augment,
                        on_epoch=_emit_epoch)
        return outcome, model

    if task.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(task.device)
    (outcome, model), batch_size, retries = with_smaller_batches(
        attempt, task.batch_size, on_retry=lambda size: _emit({"event": "oom", "batch_size": size}))
    test_accuracy = _test_accuracy(model, outcome, data, _test_tensors(info, image_size, task.device),
                                   outcome.batch_size)
    _save_checkpoint(task, info, image_size, data, outcome, pretrained, test_accuracy)
    return {"accuracy": outcome.best_accuracy, "test_accuracy": test_accuracy,
            "final_accuracy": outcome.final_accuracy, "best_epoch": outcome.best_epoch,
            "epochs_run": outcome.epochs_run, "stopped_by_time": outcome.stopped_by_time,
            "train_seconds": outcome.train_seconds, "images_per_second": outcome.images_per_second,
            "device_name": _device_name(task.device), "peak_memory_bytes": _peak_memory(task.device),
            "batch_size": outcome.batch_size, "oom_retries": retries, "pretrained": pretrained, "probe": task.arm.probe,
            "weights_sha256": weights.sha256 if weights else None, "weights_source": weights.source if weights else None,
            "checkpoint": CHECKPOINT_NAME}


def _train_classical(task: TaskSpec, info: DatasetInfo, image_size: int) -> dict[str, Any]:
    """A scikit-learn learner on the pixels: one fit, no epochs; the model is saved as skops (never a pickle)."""
    from .classical import MODEL_NAME, save_classical, train_classical  # sklearn: only classical tasks import it

    image_size = min(image_size, CLASSICAL_MAX_SIZE)  # what the learner sees: decoding larger only costs memory
    images = decoded_images(info, image_size)
    train_set, val_set = _rows(info, images, info.train), _rows(info, images, info.val)
    test_set = _rows(info, images, info.test) if info.test else (None, None)
    _emit({"event": "start", "arm": task.arm.name, "device": "cpu", "image_size": image_size,
           "train_images": len(info.train), "val_images": len(info.val)})
    outcome = train_classical(task.arm.model, *train_set, *val_set, *test_set, seed=task.seed, threads=task.threads)
    save_classical(task.output_dir / MODEL_NAME, outcome, classes=list(info.classes), image_size=image_size,
                   channels=info.stats.channels, dataset_hash=info.content_hash,
                   extra={"test_images": len(info.test), "seed": task.seed})
    # one "epoch" line, so progress displays show the fit's outcome like a network's
    _emit({"event": "epoch", "epoch": 1, "epochs": 1, "loss": None, "val_accuracy": outcome.val_accuracy,
           "images_per_second": len(info.train) / max(outcome.train_seconds, 1e-9), "seconds": outcome.train_seconds})
    return {"accuracy": outcome.val_accuracy, "test_accuracy": outcome.test_accuracy,
            "final_accuracy": outcome.val_accuracy, "best_epoch": 1, "epochs_run": 1, "stopped_by_time": False,
            "train_seconds": outcome.train_seconds,
            "images_per_second": len(info.train) / max(outcome.train_seconds, 1e-9),
            "device_name": _device_name(torch.device("cpu")), "peak_memory_bytes": _peak_memory(torch.device("cpu")),
            "batch_size": len(info.train), "oom_retries": 0, "pretrained": False, "image_size": image_size,
            "checkpoint": MODEL_NAME}


def _test_accuracy(model: nn.Module, outcome: TrainOutcome, data: TensorData,
                   test: tuple[torch.Tensor, torch.Tensor] | None, batch_size: int) -> float | None:
    """The selected (best-validation) weights on the test split, which selection never saw."""
    if test is None:
        return None
    model.load_state_dict(outcome.best_state)
    return evaluate(model, replace(data, x_val=test[0], y_val=test[1]), batch_size * 2, None)


def with_smaller_batches(attempt: Callable[[int], T], batch_size: int, on_retry: Callable[[int], None],
                         max_retries: int = MAX_OOM_RETRIES) -> tuple[T, int, int]:
    """Run attempt(batch_size); on CUDA out-of-memory retry with half the batch. Returns (value, batch, retries)."""
    retries = 0
    while True:
        try:
            return attempt(batch_size), batch_size, retries
        except torch.OutOfMemoryError as error:
            message = str(error).splitlines()[0] if str(error) else "out of memory"
        # outside the except block: the traceback's frames (and their tensors) are released before emptying caches
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if retries == max_retries or batch_size == 1:
            raise OutOfMemory(f"out of device memory at batch size {batch_size} after {retries} retries with "
                              f"smaller batches ({message}); use a smaller model or image size, or a device with "
                              "more free memory")
        batch_size, retries = max(1, batch_size // 2), retries + 1
        on_retry(batch_size)


def _tensor_data(info: DatasetInfo, image_size: int, device: torch.device, use_imagenet_stats: bool) -> TensorData:
    images = decoded_images(info, image_size)
    x_train, y_train = _tensors(info, images, info.train)
    channels = info.stats.channels
    if use_imagenet_stats:  # pretrained weights expect ImageNet's statistics (their mean over RGB for grey)
        mean = torch.tensor(IMAGENET_MEAN if channels == 3 else [sum(IMAGENET_MEAN) / 3])
        std = torch.tensor(IMAGENET_STD if channels == 3 else [sum(IMAGENET_STD) / 3])
    else:
        pixels = x_train.transpose(0, 1).reshape(channels, -1).float() / 255.0
        mean, std = pixels.mean(dim=1), pixels.std(dim=1).clamp_min(1e-3)
    x_val, y_val = _tensors(info, images, info.val)
    return TensorData(x_train=x_train.to(device), y_train=y_train.to(device), x_val=x_val.to(device),
                      y_val=y_val.to(device), mean=mean.view(1, -1, 1, 1).to(device),
                      std=std.view(1, -1, 1, 1).to(device))


def _test_tensors(info: DatasetInfo, image_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor] | None:
    if not info.test:
        return None
    return _tensors(info, decoded_images(info, image_size), info.test, device)


def _tensors(info: DatasetInfo, images: np.ndarray, paths: Sequence[str], device: torch.device | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _rows(info, images, paths)
    x_tensor, y_tensor = torch.from_numpy(x), torch.from_numpy(y)
    return (x_tensor, y_tensor) if device is None else (x_tensor.to(device), y_tensor.to(device))


def _rows(info: DatasetInfo, images: np.ndarray, paths: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The decoded images of `paths` (manifest order in `images`) and their int64 labels."""
    index = {entry.path: i for i, entry in enumerate(info.manifest)}
    return images[[index[p] for p in paths]], np.asarray(info.labels(paths), dtype=np.int64)


def _save_checkpoint(task: TaskSpec, info: DatasetInfo, image_size: int, data: TensorData, outcome: TrainOutcome,
                     pretrained: bool, test_accuracy: float | None) -> None:
    checkpoint = {"arm": task.arm.name, "state_dict": outcome.best_state, "classes": list(info.classes),
                  "image_size": image_size, "channels": info.stats.channels,
                  "mean": data.mean.flatten().tolist(), "std": data.std.flatten().tolist(),
                  "accuracy": outcome.best_accuracy, "test_accuracy": test_accuracy, "test_images": len(info.test),
                  "epoch": outcome.best_epoch, "pretrained": pretrained, "small_stem": small_input(image_size),
                  "dataset_hash": info.content_hash}
    write_atomically(task.output_dir / CHECKPOINT_NAME, lambda out: torch.save(checkpoint, out))


def _write_result(output_dir: Path, result: Mapping[str, Any]) -> None:
    write_atomically(output_dir / RESULT_NAME, lambda out: out.write(json.dumps(result, indent=1).encode()))


def _emit(event: Mapping[str, Any]) -> None:
    print(json.dumps(event), flush=True)


def _emit_epoch(report: EpochReport) -> None:
    _emit({"event": "epoch", **vars(report)})


def _install_signal_handlers() -> None:
    def terminate(signum: int, frame: object) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)


def _block_termination() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())


def _peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
