"""A running task's progress read from the latest line its run recorded (pure Python: no Qt).

`easeml-gui run` stores one line per finished epoch as the task's log_tail (commands/run.py, Progress.tick):
"epoch 2/5  loss 0.412  val 0.8125  1,234 img/s" (a classical fit has no loss). Anything else (a task that
has not finished an epoch yet, a simulated one) has no progress to show as a bar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_EPOCH = re.compile(r"\bepoch (\d+)/(\d+)\b.*?\bval (\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class EpochProgress:
    epoch: int
    epochs: int
    val_accuracy: float

    @property
    def text(self) -> str:
        return f"epoch {self.epoch} of {self.epochs} · val {self.val_accuracy:.3f}"


def parse_progress(line: str | None) -> EpochProgress | None:
    match = _EPOCH.search(line or "")
    if match is None or int(match.group(2)) <= 0:
        return None
    return EpochProgress(int(match.group(1)), int(match.group(2)), float(match.group(3)))
