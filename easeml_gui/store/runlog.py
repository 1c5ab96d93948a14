"""Writes of the live loop (engine/ports.Store): task transitions, results with their observation, decisions,
and recovery after a crash."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Collection

from ..engine.types import Decision, Observation, Task, TaskLocation, TaskResult, TaskState
from .errors import StoreError
from .ensembles import EnsembleReader
from .records import HOST_KEY, JOB_KEY, EpochReport, TaskRecord, TenantDelivery, scores_to_json, to_json

LOG_TAIL_CHARS = 4000

# Transitions task_state() may persist. DONE is reached only through record_result(), which stores the
# observation in the same transaction.
_NEXT: dict[TaskState | None, frozenset[TaskState]] = {
    None: frozenset({TaskState.QUEUED, TaskState.RUNNING}),
    TaskState.QUEUED: frozenset({TaskState.RUNNING, TaskState.FAILED, TaskState.CANCELLED}),
    TaskState.RUNNING: frozenset({TaskState.FAILED, TaskState.CANCELLED}),
}


class RunLog(EnsembleReader):
    def _task_row(self, task_id: str) -> dict[str, Any] | None:
        return self._row("SELECT * FROM tasks WHERE task_id = ?", (task_id,))

    def _job_of(self, task: Task) -> int | None:
        """The task's job: Task.config[JOB_KEY] (JobRecord.to_job puts it there), else the tenant's latest
        active job."""
        if task.config.get(JOB_KEY) is not None:
            return self.job(int(task.config[JOB_KEY])).id
        row = self._row("SELECT id FROM jobs WHERE tenant = ? AND state = 'active' ORDER BY id DESC LIMIT 1",
                        (task.tenant,))
        return None if row is None else row["id"]

    def task_state(self, task: Task, state: TaskState) -> None:
        """Persist a transition before it is acted upon. Repeating the current state is a no-op, so a resumed
        loop may re-persist safely."""
        state = TaskState(state)
        now = self._clock()
        with self._write():
            row = self._task_row(task.task_id)
            current = None if row is None else TaskState(row["state"])
            if current is state:
                return
            if state not in _NEXT.get(current, frozenset()):
                via = "; a task becomes done through record_result()" if state is TaskState.DONE else ""
                was = "new" if current is None else current.value
                raise StoreError(f"task {task.task_id}: cannot go from {was} to {state.value}{via}")
            if row is None:
                self._named_row("tenant", task.tenant)
                host = task.config.get(HOST_KEY)
                if host is not None:
                    self._named_row("host", host)
                self._insert("tasks", {
                    "task_id": task.task_id, "job": self._job_of(task), "tenant": task.tenant, "arm": task.arm.name,
                    "arm_index": task.arm.index, "state": state.value, "device": task.device, "host": host,
                    "seed": task.seed, "config": to_json(dict(task.config)), "created": now,
                    "started": now if state is TaskState.RUNNING else None, "ended": None,
                    "attempt": task.attempt,
                })
            elif state is TaskState.RUNNING:
                # A new attempt starts: the previous attempt's pid and directory no longer describe it.
                self._update("tasks", ("task_id", task.task_id), {
                    "state": state.value, "device": task.device, "started": now, "ended": None,
                    "attempt": max(row["attempt"], task.attempt), "worker_pid": None, "remote_dir": None,
                })
            else:
                self._update("tasks", ("task_id", task.task_id), {"state": state.value, "ended": now})

    def task_epoch(self, task_id: str, report: EpochReport, line: str) -> None:
        """An epoch the task's current attempt finished, and `line` (how `run` printed it) as its log tail. An
        epoch reported again (a re-attached run re-reads its progress) replaces the earlier row."""
        with self._write():
            row = self._task_row(task_id)
            if row is None:
                raise StoreError(f"unknown task {task_id!r}")
            self._insert("task_epochs", {"task_id": task_id, "attempt": row["attempt"], **asdict(report),
                                         "time": self._clock()}, replace=True)
            self._update("tasks", ("task_id", task_id), {"log_tail": line[-LOG_TAIL_CHARS:]})

    def task_line(self, task_id: str, line: str) -> None:
        """`line` (how `run` printed it) as the task's log tail: progress that adds no epoch to its curve (an
        epoch of a further cross-validation fold, a fold's end, a refit)."""
        with self._write():
            if self._task_row(task_id) is None:
                raise StoreError(f"unknown task {task_id!r}")
            self._update("tasks", ("task_id", task_id), {"log_tail": line[-LOG_TAIL_CHARS:]})

    def task_location(self, task_id: str, location: TaskLocation | None) -> None:
        """Where the running attempt lives: its host (None: this machine), task folder and worker pid."""
        if location is None:
            return
        with self._write():
            if self._task_row(task_id) is None:
                raise StoreError(f"unknown task {task_id!r}")
            if location.host is not None:
                self._named_row("host", location.host)
            self._update("tasks", ("task_id", task_id), {"host": location.host, "remote_dir": location.folder,
                                                         "worker_pid": location.pid})

    def record_result(self, result: TaskResult, observation: Observation | None, *, predictions: bytes | None = None,
                      delivery: TenantDelivery | None = None) -> None:
        """Persist a task's end and, when DONE, its observation, in one transaction: both or neither; with them its
        class probabilities (training/predictions.py's bytes) and what its tenant now receives (`delivery`, computed
        with this observation: store/ensembles.py).

        A task yields at most one result; reporting the same non-done end again only refreshes its details
        (an executor may report a cancellation the loop already persisted).
        """
        if (observation is not None) != (result.state is TaskState.DONE):
            raise StoreError(f"task {result.task_id}: an observation goes with a done task, and only with one")
        if not result.state.finished:
            raise StoreError(f"task {result.task_id}: a result must be done, failed or cancelled, not {result.state.value}")
        now = self._clock()
        ending = {"cost": max(0.0, float(result.cost)), "error": result.error,
                  "details": to_json(dict(result.details))}
        with self._write():
            row = self._task_row(result.task_id)
            if row is None:
                raise StoreError(f"unknown task {result.task_id!r}: persist it with task_state() before running it")
            current = TaskState(row["state"])
            if current.finished:
                if current is result.state and current is not TaskState.DONE:
                    self._update("tasks", ("task_id", result.task_id), ending)
                    return
                raise StoreError(f"task {result.task_id} already ended ({current.value}); a task yields one result")
            self._update("tasks", ("task_id", result.task_id), {"state": result.state.value, "ended": now, **ending})
            if observation is not None:
                if (observation.tenant, observation.arm.name) != (row["tenant"], row["arm"]):
                    raise StoreError(
                        f"task {result.task_id} trained {row['tenant']}/{row['arm']}, but its observation is for "
                        f"{observation.tenant}/{observation.arm.name}"
                    )
                self._insert("observations", {
                    "task_id": result.task_id, "job": row["job"], "tenant": observation.tenant,
                    "arm": observation.arm.name, "arm_index": observation.arm.index,
                    "quality": observation.quality, "cost": observation.cost, "time": observation.time,
                })
                if predictions is not None:
                    self._insert("task_predictions", {"task_id": result.task_id, "data": predictions})
                if delivery is not None:
                    self._record_delivery(observation.tenant, delivery, now)
            elif predictions is not None or delivery is not None:
                raise StoreError(f"task {result.task_id}: only a done task has predictions and a delivery")

    def _record_delivery(self, tenant: str, delivery: TenantDelivery, now: float) -> None:
        """The tenant's delivery, computed with the observation just inserted (its id is known only now)."""
        if delivery.tenant != tenant:
            raise StoreError(f"a delivery for {delivery.tenant} recorded with a result of {tenant}")
        latest = self._row("SELECT max(id) AS id FROM observations WHERE tenant = ?", (tenant,))
        self._insert("deliveries", {"tenant": tenant, "observation": latest["id"] if latest else 0,
                                    "members": delivery.members_json(), "val_accuracy": delivery.val_accuracy,
                                    "test_accuracy": delivery.test_accuracy, "images": delivery.images,
                                    "time": now}, replace=True)

    def record_decision(self, decision: Decision, task_id: str | None = None,
                        global_regret_estimate: float | None = None) -> None:
        """Keep a decision with the per-tenant numbers that justified it (mean, sigma, acquisition, cost, ...),
        the id of the task it starts (persisted by task_state() right after), which links it to its outcome, and
        the global regret estimate the lab believed when it decided (None: not known)."""
        with self._write():
            self._insert("decisions", {
                "time": decision.time, "device": decision.device, "tenant": decision.tenant,
                "arm": decision.arm.name, "arm_index": decision.arm.index, "policy": decision.policy,
                "explanation": scores_to_json(decision.scores), "task_id": task_id,
                "global_regret_estimate": global_regret_estimate,
            })

    def recover(self, adopted: Collection[str] = ()) -> list[TaskRecord]:
        """On start of a run: re-queue every task a previous run left running, except those the executor adopted
        (still running, or ended unseen: `wait` reports them); return the tasks now queued, to run first.

        Call it only from the process that runs the lab, before it starts, after offering the running tasks
        (tasks(TaskState.RUNNING)) to the executor. A re-queued task gets attempt + 1 and error "interrupted"; its
        worker_pid and remote_dir are kept until its next attempt starts. Afterwards only adopted tasks run.
        """
        keep = sorted(set(adopted))
        with self._write():
            self._conn.execute(
                "UPDATE tasks SET state = 'queued', attempt = attempt + 1, started = NULL, "
                "error = 'interrupted: the run that started this attempt ended before it finished' "
                f"WHERE state = 'running' AND task_id NOT IN ({', '.join('?' * len(keep))})", keep
            )
            rows = self._rows("SELECT * FROM tasks WHERE state = 'queued' ORDER BY created, rowid")
        return [TaskRecord.from_row(r) for r in rows]
