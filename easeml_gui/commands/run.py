"""`easeml-gui run`: keep every device busy until every job is done, N tasks ended, or Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ..engine.policies import get_policy, policy_names
from ..engine.ports import Executor
from ..engine.types import Decision, Observation, Task, TaskResult, TaskState
from ..lab import datasets
from ..lab.executors import DevicesError
from ..lab.executors import open_executor as open_devices
from ..lab.runs import run_lock
from ..lab.stores import open_writer
from ..live_lab import LabEvents, LiveLab, latest_jobs
from ..store import EpochReport, JobRecord, LabStore
from ..store.summary import global_regret_estimate
from ..training import wire
from . import CommandError, UsageError, positive_int, seed_int
from .hosts import terminal_passphrase

_log = logging.getLogger(__name__)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run the lab: train the models the engine picks until every job is done",
        description="Runs the lab until every job is done or --max-tasks tasks ended. Ctrl-C stops handing out "
        "tasks and lets running ones finish (a second Ctrl-C cancels them; SIGTERM cancels them at once); a crash "
        "loses no finished work, and the next `run` resumes where this one stopped, re-attaching to tasks that "
        "are still training instead of training them again.",
    )
    p.add_argument("--devices", default="local",
                   help="local (every GPU here, else the CPU), HOST,... (registered hosts, `local` among them for "
                   "this machine too, e.g. local,box1,box2), or all (this machine and every ready host)")
    p.add_argument("--max-tasks", type=positive_int, default=None, help="stop after this many tasks ended")
    p.add_argument("--policy", default="default", help=f"one of: {', '.join(policy_names())}")
    p.add_argument("--on-interrupt", choices=("finish", "cancel", "detach"), default="finish",
                   help="what Ctrl-C does with running tasks: let them finish (default), cancel them, or detach "
                   "(they go on training; the next `run` re-attaches to them)")
    p.add_argument("--seed", type=seed_int, default=0, help="the engine's seed (tie-breaking, random policies)")
    p.set_defaults(handler=run_lab)


@contextmanager
def stop_requests() -> Iterator[list[int]]:
    """Ctrl-C (SIGINT) and SIGTERM become entries in the yielded list instead of exceptions, so a stop never lands
    in the middle of a store write or a worker's start; the loop looks at the list between steps. SIGINT is
    taken even where the shell started us with it ignored (a background job): the user asked for a run."""
    stops: list[int] = []
    previous = {signum: signal.signal(signum, lambda received, frame: stops.append(received))
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stops
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


ON_INTERRUPT = {"finish": "finish", "cancel": "are cancelled", "detach": "go on; the next run re-attaches"}


def open_executor(store: LabStore, spec: str, data_dir: Path) -> Executor:
    def skipped(host: str, why: str) -> None:
        _log.warning("leaving %s out of this run: %s", host, why)

    try:
        return open_devices(store, spec, data_dir, ask_passphrase=terminal_passphrase(), on_skip=skipped)
    except DevicesError as error:
        raise CommandError(f"--devices {spec}: {error}; nothing was started") from None


class Progress:
    """One line per decision, per epoch of a running task, and per ended task, with the lab's state: plain text
    that reads well live and in a log file."""

    def __init__(self, lab_state: Callable[[], str], executor: Executor,
                 remember: Callable[[str, EpochReport, str], None], note: Callable[[str, str], None]) -> None:
        self.lab_state = lab_state
        self.executor = executor
        self.remember = remember  # (task id, its epoch, the line printed): kept in the store, where the GUI reads it
        self.note = note  # (task id, the line printed) of progress that is no epoch of its curve: its latest line
        self.start = time.monotonic()
        self._offsets: dict[str, int] = {}  # per running task: how far its progress events were read

    def _stamp(self) -> str:
        seconds = int(time.monotonic() - self.start)
        return f"[{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}]"

    def decision(self, decision: Decision, task: Task) -> None:
        chosen = next(s for s in decision.scores if s.tenant == decision.tenant)
        print(f"{self._stamp()} {task.device:8} start {task.task_id} {decision.tenant}/{decision.arm.name}  (expects "
              f"{chosen.mean:.3f} ± {chosen.sigma:.3f} vs best {chosen.best:.3f}, ~{chosen.predicted_cost:.0f} s; "
              f"{decision.policy} score {chosen.acquisition:.3g})", flush=True)

    def adopt(self, task: Task) -> None:
        print(f"{self._stamp()} {task.device:8} re-attached to {task.task_id} {task.tenant}/{task.arm.name}  (an "
              "earlier run started it and it is still training: not run twice)", flush=True)

    def resume(self, task: Task) -> None:
        print(f"{self._stamp()} {task.device:8} start {task.task_id} {task.tenant}/{task.arm.name}  (again: a "
              f"restart found it unfinished; attempt {task.attempt})", flush=True)

    def idle(self, why: str) -> None:
        print(f"{self._stamp()} waiting: {why}; Ctrl-C stops", flush=True)

    def tick(self) -> None:
        """What running tasks did since the last tick (the worker's progress lines): epochs, folds, refits."""
        for task in self.executor.running():
            events, self._offsets[task.task_id] = self.executor.events(task.task_id,
                                                                      self._offsets.get(task.task_id, 0))
            for event in events:
                if isinstance(event, wire.Epoch):
                    self._epoch(task, EpochReport(event.epoch, event.epochs, event.val_accuracy, event.loss,
                                                  event.images_per_second), _fold(event))
                elif isinstance(event, wire.FoldEpoch):
                    self._line(task, f"{_fold(event)}epoch {event.epoch}/{event.epochs}  loss {event.loss:.3f}  "
                                     f"{event.images_per_second:,.0f} img/s")
                elif isinstance(event, wire.Fold):
                    self._line(task, f"{_fold(event)}val {event.val_accuracy:.4f}  (a small validation split: "
                                     "cross-validating)")
                elif isinstance(event, wire.Refit):
                    self._line(task, f"refit on train + validation ({event.fit_images} images, {event.epochs} "
                                     "epochs): the model the tenant gets")

    def _epoch(self, task: Task, report: EpochReport, fold: str) -> None:
        loss = "" if report.loss is None else f"  loss {report.loss:.3f}"  # none for a classical fit
        line = (f"{fold}epoch {report.epoch}/{report.epochs}{loss}  val {report.val_accuracy:.4f}  "
                f"{report.images_per_second or 0:,.0f} img/s")
        self._say(task, line)
        self.remember(task.task_id, report, line)

    def _line(self, task: Task, line: str) -> None:
        self._say(task, line)
        self.note(task.task_id, line)

    def _say(self, task: Task, line: str) -> None:
        print(f"{self._stamp()} {task.device:8}   {line}  {task.task_id} {task.tenant}/{task.arm.name}", flush=True)

    def result(self, result: TaskResult, observation: Observation | None) -> None:
        self._offsets.pop(result.task_id, None)
        if result.state is TaskState.DONE:
            what = f"done   accuracy {result.quality:.4f} in {result.cost:.0f}s"
        elif result.state is TaskState.FAILED:
            what = f"FAILED {result.error or ''}".strip()
        else:
            what = "cancelled"
        print(f"{self._stamp()} {result.device:8} {what:40} {result.task_id} {result.tenant}/{result.arm.name}"
              f"  | {self.lab_state()}", flush=True)

    def job_done(self, job: JobRecord) -> None:
        print(f"{self._stamp()} job {job.id} of {job.tenant} is done: every model was tried", flush=True)


def _fold(event: wire.Epoch | wire.FoldEpoch | wire.Fold) -> str:
    """"fold 2/4  " for an event of a cross-validating task (views/task_progress.py reads it), else ""."""
    return f"fold {event.fold}/{event.folds}  " if event.fold is not None else ""


def run_lab(args: argparse.Namespace) -> int:
    try:
        get_policy(args.policy)
    except KeyError as error:
        raise UsageError(str(error.args[0])) from None
    # Stops are taken from the first moment: a Ctrl-C or SIGTERM while the run opens its devices (a window's
    # Stop right after its Start) is a clean stop too, never a kill mid-setup.
    with stop_requests() as stops, open_writer(args.db) as store, run_lock(args.db):
        datasets.sweep_staging(args.data_dir)  # a killed `dataset add` leaves its staging: gone by the next start
        if not latest_jobs(store):
            print("no active jobs: add one with `easeml-gui job add --tenant NAME --dataset NAME`")
            return 0
        datasets.verify_active(store)
        executor = open_executor(store, args.devices, args.data_dir)

        def lab_state() -> str:
            records = lab.selection.records
            regret = global_regret_estimate(((r.tenant.name, r.tenant.weight, r.best) for r in records),
                                            lab.upper_bounds())
            best = [f"{r.tenant.name} {r.best:.3f}" for r in records if r.best_arm is not None]
            return (f"{lab.scheduler.tasks_finished} ended, regret estimate {regret:.3f}, best: "
                    + (", ".join(best) if best else "-"))

        progress = Progress(lab_state, executor, store.task_epoch, store.task_line)
        events = LabEvents(progress.decision, progress.result, progress.job_done, progress.tick, progress.resume,
                           progress.idle, progress.adopt)
        lab = LiveLab(store, executor, args.policy, args.seed, events)
        print(f"running {len(lab.selection.records)} job(s) on {', '.join(executor.devices())} with policy "
              f"{args.policy}; Ctrl-C stops (running tasks {ON_INTERRUPT[args.on_interrupt]})")
        ended = lab.run(args.max_tasks, should_stop=lambda: bool(stops))
        if stops and args.on_interrupt == "detach" and stops[0] == signal.SIGINT:
            _log.info("\nstopping: %d running task(s) go on training; the next `run` re-attaches to them",
                      len(executor.running()))
            executor.detach()
        elif stops:
            cancel = args.on_interrupt == "cancel" or stops[0] == signal.SIGTERM
            _log.info("\nstopping: %s %d running task(s)%s", "cancelling" if cancel else "waiting for",
                      len(executor.running()), "" if cancel else "; Ctrl-C again cancels them")
            lab.stop(cancel_now=lambda: cancel or len(stops) > 1)
            ended = lab.scheduler.tasks_finished
        executor.detach()  # nothing runs any more (or it goes on by request): connections to hosts are closed
        print(f"{ended} task(s) ended; `easeml-gui status` shows the lab, the next `run` resumes it")
    return 0
