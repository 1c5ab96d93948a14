"""The lab that runs for days: the engine's scheduler driven against the store and a real executor.

Every transition is persisted before it happens (decision, then running, then the result and its observation
in one transaction), so a crash at any line leaves a state the next start resumes from: finished observations
are replayed into the GPs (replay_tasks, the one rule by which a restart and `status` read the store), tasks a
crash interrupted run again first, and numbering continues.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Mapping

import numpy as np

from .engine.policies import get_policy
from .engine.ports import Executor
from .engine.prior import CostModel, JobWork, Prior, WorkCostModel
from .engine.reference_prior import combined_prior
from .engine.scheduler import Scheduler, SchedulerHooks
from .engine.selection import ModelSelection
from .engine.types import Arm, Decision, Job, Observation, Task, TaskResult, TaskState
from .ensembles import NewRun, load_predictions, tenant_delivery
from .store import DatasetRecord, JobRecord, JobState, LabReader, LabStore, TaskRecord
from .store.records import ReplayedTask, TenantDelivery
from .training.arms import (UnknownArm, all_arm_names, arm_regimes, arm_spec, speed_groups, training_gflop,
                           training_memory_mib)
from .training.catalogue import Schema

_log = logging.getLogger(__name__)
REFRESH_SECONDS = 1.0  # how often tenants and jobs added or changed while running are picked up


@dataclass
class LabEvents:
    """What the run reports as it goes (the terminal prints them; the GUI bridge turns them into signals)."""

    on_decision: Callable[[Decision, Task], None] = lambda decision, task: None
    on_result: Callable[[TaskResult, Observation | None], None] = lambda result, observation: None
    on_job_done: Callable[[JobRecord], None] = lambda job: None
    on_tick: Callable[[], None] = lambda: None  # once per pass of the loop (about every `poll` seconds)
    on_resume: Callable[[Task], None] = lambda task: None  # a task decided before a restart starts (again)
    on_idle: Callable[[str], None] = lambda why: None  # work is left, but no device takes any of it now: why
    on_adopt: Callable[[Task], None] = lambda task: None  # a task an earlier run started still runs: re-attached


def lab_prior(store: LabReader, jobs: list[JobRecord]) -> tuple[Prior, CostModel, dict[str, int]]:
    """A prior over every arm of `jobs`, learned from the lab's finished jobs (history matrix); the mapping gives
    each arm name its prior column.

    Only jobs that had ended when the oldest of `jobs` was created count: a job finishing while others run does
    not change their prior, so a restart (after Ctrl-C or a crash) fits the prior the first start fitted and the
    seed implies the same decisions. Jobs added later learn from everything finished before them."""
    history = store.history_matrix(ended_by=min((job.created for job in jobs), default=None))
    # Every arm there is gets a column, so a job added while the lab runs finds its arms in the prior.
    names = list(dict.fromkeys([*history.arms, *(a.name for job in jobs for a in job.arms), *all_arm_names()]))
    column = {name: i for i, name in enumerate(names)}
    quality = np.full((len(history.datasets), len(names)), np.nan)
    cost = np.full_like(quality, np.nan)
    for j, arm in enumerate(history.arms):
        quality[:, column[arm]] = history.quality[:, j]
        cost[:, column[arm]] = history.cost[:, j]
    # the lab's history, with published results where it has few
    prior = combined_prior(quality, names, families=arm_regimes(names))
    return prior, CostModel.from_history(cost, len(names)), column


def latest_jobs(store: LabReader, states: tuple[JobState, ...] = (JobState.ACTIVE,)) -> list[JobRecord]:
    """Each tenant's newest job in `states`, for tenants that are not archived, oldest job first."""
    tenants = {t.name for t in store.tenants()}
    latest: dict[str, JobRecord] = {}
    for state in states:
        for job in store.jobs(state):
            if job.tenant in tenants and (job.tenant not in latest or job.id > latest[job.tenant].id):
                latest[job.tenant] = job
    return sorted(latest.values(), key=lambda j: j.id)


def engine_job(job: JobRecord, column: dict[str, int], config: dict | None = None) -> Job:
    """The store's job as the engine sees it: its arms re-mapped onto the prior's columns."""
    return Job(job.tenant, tuple(Arm(a.name, column[a.name]) for a in job.arms), job.seed, config or {})


def job_work(job: JobRecord, dataset: DatasetRecord) -> JobWork | None:
    """What the job's arms train (train images x epochs, and each arm's training GFLOP over them), what the engine
    predicts a task's seconds from; None for a job that lacks a schema, a train split or arms the name space knows
    (its costs come from the lab's history instead)."""
    train = (dataset.split or {}).get("train")
    if not job.schema or not train:
        return None
    try:
        specs = [arm_spec(arm.name) for arm in job.arms]
    except UnknownArm:
        return None
    schema = Schema(**job.schema)
    gflop = tuple(training_gflop(spec, schema, len(train), job.epochs) for spec in specs)
    memory = tuple(training_memory_mib(spec, schema, len(train), job.epochs) for spec in specs)
    return JobWork(len(train) * job.epochs, gflop, memory)


class JobWorks:
    """job_work of each job, its dataset read once."""

    def __init__(self, store: LabReader) -> None:
        self._store = store
        self._work: dict[int, JobWork | None] = {}

    def __call__(self, job: JobRecord) -> JobWork | None:
        if job.id not in self._work:
            self._work[job.id] = job_work(job, self._store.dataset(job.dataset))
        return self._work[job.id]


def task_work(record: TaskRecord | ReplayedTask, job: JobRecord | None,
              work_of: Callable[[JobRecord], JobWork | None]) -> tuple[float, float] | None:
    """(samples, GFLOP) a finished task trained, what its seconds teach the cost model; None when it teaches
    nothing (not done, of no known job, or of a job without work figures)."""
    if record.state is not TaskState.DONE or job is None:
        return None
    work = work_of(job)
    arms = [arm.name for arm in job.arms]
    if work is None or record.arm.name not in arms:
        return None
    return work.samples, work.gflop[arms.index(record.arm.name)]


def learned_work_costs(store: LabReader) -> WorkCostModel:
    """The cost model as a run of this lab would start with it: taught by every finished task of every job."""
    costs = WorkCostModel(groups=speed_groups())
    jobs = {job.id: job for job in store.jobs()}
    work_of = JobWorks(store)  # read only for the jobs that have a finished task
    for record in store.tasks(TaskState.DONE):
        taught = task_work(record, jobs.get(record.job), work_of)
        if taught is not None:
            costs.observe(record.arm.name, *taught, record.device, record.cost)
    return costs


@dataclass(frozen=True)
class Replayed:
    """What replay_tasks leaves to its caller: the tasks that have not ended, in decision order."""

    unfinished: list[ReplayedTask]  # of the jobs replayed: pending in the selection (running, or to run again)
    orphaned: list[ReplayedTask]  # of jobs the selection does not hold (ended, replaced): nothing will run them


def replay_tasks(selection: ModelSelection, tasks: Iterable[ReplayedTask],
                 observations: Iterable[Observation], jobs: Mapping[str, JobRecord], column: Mapping[str, int],
                 learn_cost: Callable[[ReplayedTask], None] = lambda task: None) -> Replayed:
    """Tell `selection` what the store's tasks did, in decision order, as an unbroken run told it: the one rule by
    which a restarted run (LiveLab) and the regret estimate of `status` and the window (lab_upper_bounds) read the
    store, so the two never disagree. `jobs`: the job the selection holds for each tenant; `observations`: those
    jobs' observations; `column`: each arm's prior column.

    A task of a job the selection does not hold (ended, replaced) made its tenants wait all the same (the aging
    policies count that), and its seconds teach the cost model (`learn_cost`). A task of a job it holds:
      queued, running  pending: its result comes later (from a worker still running, or from its next attempt)
      done             its model's observation; a model done twice (re-run by hand) counts once, as its first result
      failed           retires its model, unless its worker was killed from outside (retryable) and the model has
                       retries left: then it may be handed out again
      cancelled        served, then handed back: its model may be decided again
    """
    first: dict[tuple[str, str], Observation] = {}
    for obs in observations:
        first.setdefault((obs.tenant, obs.arm.name), obs)
    unfinished, orphaned = [], []
    for task in sorted(tasks, key=lambda t: _task_number(t.task_id)):
        job = jobs.get(task.tenant)
        if job is None or task.job != job.id:
            selection.replay_elsewhere()
            learn_cost(task)
            if not task.state.finished:
                orphaned.append(task)
            continue
        arm = Arm(task.arm.name, column[task.arm.name])
        if not task.state.finished:
            selection.restore_pending(task.tenant, arm)
            unfinished.append(task)
        elif task.state is TaskState.DONE:
            obs = first.pop((task.tenant, task.arm.name), None)
            if obs is not None:  # its device and refit seconds teach the cost model as they did when it ended
                selection.replay(task.tenant, arm, obs.quality, obs.cost, obs.time, task.device,
                                 task.refit_seconds)
        elif task.state is TaskState.FAILED:
            selection.replay_failure(task.tenant, arm, task.cost, task.retryable)
        else:
            selection.replay_cancelled(task.tenant)
    return Replayed(unfinished, orphaned)


def lab_upper_bounds(store: LabReader) -> dict[str, float]:
    """Per tenant, the highest quality its newest job may still reach: the GP's upper confidence bound on an
    untried model where that lies above the best observed (`status`'s regret estimate, ALGORITHM.md), the store
    replayed as a restarted run replays it. A finished job has tried every model: its bound is its best."""
    jobs = latest_jobs(store, (JobState.ACTIVE, JobState.DONE))
    bounds = {job.tenant: max((o.quality for o in store.observations(job=job.id)), default=0.0)
              for job in jobs if job.state is JobState.DONE}
    active = [job for job in jobs if job.state is JobState.ACTIVE]
    if not active:
        return bounds
    prior, costs, column = lab_prior(store, active)
    selection = ModelSelection(prior, get_policy("default"), np.random.default_rng(0), costs)
    for job in active:
        selection.add_job(store.tenant(job.tenant), engine_job(job, column))
    replay_tasks(selection, [task for job in active for task in store.tasks_to_replay(job=job.id)],
                 [obs for job in active for obs in store.observations(job=job.id)], {job.tenant: job for job in active},
                 column)
    for job in active:
        bounds[job.tenant] = selection.record(job.tenant).best + selection.optimistic_regret(job.tenant)
    return bounds


@dataclass
class LiveLab:
    store: LabStore
    executor: Executor
    policy: str = "default"
    seed: int = 0
    events: LabEvents = field(default_factory=LabEvents)
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        jobs = latest_jobs(self.store)
        prior, costs, self._column = lab_prior(self.store, jobs)
        self.selection = ModelSelection(prior, get_policy(self.policy), np.random.default_rng(self.seed), costs,
                                        WorkCostModel(groups=speed_groups()))
        self._jobs: dict[str, JobRecord] = {}
        self._job_work = JobWorks(self.store)
        self.scheduler = Scheduler(self.selection, self.executor,
                                   SchedulerHooks(self._decided, self._submitting, self._started, self._ended))
        for job in jobs:
            self._add_job(job)
        adopted = self._adopt()
        backlog = self.store.recover(adopted)  # tasks a crash interrupted and nobody runs: queued, to run first
        self._resumed = {record.task_id for record in backlog}  # announced again when they start
        self._resume(backlog)
        for tenant in list(self._jobs):
            self._finish_if_complete(tenant)  # a crash came between a job's last result and marking it done
        self._last_refresh = self.clock()

    # ---- building the selection from the store ----------------------------------------------------------
    def _add_job(self, job: JobRecord) -> bool:
        """Add a job the prior knows every arm of; False if it needs a prior refit (a new arm)."""
        if any(a.name not in self._column for a in job.arms):
            return False
        # What the worker reads (TASK.json): the registered dataset's folder, epochs and image size of the job.
        config = {**job.to_job().config, "dataset": self.store.dataset(job.dataset).path}
        self.selection.add_job(self.store.tenant(job.tenant), engine_job(job, self._column, config),
                               self._job_work(job))
        self._jobs[job.tenant] = job
        return True

    def _learn_cost(self, record: ReplayedTask, jobs: dict[int, JobRecord]) -> None:
        """A finished task of a job no longer run (done, replaced): its seconds teach the cost model at every start,
        as they did when it ended, so a restarted run prices tasks as the unbroken one."""
        taught = task_work(record, jobs.get(record.job), self._job_work)
        if taught is not None:
            self.selection.observe_cost(record.arm.name, *taught, record.device, record.cost)

    def _adopt(self) -> set[str]:
        """Offer the executor the tasks an earlier run left running, of jobs still run: those it still finds
        running (or ended unseen) are watched again instead of run twice. Their workers must be told apart from
        any other leftovers of the executor, which it stops."""
        current = {job.id for job in self._jobs.values()}
        wanted = [(replace(record.to_task(), arm=Arm(record.arm.name, self._column[record.arm.name])),
                   record.location) for record in self.store.tasks(TaskState.RUNNING)
                  if record.location is not None and record.job in current]
        adopted = self.executor.adopt(wanted)
        for task, _ in wanted:
            if task.task_id in adopted:
                self.events.on_adopt(task)
        return adopted

    def _resume(self, backlog: list[TaskRecord]) -> None:
        """Replay what earlier runs decided (replay_tasks): outcomes into the GPs, adopted tasks as pending (their
        results come through wait() as usual), interrupted ones (`backlog`: queued by recover) as pending and into
        the backlog. The selection then stands where an uninterrupted run would, so the seed implies the same
        decisions from here on."""
        tasks = self.store.tasks_to_replay()
        self.scheduler.next_task_number = max((_task_number(t.task_id) for t in tasks), default=0) + 1
        jobs = {job.id: job for job in self.store.jobs()}
        observations = [obs for job in self._jobs.values() for obs in self.store.observations(job=job.id)]
        replayed = replay_tasks(self.selection, tasks, observations, self._jobs, self._column,
                                lambda task: self._learn_cost(task, jobs))
        interrupted = {record.task_id: record for record in backlog}
        for task in replayed.orphaned:  # its job ended or was replaced meanwhile
            self.store.task_state(interrupted[task.task_id].to_task(), TaskState.CANCELLED)
        self.scheduler.backlog.extend(replace(interrupted[task.task_id].to_task(),
                                              arm=Arm(task.arm.name, self._column[task.arm.name]))
                                      for task in replayed.unfinished if task.task_id in interrupted)

    def refresh(self) -> None:
        """Pick up tenants' new weights, quotas and pauses, and jobs added or cancelled while the lab runs."""
        self._stop_cancelled_jobs()
        for tenant in self.store.tenants():
            if tenant.name in self._jobs and tenant != self.selection.record(tenant.name).tenant:
                used = self.store.used_seconds().get(tenant.name, 0.0)
                self.selection.update_tenant(tenant)
                self.selection.record(tenant.name).used_seconds = used
        for job in latest_jobs(self.store):
            if job.tenant not in self._jobs:
                self._add_job(job)  # a job over arms outside the catalogue and the history waits for the next start

    def _stop_cancelled_jobs(self) -> None:
        active = [job for job in self._jobs.values() if job.state is JobState.ACTIVE]
        states = self.store.job_states([job.id for job in active])
        for job in active:
            if states.get(job.id) is JobState.CANCELLED:
                self._stop(job)

    def _stop(self, job: JobRecord) -> None:
        """A job cancelled while the lab runs (`job cancel`): its tenant is never served again, its queued tasks
        (this run's backlog) are dropped and its running ones cancelled; their results come back as cancelled."""
        self.selection.retire(job.tenant)
        self._jobs[job.tenant] = self.store.job(job.id)  # not active: never marked done
        for task in [task for task in self.scheduler.backlog if task.tenant == job.tenant]:
            self.scheduler.backlog.remove(task)
            self.store.task_state(task, TaskState.CANCELLED)
        for task in self.executor.running():
            if task.tenant == job.tenant:
                self.executor.cancel(task.task_id)

    # ---- persistence hooks -------------------------------------------------------------------------------
    def upper_bounds(self) -> dict[str, float]:
        """Per tenant of this run, the highest quality its job may still reach as the engine believes it now: the
        best observed plus the GP's optimistic regret (lab_upper_bounds replays the same from the store)."""
        return {rec.tenant.name: rec.best + self.selection.optimistic_regret(rec.tenant.name)
                for rec in self.selection.records}

    def _decided(self, decision: Decision, task: Task) -> None:
        # `status`'s estimate with this moment's bounds, kept with the decision: the window's regret curve then
        # shows what was believed when, and does not move when later results arrive.
        estimate = self.store.status(self.upper_bounds())["global_regret_estimate"]
        self.store.record_decision(decision, task.task_id, estimate)
        self.events.on_decision(decision, task)

    def _submitting(self, task: Task) -> None:
        self.store.task_state(task, TaskState.RUNNING)
        if task.task_id in self._resumed:
            self.events.on_resume(task)

    def _started(self, task: Task) -> None:
        self.store.task_location(task.task_id, self.executor.location(task.task_id))

    def _ended(self, result: TaskResult, observation: Observation | None) -> None:
        predictions, delivery = self._delivery_with(result, observation)
        self.store.record_result(result, observation, predictions=predictions, delivery=delivery)
        self.events.on_result(result, observation)
        self._finish_if_complete(result.tenant)

    def _delivery_with(self, result: TaskResult, observation: Observation | None
                       ) -> tuple[bytes | None, TenantDelivery | None]:
        """A done task's class probabilities and what its tenant receives once they are recorded (ensembles.py);
        (None, None) for a task without them. Choosing cannot lose the result: a failure only costs the ensemble."""
        if observation is None:
            return None, None
        predictions = load_predictions(result.details.get("folder"), result.details.get("predictions"))
        record = self.store.task(result.task_id)  # its own job's dataset: the rows its probabilities index
        if predictions is None or record.job is None:
            return None, None
        dataset = self.store.dataset(self.store.job(record.job).dataset)
        new = NewRun(result.task_id, result.arm.name, observation.quality, result.selection_seconds, predictions)
        try:
            return predictions.to_bytes(), tenant_delivery(self.store, result.tenant, dataset.content_hash, new)
        except ValueError as error:  # e.g. runs that scored no image in common: the single-model rule stays
            _log.warning("no ensemble for %s after task %s: %s", result.tenant, result.task_id, error)
            return predictions.to_bytes(), None

    def _finish_if_complete(self, tenant: str) -> None:
        """Every model of the tenant's job has a result: the job is done (and teaches later jobs' priors)."""
        job = self._jobs.get(tenant)
        rec = self.selection.record(tenant)
        if job is not None and job.state is JobState.ACTIVE and len(rec.posterior.arms) + len(rec.failed) == rec.n_arms:
            self._jobs[tenant] = self.store.set_job_state(job.id, JobState.DONE)
            self.events.on_job_done(self._jobs[tenant])

    # ---- the loop --------------------------------------------------------------------------------------------
    def run(self, max_tasks: int | None = None, should_stop: Callable[[], bool] = lambda: False, poll: float = 0.5) -> int:
        """Keep every device busy until no work is left, `max_tasks` ended, or `should_stop()`; returns tasks ended."""
        scheduler = self.scheduler
        idle = False
        while not should_stop():
            self.events.on_tick()
            if self.clock() - self._last_refresh >= REFRESH_SECONDS:
                self.refresh()
                self._last_refresh = self.clock()
            remaining = None if max_tasks is None else max_tasks - scheduler.tasks_finished - len(self.executor.running())
            if remaining is None or remaining > 0:
                scheduler.fill_devices(remaining)
            if not self.executor.running():
                if max_tasks is not None and scheduler.tasks_finished >= max_tasks:
                    break
                if not self.selection.has_work() and not scheduler.backlog:
                    break
                if not idle:
                    self.events.on_idle(self._why_idle())
                idle = True
                time.sleep(poll)  # wait for changes: a tenant resumed, a quota raised, a job added
                continue
            idle = False
            scheduler.collect(poll)
        return scheduler.tasks_finished

    def _why_idle(self) -> str:
        if not self.executor.devices():
            return "no device takes a task now (its hosts are away, or resting after a failed start)"
        if self.selection.snapshot().eligible.any():
            return "the models left do not fit the free memory of any GPU offered now"
        return ("the tenants with models left are paused or over their quota (see `easeml-gui tenant list`; "
                "`tenant resume NAME`, `tenant set NAME --no-quota`)")

    def stop(self, cancel_now: Callable[[], bool], poll: float = 0.5) -> None:
        """After the loop stopped: wait for the running tasks to finish (recorded as done), cancelling them
        (recorded as cancelled) once `cancel_now()` says so."""
        cancelled = False
        while self.executor.running():
            if not cancelled and cancel_now():
                for task in list(self.executor.running()):
                    self.executor.cancel(task.task_id)
                cancelled = True
            self.scheduler.collect(poll)


def _task_number(task_id: str) -> int:
    """Task ids are t000001, t000002, ... in decision order."""
    return int(task_id[1:]) if task_id[1:].isdigit() else 0
