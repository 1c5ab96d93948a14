"""A running task's progress read from the latest line its run recorded (pure Python: no Qt).

`easeml-gui run` stores a running task's latest line as its log_tail (commands/run.py, Progress.tick): one per
finished epoch, "epoch 2/5  loss 0.412  val 0.8125  1,234 img/s" (a classical fit has no loss); while a small
validation split is cross-validated each line names its fold: "fold 1/4  epoch 2/2 ... val ...", then the further
folds' epochs "fold 2/4  epoch 1/2  loss 0.300 ..." (not validated) and ends "fold 2/4  val 0.9500 ...". Anything
else (a task that has not finished an epoch yet, a refit, a simulated one) has no progress to show as a bar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FOLD = re.compile(r"\bfold (\d+)/(\d+)\b")
_EPOCH = re.compile(r"\bepoch (\d+)/(\d+)\b")
_VAL = re.compile(r"\bval (\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class EpochProgress:
    """Epoch `epoch` of `epochs` (0 of 0: a fold's line without epochs, at its end) of fold `fold` of `folds` (1 of
    1: not cross-validating); the validation accuracy the line reports (None: a further fold's epoch)."""

    epoch: int
    epochs: int
    val_accuracy: float | None
    fold: int = 1
    folds: int = 1

    @property
    def text(self) -> str:
        where = ", ".join(([f"fold {self.fold} of {self.folds}"] if self.folds > 1 else [])
                          + ([f"epoch {self.epoch} of {self.epochs}"] if self.epochs else []))
        return where if self.val_accuracy is None else f"{where} · val {self.val_accuracy:.3f}"

    @property
    def steps(self) -> tuple[int, int]:
        """(done, total) for a progress bar: every fold counted as long as the current one."""
        per_fold = max(self.epochs, 1)
        done_in_fold = min(self.epoch, self.epochs) if self.epochs else per_fold
        return (self.fold - 1) * per_fold + done_in_fold, self.folds * per_fold


def parse_progress(line: str | None) -> EpochProgress | None:
    fold, epoch, val = (pattern.search(line or "") for pattern in (_FOLD, _EPOCH, _VAL))
    fold_of = (int(fold.group(1)), int(fold.group(2))) if fold is not None and int(fold.group(2)) > 1 else (1, 1)
    epoch_of = (int(epoch.group(1)), int(epoch.group(2))) if epoch is not None else (0, 0)
    if epoch_of[1] <= 0 and fold_of[1] == 1:
        return None  # neither an epoch nor a fold to count
    return EpochProgress(*epoch_of, None if val is None else float(val.group(1)), *fold_of)
