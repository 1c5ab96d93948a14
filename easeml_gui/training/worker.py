"""`python -m easeml_gui.training.worker TASK.json`: train and evaluate one arm on one device, report, exit.

The files and events are the wire contract (training/wire.py): TASK.json in, progress lines on stdout, result.json
out, written atomically; its fields are wire.TaskOutcome's (state "done" | "failed" | "cancelled", the error of a
failed or cancelled task, the seconds of the whole task, and when done the accuracy and how it was reached).
The checkpoint: best.pt for a network (training/network_task.py), model.skops for a classical arm
(training/classical_task.py).
Exit codes: 0 done; 1 failed (result.json says why); 2 TASK.json unusable (stderr says why, no result.json);
            143 stopped by SIGTERM or SIGINT (result.json state "cancelled").

This module is torch-free: a classical task never imports torch (it would cost more than the fit), and blocks it so
that no library pulls it in behind its back (skops lists every scikit-learn module, one of which imports torch).
"""

from __future__ import annotations

import importlib.abc
import platform
import resource
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from .arms import ArmSpec, arm_spec
from .catalogue import AUGMENTATIONS, CATALOGUE
from .datasets import DatasetInfo, load_dataset
from .errors import DatasetError, TrainingError
from .wire import (CANCELLED, DONE, EXIT_BAD_TASK, EXIT_DONE, EXIT_FAILED, EXIT_TERMINATED, FAILED, BadTask, End,
                   TaskOutcome, TaskRequest, emit, write_result)


class Terminated(BaseException):
    """Raised by the SIGTERM/SIGINT handler; a BaseException so no `except Exception` swallows it."""


def main(argv: list[str]) -> int:
    started = time.perf_counter()
    _install_signal_handlers()
    if len(argv) != 1:
        print("usage: python -m easeml_gui.training.worker TASK.json", file=sys.stderr)
        return EXIT_BAD_TASK
    try:
        request = TaskRequest.read(Path(argv[0]))
        arm = _checked_arm(request)
        Path(request.output_dir).mkdir(parents=True, exist_ok=True)
    except (OSError, BadTask) as error:
        print(f"worker: unusable task file {argv[0]}: {error}", file=sys.stderr)
        return EXIT_BAD_TASK
    except Terminated:
        return EXIT_TERMINATED
    base = {"task_id": request.task_id, "arm": arm.name, "device": request.device, "seed": request.seed,
            "python": platform.python_version()}
    folder = Path(request.output_dir)
    try:
        outcome = TaskOutcome(state=DONE, **{**base, **run(request, arm, started)})
        _block_termination()  # from here on the task is done: a late SIGTERM must not turn it into "cancelled"
        write_result(folder, outcome)
        emit(End(state=DONE, accuracy=outcome.accuracy))
        return EXIT_DONE
    except Terminated:
        _block_termination()
        write_result(folder, TaskOutcome(state=CANCELLED, error="stopped by a termination signal",
                                         seconds=time.perf_counter() - started, **base))
        emit(End(state=CANCELLED))
        return EXIT_TERMINATED
    except Exception as error:  # every failure ends as a result the executor can report, with its reason
        _block_termination()
        known = isinstance(error, (DatasetError, TrainingError, FileNotFoundError))
        reason = str(error) if known else f"{type(error).__name__}: {error}"
        if not known:
            traceback.print_exc()  # to stderr: the executor's log tail
        write_result(folder, TaskOutcome(state=FAILED, error=reason, seconds=time.perf_counter() - started, **base))
        emit(End(state=FAILED, error=reason))
        return EXIT_FAILED


def _checked_arm(request: TaskRequest) -> ArmSpec:
    try:
        arm = arm_spec(request.arm)
    except ValueError as error:
        raise BadTask(str(error)) from None
    unknown = set(request.augment or ()) - set(AUGMENTATIONS)
    if unknown:
        raise BadTask(f"unknown augmentation {sorted(unknown)}; use any of {list(AUGMENTATIONS)}")
    if not arm.network and request.device != "cpu":
        raise BadTask(f"{arm.name} is a classical learner and runs on the CPU only, not on {request.device}")
    return arm


def run(request: TaskRequest, arm: ArmSpec, started: float) -> dict[str, Any]:
    """Train the arm and write its model into the task folder; returns the result fields (wire.TaskOutcome's)."""
    info = load_dataset(Path(request.dataset))
    schema = info.schema(request.image_size)
    if not arm.fits(schema):
        raise TrainingError(f"{arm.name} needs images of at least {CATALOGUE[arm.model].min_size} px, the task "
                            f"trains at {schema.image_size} px; raise the image size or pick another model")
    fields = _train(request, arm, info, schema.image_size, started)
    return {"image_size": schema.image_size, "channels": schema.channels, "num_classes": schema.num_classes,
            "dataset_hash": info.content_hash, "train_images": len(info.train), "val_images": len(info.val),
            "test_images": len(info.test), "device_name": platform.processor() or platform.machine(),
            "peak_memory_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,  # Linux: KiB
            **fields, "seconds": time.perf_counter() - started}


def _train(request: TaskRequest, arm: ArmSpec, info: DatasetInfo, image_size: int,
           started: float) -> dict[str, Any]:
    if arm.network:
        from .network_task import train_network  # torch: only network tasks import it
        return train_network(request, arm, info, image_size, started)
    sys.meta_path.insert(0, _NoTorch())
    from .classical_task import train_classical_arm
    return train_classical_arm(request, arm, info, image_size)


class _NoTorch(importlib.abc.MetaPathFinder):
    """Makes `import torch` fail as if torch were not installed (every library here copes with that)."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ImportError(f"{name} is not used by a classical task")
        return None


def _install_signal_handlers() -> None:
    def terminate(signum: int, frame: object) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)


def _block_termination() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
