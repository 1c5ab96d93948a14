"""Every query of the store. The GUI and `status` use it through a read-only connection; the writer inherits it."""

from __future__ import annotations

from typing import Any, Collection

from ..engine.delivery import Run, delivered, standard_error
from ..engine.types import MAX_RETRIES, REFIT_SECONDS, RETRYABLE, Arm, Decision, Observation, TaskState, Tenant
from ..training.wire import result_key
from .base import StoreBase
from .errors import StoreError
from .records import (
    DatasetRecord, DecisionLogEntry, DeliveredModel, EpochReport, HistoryMatrix, HostRecord, JobRecord, JobState,
    JobSummary, PinnedKey, ReplayedTask, TaskRecord, TenantDelivery, chosen_prediction, scores_from_json,
    tenant_from_row,
)
from .summary import UpperBounds, global_regret_estimate, history_matrix

# How to add each kind of name, for "unknown NAME" messages.
_ADD_HINT = {
    "tenant": "easeml-gui tenant add NAME",
    "dataset": "easeml-gui dataset add PATH --name NAME",
    "host": "easeml-gui host add NAME --address HOST",
}
NAMED_TABLES = {"tenant": "tenants", "dataset": "datasets", "host": "hosts"}

# Per job: its models (arms) done, failed for good, device seconds, tasks running, best accuracy. A model is failed
# as the live lab retires it (ModelSelection._failed): a failure that may not be retried, or more retryable ones
# (a worker killed from outside) than MAX_RETRIES; a done task outweighs both. `models` reads the tasks_job index
# alone; a task's row (its details) is read only where its model failed.
_JOB_SUMMARIES = f"""
    WITH models AS (
        SELECT job, arm, max(state = 'done') AS done, sum(state = 'running') AS running,
               sum(state = 'failed') AS failures, total(CASE WHEN ended IS NOT NULL THEN cost END) AS seconds
        FROM tasks WHERE job IS NOT NULL GROUP BY job, arm),
    per_job AS (
        SELECT job, sum(done) AS models_done, total(seconds) AS device_seconds, sum(running) AS running,
               sum(NOT done AND (failures > :max_retries OR (failures > 0 AND EXISTS (
                   SELECT 1 FROM tasks f WHERE f.job = m.job AND f.arm = m.arm AND f.state = 'failed'
                       AND NOT coalesce(json_extract(f.details, '$.{RETRYABLE}'), 0))))) AS models_failed
        FROM models m GROUP BY job)
    SELECT j.id, j.tenant, j.dataset, j.state, j.created, j.ended, json_array_length(j.arms) AS models,
           coalesce(p.models_done, 0) AS models_done, coalesce(p.models_failed, 0) AS models_failed,
           coalesce(p.device_seconds, 0.0) AS device_seconds, coalesce(p.running, 0) AS running,
           (SELECT max(quality) FROM observations o WHERE o.job = j.id) AS best_accuracy
    FROM jobs j LEFT JOIN per_job p ON p.job = j.id
    WHERE :tenant IS NULL OR j.tenant = :tenant
    ORDER BY j.id
"""


def _result(table: str, name: str) -> str:
    """A result.json field of a task's stored details, as column `name`. Read in SQL, not by parsing each task's
    details into a wire.TaskOutcome: the window polls these queries, which then read only the fields they need."""
    return f"json_extract({table}.details, '$.{result_key(name)}') AS {name}"


class LabReader(StoreBase):
    # --- names -------------------------------------------------------------------------------------------------

    def _named_row(self, kind: str, name: str) -> dict[str, Any]:
        """The row of tenant/dataset/host `name`, or a StoreError naming the known ones."""
        row = self._row(f"SELECT * FROM {NAMED_TABLES[kind]} WHERE name = ?", (name,))
        if row is not None:
            return row
        known = [r["name"] for r in self._rows(f"SELECT name FROM {NAMED_TABLES[kind]} WHERE archived IS NULL ORDER BY name")]
        if not known:
            raise StoreError(f"unknown {kind} {name!r}: there are no {kind}s yet; add one with {_ADD_HINT[kind]}")
        shown = ", ".join(known[:20]) + (f", ... ({len(known)} in all)" if len(known) > 20 else "")
        raise StoreError(f"unknown {kind} {name!r}; known {kind}s: {shown}")

    # --- registry ----------------------------------------------------------------------------------------------

    def tenants(self, include_archived: bool = False) -> list[Tenant]:
        with self._read():
            rows = self._rows(
                "SELECT * FROM tenants" + ("" if include_archived else " WHERE archived IS NULL") + " ORDER BY name"
            )
        return [tenant_from_row(r) for r in rows]

    def tenant(self, name: str) -> Tenant:
        with self._read():
            return tenant_from_row(self._named_row("tenant", name))

    def datasets(self, include_archived: bool = False) -> list[DatasetRecord]:
        with self._read():
            rows = self._rows(
                "SELECT * FROM datasets" + ("" if include_archived else " WHERE archived IS NULL") + " ORDER BY name"
            )
        return [DatasetRecord.from_row(r) for r in rows]

    def dataset(self, name: str) -> DatasetRecord:
        with self._read():
            return DatasetRecord.from_row(self._named_row("dataset", name))

    def hosts(self, include_archived: bool = False) -> list[HostRecord]:
        with self._read():
            rows = self._rows(
                "SELECT * FROM hosts" + ("" if include_archived else " WHERE archived IS NULL") + " ORDER BY name"
            )
        return [HostRecord.from_row(r) for r in rows]

    def host(self, name: str) -> HostRecord:
        with self._read():
            return HostRecord.from_row(self._named_row("host", name))

    def host_keys(self, name: str) -> list[PinnedKey]:
        """The public keys pinned for host `name`, oldest first: what its connections trust."""
        with self._read():
            self._named_row("host", name)
            rows = self._rows("SELECT * FROM host_keys WHERE host = ? ORDER BY trusted, key_type", (name,))
        return [PinnedKey.from_row(r) for r in rows]

    def jobs(self, state: JobState | None = None, tenant: str | None = None) -> list[JobRecord]:
        """Jobs in creation order, optionally only those in `state` and/or of `tenant`."""
        where, params = [], []
        if state is not None:
            where.append("state = ?")
            params.append(JobState(state).value)
        if tenant is not None:
            where.append("tenant = ?")
            params.append(tenant)
        sql = "SELECT * FROM jobs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        with self._read():
            return [JobRecord.from_row(r) for r in self._rows(sql, params)]

    def job(self, job_id: int) -> JobRecord:
        with self._read():
            row = self._row("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise StoreError(f"unknown job {job_id}; list the jobs with `easeml-gui job list`")
        return JobRecord.from_row(row)

    def job_states(self, job_ids: Collection[int]) -> dict[int, JobState]:
        """The state of each job of `job_ids` that exists (a running lab asks about its own jobs every second)."""
        ids = list(job_ids)
        marks = ", ".join("?" for _ in ids)
        with self._read():
            rows = self._rows(f"SELECT id, state FROM jobs WHERE id IN ({marks})", ids)
        return {r["id"]: JobState(r["state"]) for r in rows}

    def job_summaries(self, tenant: str | None = None) -> list[JobSummary]:
        """Every job (of `tenant` only, if given: StoreError if unknown), oldest first, with what became of its
        models and what it cost, from one snapshot. The window polls it: one grouped query, whatever the lab's size."""
        with self._read():
            if tenant is not None:
                self._named_row("tenant", tenant)
            rows = self._rows(_JOB_SUMMARIES, {"tenant": tenant, "max_retries": MAX_RETRIES})
        return [JobSummary.from_row(r) for r in rows]

    # --- the run -----------------------------------------------------------------------------------------------

    def tasks(self, state: TaskState | None = None, tenant: str | None = None) -> list[TaskRecord]:
        """Tasks in creation order, optionally only those in `state` and/or of `tenant`."""
        where, params = [], []
        if state is not None:
            where.append("state = ?")
            params.append(TaskState(state).value)
        if tenant is not None:
            where.append("tenant = ?")
            params.append(tenant)
        sql = "SELECT * FROM tasks" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created, rowid"
        with self._read():
            return [TaskRecord.from_row(r) for r in self._rows(sql, params)]

    def tasks_to_replay(self, job: int | None = None) -> list[ReplayedTask]:
        """Every task (of `job` only, if given) in creation order, as the engine's replay reads it: the regret
        estimate the window polls replays thousands, so no JSON column is parsed, only the two fields read from
        the details in SQL."""
        sql = f"""SELECT task_id, job, tenant, arm, arm_index, state, device, cost, {_result("t", REFIT_SECONDS)},
                         json_extract(t.details, '$.{RETRYABLE}') AS retryable
                  FROM tasks t {"" if job is None else "WHERE job = ?"} ORDER BY created, rowid"""
        with self._read():
            return [ReplayedTask.from_row(r) for r in self._rows(sql, [] if job is None else [job])]

    def task_times(self) -> list[tuple[str, str, str, float, float | None, str]]:
        """(task id, tenant, device, started, ended, state) of every task that started, in start order: without
        the JSON columns, which a long lab's device timeline would otherwise parse by the thousand at each read."""
        sql = ("SELECT task_id, tenant, device, started, ended, state FROM tasks WHERE started IS NOT NULL "
               "ORDER BY started, rowid")
        with self._read():
            return [tuple(row) for row in self._conn.execute(sql).fetchall()]

    def task(self, task_id: str) -> TaskRecord:
        with self._read():
            row = self._row("SELECT * FROM tasks WHERE task_id = ?", (task_id,))
        if row is None:
            raise StoreError(f"unknown task {task_id!r}")
        return TaskRecord.from_row(row)

    def epoch_curves(self, task_ids: Collection[str]) -> dict[str, list[EpochReport]]:
        """The epochs each task's latest attempt reported so far, in order (tasks without any are left out)."""
        ids = list(task_ids)
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        sql = (f"SELECT e.* FROM task_epochs e JOIN tasks t ON t.task_id = e.task_id AND t.attempt = e.attempt "
               f"WHERE e.task_id IN ({marks}) ORDER BY e.task_id, e.epoch")
        with self._read():
            rows = self._rows(sql, ids)
        curves: dict[str, list[EpochReport]] = {}
        for r in rows:
            curves.setdefault(r["task_id"], []).append(
                EpochReport(r["epoch"], r["epochs"], r["val_accuracy"], r["loss"], r["images_per_second"]))
        return curves

    def observations(self, tenant: str | None = None, job: int | None = None) -> list[Observation]:
        """Observations in the order they were recorded, optionally of one tenant and/or one job."""
        where, params = [], []
        if tenant is not None:
            where.append("tenant = ?")
            params.append(tenant)
        if job is not None:
            where.append("job = ?")
            params.append(job)
        sql = "SELECT * FROM observations" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        with self._read():
            rows = self._rows(sql, params)
        return [
            Observation(tenant=r["tenant"], arm=Arm(r["arm"], r["arm_index"]), quality=r["quality"], cost=r["cost"],
                        time=r["time"])
            for r in rows
        ]

    def decisions(self, tenant: str | None = None, limit: int = 100) -> list[Decision]:
        """The latest `limit` decisions (newest first), each with the per-tenant numbers that justified it."""
        sql = "SELECT * FROM decisions" + (" WHERE tenant = ?" if tenant is not None else "") + " ORDER BY id DESC LIMIT ?"
        params: list[Any] = ([tenant] if tenant is not None else []) + [limit]
        with self._read():
            rows = self._rows(sql, params)
        return [
            Decision(time=r["time"], device=r["device"], tenant=r["tenant"], arm=Arm(r["arm"], r["arm_index"]),
                     policy=r["policy"], scores=scores_from_json(r["explanation"]))
            for r in rows
        ]

    def believed_regret(self) -> list[tuple[float, float | None]]:
        """(time, global regret estimate believed then) of every decision, in time order (decision order on equal
        times); None for decisions stored before the estimate was kept (schema v4)."""
        return [(time, estimate) for _, time, estimate in sorted(self.believed_regret_after(0),
                                                                 key=lambda row: (row[1], row[0]))]

    def believed_regret_after(self, decision_id: int) -> list[tuple[int, float, float | None]]:
        """(decision id, time, estimate) of the decisions after `decision_id`, in id order: decisions never
        change, so a reader that keeps the curve reads only what is new."""
        with self._read():
            rows = self._conn.execute("SELECT id, time, global_regret_estimate FROM decisions WHERE id > ? "
                                      "ORDER BY id", (decision_id,)).fetchall()
        return [(int(id_), float(time), estimate) for id_, time, estimate in rows]

    def decision_log(self, tenant: str | None = None, predictions: bool = True) -> list[DecisionLogEntry]:
        """Every decision, oldest first (of `tenant` only, if given: StoreError if unknown), with what it predicted
        for the model it chose and what the task it started did. predictions=False leaves the predicted_* fields
        None and skips parsing each decision's explanation (every tenant's scores: at 50 tenants x 2,000 decisions
        430 ms of the 590 ms the log takes), for readers of the outcomes only.

        A decision's task is the one it names when that task trained the decided tenant and model, and no later
        decision names the same task (a run killed before its task's first row leaves the id to the restart's
        next decision, whose task it then is)."""
        sql = f"""
            SELECT d.time, d.device, d.tenant, d.arm, d.explanation, t.task_id, t.state, t.cost, t.error,
                   coalesce(t.host, 'local') AS host, o.quality, {_result("t", "accuracy")},
                   {_result("t", "test_accuracy")}
            FROM decisions d
            LEFT JOIN tasks t ON t.task_id = d.task_id AND t.tenant = d.tenant AND t.arm = d.arm
                AND NOT EXISTS (SELECT 1 FROM decisions later WHERE later.task_id = d.task_id AND later.id > d.id)
            LEFT JOIN observations o ON o.task_id = t.task_id
        """ + ("WHERE d.tenant = ? " if tenant is not None else "") + "ORDER BY d.id"
        with self._read():
            if tenant is not None:
                self._named_row("tenant", tenant)
            rows = self._rows(sql, [tenant] if tenant is not None else [])
        return [_log_entry(r, predictions) for r in rows]

    def finished_version(self) -> tuple[int, float, int]:
        """(count, sum of end times, last rowid) of the tasks that finished: it changes whenever one finishes, is
        re-queued or is dropped, so a reader keeping the finished tasks lists them again only then."""
        with self._read():
            row = self._conn.execute(
                "SELECT count(*), total(ended), coalesce(max(rowid), 0) FROM tasks "
                "WHERE state IN ('done', 'failed', 'cancelled')").fetchone()
        return int(row[0]), float(row[1]), int(row[2])

    def used_seconds(self) -> dict[str, float]:
        """Device seconds each tenant has used (finished tasks of every state): what quotas are checked against."""
        with self._read():
            rows = self._rows("SELECT tenant, sum(cost) AS used FROM tasks WHERE ended IS NOT NULL GROUP BY tenant")
        return {r["tenant"]: float(r["used"]) for r in rows}

    def task_costs(self) -> list[tuple[str, float | None, float, float]]:
        """(tenant, started, ended, device seconds) of every finished task, the ones used_seconds() sums; started
        is None for a task that ended before it ran. Plain columns: usage accounting reads them all."""
        sql = "SELECT tenant, started, ended, cost FROM tasks WHERE ended IS NOT NULL ORDER BY ended, rowid"
        with self._read():
            return [tuple(row) for row in self._conn.execute(sql).fetchall()]

    # --- summaries ---------------------------------------------------------------------------------------------

    def history_matrix(self, ended_by: float | None = None) -> HistoryMatrix:
        """Best quality per (dataset, arm) over the observations of finished (done) jobs: the engine's prior.
        `ended_by`: only jobs that ended at or before that time (store clock)."""
        with self._read():
            cells = self._rows(
                """
                WITH cells AS (
                    SELECT job, arm, min(arm_index) AS arm_index, max(quality) AS best, sum(cost) AS cost,
                           count(*) AS n
                    FROM observations WHERE job IN (
                        SELECT id FROM jobs WHERE state = 'done' AND (:ended_by IS NULL OR ended <= :ended_by))
                    GROUP BY job, arm)
                SELECT d.content_hash AS dataset_hash, min(d.name) AS dataset, c.arm AS arm,
                       min(c.arm_index) AS arm_index, max(c.best) AS best, sum(c.cost) / sum(c.n) AS mean_cost
                FROM cells c JOIN jobs j ON c.job = j.id JOIN datasets d ON j.dataset = d.name
                GROUP BY d.content_hash, c.arm
                """, {"ended_by": ended_by},
            )
        return history_matrix(cells)

    def delivered_models(self, ensembles: bool = True) -> dict[str, DeliveredModel]:
        """Per tenant with a finished model, the one the lab delivers (status, export and the window show it);
        `ensembles` False: the single model the one-standard-error rule picks even where an ensemble is delivered
        (what a tenant would get without ensembles: bench/accuracy_vs_peers.py compares the two)."""
        # The window polls this: per tenant one seek for its best run, then one range scan of observations(tenant,
        # quality) for the runs within one standard error of it, never the lab's whole history.
        run = f"""SELECT o.tenant, o.task_id, o.arm, o.quality, o.cost, {_result("k", "refit_seconds")},
                         {_result("k", "test_accuracy")}, {_result("k", "val_images")}, {_result("k", "folds")}
                  FROM observations o LEFT JOIN tasks k ON k.task_id = o.task_id"""
        delivered_to = {}
        with self._read():
            tops = self._rows(
                f"""{run} JOIN tenants t ON t.name = o.tenant
                WHERE t.archived IS NULL AND o.id = (
                    SELECT id FROM observations WHERE tenant = t.name ORDER BY quality DESC, cost, id LIMIT 1)""")
            for top in tops:
                floor = top["quality"] - standard_error(top["quality"], _scored_images(top))
                within = self._rows(f"{run} WHERE o.tenant = ? AND o.quality >= ? ORDER BY o.id",
                                    (top["tenant"], floor - 1e-9))
                delivered_to[top["tenant"]] = _delivered(top, within)
            for tenant, ensemble in (self.deliveries() if ensembles else {}).items():
                if ensemble.is_ensemble and tenant in delivered_to:
                    delivered_to[tenant] = _ensemble_delivered(ensemble, delivered_to[tenant].top_quality)
        return delivered_to

    def deliveries(self) -> dict[str, TenantDelivery]:
        """Per tenant, what it receives as recorded with its latest result (schema v7), while still current (computed
        with the tenant's latest observation); a tenant without one gets the single-model rule (engine/delivery.py)."""
        with self._read():
            rows = self._rows(
                """SELECT d.* FROM deliveries d
                   WHERE d.observation = (SELECT max(id) FROM observations WHERE tenant = d.tenant)""")
        return {r["tenant"]: TenantDelivery.from_row(r) for r in rows}

    def status(self, upper_bounds: UpperBounds = None) -> dict[str, Any]:
        """The `easeml-gui status --json` document (CLI.md), from one consistent snapshot.

        global_regret_estimate: tenant-weighted mean of (U_i - best_i); `upper_bounds` gives U_i (see
        summary.UpperBounds: a mapping or callable tenant -> bound, e.g. the engine's GP UCB); 1.0 when absent.
        """
        with self._read():
            tenants = self._rows("SELECT name, weight FROM tenants WHERE archived IS NULL ORDER BY name")
            delivered = self.delivered_models()
            counts = self._rows("SELECT tenant, state, n FROM task_counts WHERE n > 0")
        done: dict[str, int] = {}
        totals = dict.fromkeys(("queued", "running", "done", "failed", "cancelled"), 0)
        for c in counts:
            totals[c["state"]] += c["n"]
            if c["state"] == "done":
                done[c["tenant"]] = c["n"]
        rows = [
            {"name": t["name"], "weight": t["weight"], "tasks_done": done.get(t["name"], 0),
             **_status_fields(delivered.get(t["name"]))}
            for t in tenants
        ]
        # The regret is the search's: how far the best accuracy reached lies below what is reachable.
        regret = global_regret_estimate(
            ((t["name"], t["weight"], d.top_quality if (d := delivered.get(t["name"])) else None) for t in tenants),
            upper_bounds)
        return {
            "tenants": rows,
            "tasks": {s: totals[s] for s in ("queued", "running", "done", "failed")},
            "global_regret_estimate": regret,
        }


def _scored_images(row: dict[str, Any]) -> int | None:
    """How many images a run's accuracy was measured on: folds x val_images where it pooled folds; None without
    details (a simulated or hand-recorded lab), where the rule falls back to plain best accuracy."""
    return row["val_images"] * (row["folds"] or 1) if row["val_images"] else None


def _delivered(top: dict[str, Any], within: list[dict[str, Any]]) -> DeliveredModel:
    """A tenant's best run and its runs within one standard error of it (oldest first) -> the model it gets."""
    runs = [Run(r["quality"], r["cost"] - (r["refit_seconds"] or 0.0)) for r in within]
    chosen = within[delivered(runs, _scored_images(top))]
    return DeliveredModel(chosen["task_id"], chosen["arm"], chosen["quality"], chosen["test_accuracy"],
                          top["quality"])


def _ensemble_delivered(ensemble: TenantDelivery, top_quality: float) -> DeliveredModel:
    heaviest = max(ensemble.members, key=lambda m: m.count)
    return DeliveredModel(heaviest.task_id, heaviest.arm, ensemble.val_accuracy, ensemble.test_accuracy, top_quality,
                          ensemble)


def _status_fields(model: DeliveredModel | None) -> dict[str, Any]:
    """status's best_* fields: the delivered model (engine/delivery.py) or ensemble (engine/ensemble.py), its
    validation and test accuracy, and its members with their weights."""
    if model is None:
        return {"best_accuracy": None, "best_model": None, "best_test_accuracy": None, "best_members": []}
    return {"best_accuracy": model.quality, "best_model": model.label(),
            # its accuracy on the test split selection never saw
            "best_test_accuracy": model.test_accuracy, "best_members": model.members()}


def _log_entry(row: dict[str, Any], predictions: bool) -> DecisionLogEntry:
    mean, sigma, seconds = chosen_prediction(row["explanation"], row["tenant"]) if predictions else (None,) * 3
    linked = row["task_id"] is not None
    ended = linked and TaskState(row["state"]).finished
    return DecisionLogEntry(
        task_id=row["task_id"], time=row["time"], device=row["device"], host=row["host"] if linked else None,
        tenant=row["tenant"], model=row["arm"], predicted_quality=mean, predicted_sigma=sigma,
        predicted_seconds=seconds, state=row["state"],
        accuracy=row["quality"] if row["quality"] is not None else row["accuracy"],
        test_accuracy=row["test_accuracy"], seconds=row["cost"] if ended else None, error=row["error"],
    )
