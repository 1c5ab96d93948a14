"""Writes to the lab's registry: tenants, datasets, jobs, hosts. Names validated; history never orphaned."""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

from ..engine.types import Arm, Tenant
from .errors import StoreError
from .names import validate_name
from .reader import NAMED_TABLES, LabReader
from .records import (DatasetRecord, HostRecord, JobCancellation, JobRecord, JobState, KeySource, tenant_from_row,
                      to_json)

# What would lose its meaning if a name were deleted: (table, column) pairs that refer to it.
_HISTORY = {
    "tenant": (("jobs", "tenant"), ("tasks", "tenant"), ("observations", "tenant"), ("decisions", "tenant")),
    "dataset": (("jobs", "dataset"),),
    "host": (("tasks", "host"),),
}


def _positive(what: str, value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        raise StoreError(f"{what} must be a positive number, got {value!r}")
    return float(value)


def _quota(quota_seconds: float | None) -> float | None:
    if quota_seconds is not None and (not math.isfinite(quota_seconds) or quota_seconds < 0):
        raise StoreError(f"quota must be zero or more seconds (or none for unlimited), got {quota_seconds!r}")
    return quota_seconds


class Registry(LabReader):
    def _new_name(self, kind: str, name: str) -> str:
        """Validate `name` and refuse one already taken (also by case only, or by an archived entry)."""
        validate_name(kind, name)
        row = self._row(f"SELECT name, archived FROM {NAMED_TABLES[kind]} WHERE name = ? COLLATE NOCASE", (name,))
        if row is not None:
            taken = f"{kind} {row['name']!r} already exists" + (" (archived)" if row["archived"] else "")
            case = "" if row["name"] == name else "; names that differ only by case would share a folder"
            raise StoreError(f"{taken}{case}; choose another name")
        return name

    def _active_row(self, kind: str, name: str) -> dict[str, Any]:
        row = self._named_row(kind, name)
        if row["archived"] is not None:
            raise StoreError(f"{kind} {name!r} is archived; add a new {kind} instead")
        return row

    def _history(self, kind: str, name: str) -> dict[str, int]:
        """How many rows of each table refer to `name` (only the tables that do)."""
        uses = {
            table: self._row(f"SELECT count(*) AS n FROM {table} WHERE {column} = ?", (name,))["n"]
            for table, column in _HISTORY[kind]
        }
        return {t: n for t, n in uses.items() if n}

    def _delete(self, kind: str, name: str) -> None:
        """Delete an entry without history; refuse (pointing to archive) when something refers to it."""
        with self._write() as db:
            self._named_row(kind, name)
            used = self._history(kind, name)
            if used:
                what = ", ".join(f"{n} {t}" for t, n in used.items())
                raise StoreError(
                    f"{kind} {name!r} has history ({what}); deleting it would lose that. "
                    f"Archive it instead (it then disappears from lists but its history stays)."
                )
            db[NAMED_TABLES[kind]].delete(name)

    def _archive(self, kind: str, name: str) -> None:
        with self._write() as db:
            self._named_row(kind, name)
            db.execute(f"UPDATE {NAMED_TABLES[kind]} SET archived = ? WHERE name = ? AND archived IS NULL",
                       (self._clock(), name))

    # --- tenants -----------------------------------------------------------------------------------------------

    def add_tenant(self, name: str, weight: float = 1.0, quota_seconds: float | None = None) -> Tenant:
        row = {"name": name, "weight": _positive("weight", weight), "quota_seconds": _quota(quota_seconds),
               "paused": 0, "created": self._clock(), "archived": None}
        with self._write() as db:
            self._new_name("tenant", name)
            db["tenants"].insert(row)
        return tenant_from_row(row)

    def update_tenant(self, name: str, *, weight: float | None = None, paused: bool | None = None,
                      quota_seconds: float | None = None, no_quota: bool = False) -> Tenant:
        """Change a tenant's weight, pause (True) or resume (False) it, set its quota (device seconds in all) or
        remove it (no_quota), in one transaction: a running lab or a reader never sees half a change."""
        changes: dict[str, Any] = {}
        if weight is not None:
            changes["weight"] = _positive("weight", weight)
        if paused is not None:
            changes["paused"] = int(bool(paused))
        if quota_seconds is not None or no_quota:
            changes["quota_seconds"] = None if no_quota else _quota(quota_seconds)
        with self._write() as db:
            self._active_row("tenant", name)
            if changes:
                db["tenants"].update(name, changes)
            return tenant_from_row(self._named_row("tenant", name))

    def set_quota(self, name: str, quota_seconds: float | None) -> Tenant:
        """Device seconds the tenant may use in all; None = unlimited."""
        return self.update_tenant(name, quota_seconds=quota_seconds, no_quota=quota_seconds is None)

    def archive_tenant(self, name: str) -> None:
        """Hide a tenant from lists and scheduling; its jobs, tasks and observations stay."""
        self._archive("tenant", name)

    def delete_tenant(self, name: str) -> None:
        """Delete a tenant that has no jobs, tasks, observations or decisions (else StoreError: archive it)."""
        self._delete("tenant", name)

    # --- datasets ----------------------------------------------------------------------------------------------

    def add_dataset(self, name: str, path: str, content_hash: str, *, manifest: Mapping[str, Any],
                    stats: Mapping[str, Any], split: Mapping[str, Any] | None = None) -> DatasetRecord:
        """Register a validated dataset. stats: classes, counts, image sizes, channels (training/datasets.py)."""
        if not content_hash:
            raise StoreError(f"dataset {name!r} has no content hash; register it through easeml-gui dataset add")
        row = {"name": name, "path": str(path), "content_hash": content_hash, "manifest": to_json(manifest),
               "stats": to_json(stats), "split": to_json(split or {}), "created": self._clock(),
               "archived": None}
        with self._write() as db:
            self._new_name("dataset", name)
            db["datasets"].insert(row)
            return DatasetRecord.from_row(row)

    def archive_dataset(self, name: str) -> None:
        self._archive("dataset", name)

    def delete_dataset(self, name: str) -> None:
        """Delete a dataset no job used (else StoreError: archive it)."""
        self._delete("dataset", name)

    def remove_dataset(self, name: str) -> dict[str, int]:
        """Take a dataset out of the lab, refused while an active job trains on it: deleted when no job used it,
        else archived so the jobs keep naming it. Returns the history that kept it archived ({} when deleted)."""
        with self._write():
            self._active_row("dataset", name)
            active = self._rows("SELECT id, tenant FROM jobs WHERE dataset = ? AND state = ? ORDER BY id",
                                (name, JobState.ACTIVE.value))
            if active:
                users = ", ".join(f"{job['id']} ({job['tenant']})" for job in active)
                raise StoreError(f"dataset {name!r} is used by active job {users}; cancel the job first "
                                 "(`easeml-gui job cancel ID`) or let it finish, then remove the dataset")
            used = self._history("dataset", name)
            if used:
                self.archive_dataset(name)
            else:
                self.delete_dataset(name)
            return used

    # --- jobs --------------------------------------------------------------------------------------------------

    def add_job(self, tenant: str, dataset: str, arms: Sequence[Arm], *, epochs: int, image_size: int,
                seed: int = 0, schema: Mapping[str, Any] | None = None,
                config: Mapping[str, Any] | None = None) -> JobRecord:
        """A tenant's model-selection job over `arms` (Arm.index = the arm's column in the history matrix)."""
        if not arms:
            raise StoreError("a job needs at least one candidate model; check --models or the dataset's schema")
        names = [a.name for a in arms]
        if len(set(names)) != len(names):
            raise StoreError(f"a job lists a model twice: {sorted({n for n in names if names.count(n) > 1})}")
        if int(epochs) < 1 or int(image_size) < 1:
            raise StoreError(f"epochs and image size must be at least 1, got {epochs} and {image_size}")
        with self._write() as db:
            self._active_row("tenant", tenant)
            self._active_row("dataset", dataset)
            job_id = db["jobs"].insert({
                "tenant": tenant, "dataset": dataset, "schema": to_json(schema or {}),
                "arms": to_json([{"name": a.name, "index": a.index} for a in arms]), "epochs": int(epochs),
                "image_size": int(image_size), "seed": int(seed), "config": to_json(config or {}),
                "state": JobState.ACTIVE.value, "created": self._clock(), "ended": None,
            }).last_pk
            return self.job(job_id)

    def set_job_state(self, job_id: int, state: JobState) -> JobRecord:
        """Mark a job done (its observations then join the history matrix) or cancelled, or active again."""
        state = JobState(state)
        with self._write() as db:
            self.job(job_id)
            ended = None if state is JobState.ACTIVE else self._clock()
            db["jobs"].update(job_id, {"state": state.value, "ended": ended})
            return self.job(job_id)

    def cancel_job(self, job_id: int, drop_queued: Callable[[], bool]) -> JobCancellation:
        """Cancel an active job: it gets no new task, and what it did stays (tasks, observations, decisions). Its
        queued tasks are cancelled here when `drop_queued()`, asked inside this transaction, says so: a run that
        holds them as its backlog drops them itself, so it never starts a task it did not see cancelled."""
        with self._write():
            job = self.job(job_id)
            if job.state is not JobState.ACTIVE:
                raise StoreError(f"job {job_id} ({job.tenant} on {job.dataset}) has ended already: it is "
                                 f"{job.state.value}; nothing was changed")
            unfinished = {r["state"]: r["n"] for r in self._rows(
                "SELECT state, count(*) AS n FROM tasks WHERE job = ? AND state IN ('queued', 'running') "
                "GROUP BY state", (job_id,))}
            now = self._clock()
            dropped = drop_queued()
            if dropped:
                self._conn.execute("UPDATE tasks SET state = 'cancelled', ended = ?, error = 'its job was cancelled' "
                                   "WHERE job = ? AND state = 'queued'", (now, job_id))
            self._update("jobs", ("id", job_id), {"state": JobState.CANCELLED.value, "ended": now})
            return JobCancellation(self.job(job_id), unfinished.get("running", 0), unfinished.get("queued", 0),
                                   dropped)

    def delete_job(self, job_id: int, check: Callable[[], None] = lambda: None) -> JobRecord:
        """Delete a job that never started a task (StoreError when it did: its history stays, cancel it instead).
        `check`, called inside this transaction, may refuse by raising."""
        with self._write() as db:
            job = self.job(job_id)
            tasks = self._row("SELECT count(*) AS n FROM tasks WHERE job = ?", (job_id,))["n"]
            if tasks:
                instead = (f"cancel it instead (`easeml-gui job cancel {job_id}`): it gets no new task and its "
                           "history stays" if job.state is JobState.ACTIVE else
                           f"it is {job.state.value} already: it runs no more, and its history stays")
                raise StoreError(f"job {job_id} has history ({tasks} task(s)); removing it would lose that. {instead}")
            check()
            db["jobs"].delete(job_id)
            return job

    # --- hosts -------------------------------------------------------------------------------------------------

    def add_host(self, name: str, address: str, *, user: str | None = None, port: int = 22,
                 key_path: str | None = None, python: str = "python3", ssh_alias: str | None = None) -> HostRecord:
        """Register an SSH host (not trusted yet: pin its key with pin_host_key). `address`: the host name or IP to
        connect to; `ssh_alias`: the ~/.ssh/config alias it was resolved from, if any."""
        if not address or address.startswith("-") or any(c.isspace() for c in address):
            raise StoreError(f"invalid host address {address!r}: give a host name or IP, e.g. gpu1.lab.example")
        if not 1 <= int(port) <= 65535:
            raise StoreError(f"invalid SSH port {port}: use 1 to 65535")
        if user is not None:
            validate_name("user", user)
        row = {"name": name, "address": address, "user": user, "port": int(port), "key_path": key_path,
               "host_key_fingerprint": None, "last_probe": None, "probed": None, "created": self._clock(),
               "archived": None, "python": _python(python), "gpus": None, "share_busy_gpus": 0,
               "ssh_alias": ssh_alias}
        with self._write() as db:
            self._new_name("host", name)
            db["hosts"].insert(row)
            return HostRecord.from_row(row)

    def set_host(self, name: str, *, gpus: Sequence[int] | None = None, all_gpus: bool = False,
                 share_busy_gpus: bool | None = None, python: str | None = None) -> HostRecord:
        """Change which GPUs tasks may use (`gpus`, in the order to fill them; `all_gpus` = every GPU again),
        whether GPUs other users' processes hold may be shared, or the host's python. A running lab picks it up."""
        changes: dict[str, Any] = {}
        if gpus is not None and all_gpus:
            raise StoreError("give either a list of GPUs or all GPUs, not both")
        if gpus is not None:
            changes["gpus"] = to_json(_gpu_list(gpus))
        if all_gpus:
            changes["gpus"] = None
        if share_busy_gpus is not None:
            changes["share_busy_gpus"] = int(bool(share_busy_gpus))
        if python is not None:
            changes["python"] = _python(python)
        with self._write() as db:
            self._active_row("host", name)
            if changes:
                db["hosts"].update(name, changes)
            return self.host(name)

    def trust_host(self, name: str, fingerprint: str) -> HostRecord:
        """Record the SHA256 host-key fingerprint the admin saw and accepted (shown in lists; connections trust
        only the keys pinned with pin_host_key, which records it too)."""
        if not fingerprint.startswith("SHA256:"):
            raise StoreError(f"expected an OpenSSH SHA256 fingerprint (SHA256:...), got {fingerprint!r}")
        with self._write() as db:
            self._active_row("host", name)
            db["hosts"].update(name, {"host_key_fingerprint": fingerprint})
            return self.host(name)

    def pin_host_key(self, name: str, key_type: str, key_base64: str, fingerprint: str, *,
                     source: KeySource = KeySource.ACCEPTED, replace: bool = False) -> HostRecord:
        """Trust one public key of host `name` from now on. A second key type adds a pin beside the first;
        `replace` drops every earlier pin first (a re-trust after a changed key: the old keys are not the host's
        any more, and a stale one would be offered first and refused)."""
        if not key_type or not key_base64 or any(c.isspace() for c in key_type + key_base64):
            raise StoreError(f"invalid host key {key_type!r} {key_base64[:20]!r}...: expected a type and a base64 blob")
        with self._write() as db:
            self.trust_host(name, fingerprint)
            if replace:
                db.execute("DELETE FROM host_keys WHERE host = ?", (name,))
            db.execute(
                "INSERT INTO host_keys (host, key_type, key_base64, fingerprint, source, trusted)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (host, key_type) DO UPDATE SET key_base64 = excluded.key_base64,"
                " fingerprint = excluded.fingerprint, source = excluded.source, trusted = excluded.trusted",
                (name, key_type, key_base64, fingerprint, KeySource(source).value, self._clock()))
            return self.host(name)

    def record_probe(self, name: str, probe: Mapping[str, Any]) -> HostRecord:
        """Keep the latest probe (python/torch/CUDA versions, GPUs, disk) of a host."""
        with self._write() as db:
            self._active_row("host", name)
            db["hosts"].update(name, {"last_probe": to_json(probe), "probed": self._clock()})
            return self.host(name)

    def remove_host(self, name: str) -> dict[str, int]:
        """Take a host out of the lab: deleted (with its pinned keys) when no task ran on it, else archived so the
        tasks keep naming it. Returns the history that kept it archived ({} when it was deleted)."""
        with self._write():
            self._active_row("host", name)
            used = self._history("host", name)
            if used:
                self.archive_host(name)
            else:
                self.delete_host(name)
            return used

    def archive_host(self, name: str) -> None:
        self._archive("host", name)

    def delete_host(self, name: str) -> None:
        """Delete a host no task ran on (else StoreError: archive it); its pinned keys go with it."""
        self._delete("host", name)


def _python(python: str) -> str:
    # Always passed to the host's shell as one quoted word; this only refuses what cannot be a program path.
    if not python or python.startswith("-") or any(c in python for c in "\n\r\x00"):
        raise StoreError(f"invalid python {python!r}: give the interpreter's path on the host, e.g. /usr/bin/python3")
    return python


def _gpu_list(gpus: Sequence[int]) -> list[int]:
    indexes = [int(g) for g in gpus]
    if not indexes or any(g < 0 for g in indexes) or len(set(indexes)) != len(indexes):
        raise StoreError(f"invalid GPU list {list(gpus)}: give distinct GPU numbers from 0 (as nvidia-smi counts them)")
    return indexes
