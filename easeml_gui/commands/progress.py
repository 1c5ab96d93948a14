"""Progress bars for the command line's long steps, drawn by tqdm on stderr when stderr is a terminal; nothing at all
otherwise (a pipe, a file, a cron job's log), so what scripts read stays exactly as it was. The layers below take a
plain callback (training.datasets.ProgressCallback, engine.simulate's progress) and never import tqdm."""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from tqdm import tqdm

from ..training.datasets import ProgressCallback

TICK_S = 0.5  # how often a step that counts nothing (an archive's extraction) shows its elapsed time


@contextmanager
def stage_bars(labels: dict[str, str], unit: str = "file") -> Iterator[ProgressCallback | None]:
    """A `progress(done, total, stage)` callback drawing one bar per stage (named by `labels`, else by the stage
    itself) that counts `unit`, or None where stderr is not a terminal. A stage ends when the next one starts: its
    bar is filled; the bar of a step that fails stays where it stopped."""
    if not sys.stderr.isatty():
        yield None
        return
    bars = _StageBars(labels, unit)
    try:
        yield bars
        bars.finish()
    finally:
        bars.close()


@contextmanager
def counted_bar(label: str, unit: str) -> Iterator[Callable[[int, int], None] | None]:
    """A `progress(done, total)` callback drawing one bar named `label` that counts `unit`, or None where stderr is
    not a terminal."""
    with stage_bars({"": label}, unit) as bars:
        yield None if bars is None else lambda done, total: bars(done, total, "")


class _StageBars:
    def __init__(self, labels: dict[str, str], unit: str) -> None:
        self._labels = labels
        self._unit = unit
        self._stage: str | None = None
        self._bar: tqdm | None = None
        self._ticker: tuple[threading.Event, threading.Thread] | None = None

    def __call__(self, done: int, total: int, stage: str) -> None:
        if stage != self._stage:
            self.finish()
            self.close()
            self._stage = stage
            # A step that counts nothing shows its elapsed time alone (a count that stays 0 would look stuck).
            self._bar = tqdm(total=total or None, desc=self._labels.get(stage, stage), unit=self._unit,
                             file=sys.stderr, dynamic_ncols=True, bar_format=None if total else "{desc}: {elapsed}")
            if not total:
                self._tick(self._bar)
        if self._bar is not None and total:
            self._bar.update(done - self._bar.n)

    def finish(self) -> None:
        """The current stage is done: its bar shows all of it."""
        if self._bar is not None and self._bar.total:
            self._bar.update(self._bar.total - self._bar.n)

    def close(self) -> None:
        if self._ticker is not None:
            stop, thread = self._ticker
            stop.set()
            thread.join()
            self._ticker = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _tick(self, bar: tqdm) -> None:
        """Redraw `bar` (its elapsed time) until the stage ends: tqdm redraws only when something is counted."""
        stop = threading.Event()

        def tick() -> None:
            while not stop.wait(TICK_S):
                bar.refresh()

        thread = threading.Thread(target=tick, name="progress-tick", daemon=True)
        thread.start()
        self._ticker = (stop, thread)
