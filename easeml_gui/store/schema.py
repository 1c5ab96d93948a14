"""Tables and their ordered migrations, keyed by PRAGMA user_version.

Migration N (1-based) brings a store from user_version N-1 to N. Never edit a released migration: append a new one.
"""

from __future__ import annotations

import sqlite3
from typing import Sequence

# Marks a file as an easeml-gui store, so a foreign SQLite database is never migrated by mistake.
APPLICATION_ID = 0x45415345  # "EASE"

_V1: tuple[str, ...] = (
    f"PRAGMA application_id = {APPLICATION_ID}",
    """
    CREATE TABLE tenants (
        name TEXT PRIMARY KEY,
        weight REAL NOT NULL DEFAULT 1.0 CHECK (weight > 0),
        quota_seconds REAL CHECK (quota_seconds IS NULL OR quota_seconds >= 0),
        paused INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
        created REAL NOT NULL,
        archived REAL
    )""",
    # Names become directories: two names that differ only by case collide on macOS and Windows.
    "CREATE UNIQUE INDEX tenants_name_nocase ON tenants (name COLLATE NOCASE)",
    """
    CREATE TABLE datasets (
        name TEXT PRIMARY KEY,
        path TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        manifest TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(manifest)),
        stats TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(stats)),
        split TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(split)),
        created REAL NOT NULL,
        archived REAL
    )""",
    "CREATE UNIQUE INDEX datasets_name_nocase ON datasets (name COLLATE NOCASE)",
    "CREATE INDEX datasets_content_hash ON datasets (content_hash)",
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        tenant TEXT NOT NULL REFERENCES tenants (name),
        dataset TEXT NOT NULL REFERENCES datasets (name),
        schema TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(schema)),
        arms TEXT NOT NULL CHECK (json_valid(arms)),
        epochs INTEGER NOT NULL CHECK (epochs >= 1),
        image_size INTEGER NOT NULL CHECK (image_size >= 1),
        seed INTEGER NOT NULL DEFAULT 0,
        config TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(config)),
        state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'done', 'cancelled')),
        created REAL NOT NULL,
        ended REAL
    )""",
    "CREATE INDEX jobs_tenant ON jobs (tenant, state)",
    "CREATE INDEX jobs_dataset ON jobs (dataset)",
    """
    CREATE TABLE hosts (
        name TEXT PRIMARY KEY,
        address TEXT NOT NULL,
        user TEXT,
        port INTEGER NOT NULL DEFAULT 22 CHECK (port BETWEEN 1 AND 65535),
        key_path TEXT,
        host_key_fingerprint TEXT,
        last_probe TEXT CHECK (last_probe IS NULL OR json_valid(last_probe)),
        probed REAL,
        created REAL NOT NULL,
        archived REAL
    )""",
    "CREATE UNIQUE INDEX hosts_name_nocase ON hosts (name COLLATE NOCASE)",
    """
    CREATE TABLE tasks (
        task_id TEXT PRIMARY KEY,
        job INTEGER REFERENCES jobs (id),
        tenant TEXT NOT NULL REFERENCES tenants (name),
        arm TEXT NOT NULL,
        arm_index INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
        device TEXT NOT NULL,
        host TEXT REFERENCES hosts (name),
        seed INTEGER NOT NULL DEFAULT 0,
        config TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(config)),
        created REAL NOT NULL,
        started REAL,
        ended REAL,
        attempt INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
        worker_pid INTEGER,
        remote_dir TEXT,
        log_tail TEXT,
        error TEXT,
        cost REAL NOT NULL DEFAULT 0 CHECK (cost >= 0),
        details TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details))
    )""",
    "CREATE INDEX tasks_state ON tasks (state)",
    "CREATE INDEX tasks_tenant ON tasks (tenant, state)",
    # Tasks per (tenant, state), kept by triggers in the writing transaction: status() then reads one row per
    # tenant and state instead of counting every task of a lab that has run for months.
    """
    CREATE TABLE task_counts (
        tenant TEXT NOT NULL,
        state TEXT NOT NULL,
        n INTEGER NOT NULL CHECK (n >= 0),
        PRIMARY KEY (tenant, state)
    ) WITHOUT ROWID""",
    """
    CREATE TRIGGER task_counts_insert AFTER INSERT ON tasks BEGIN
        INSERT INTO task_counts (tenant, state, n) VALUES (NEW.tenant, NEW.state, 1)
            ON CONFLICT (tenant, state) DO UPDATE SET n = n + 1;
    END""",
    """
    CREATE TRIGGER task_counts_update AFTER UPDATE OF tenant, state ON tasks
    WHEN OLD.tenant IS NOT NEW.tenant OR OLD.state IS NOT NEW.state BEGIN
        UPDATE task_counts SET n = n - 1 WHERE tenant = OLD.tenant AND state = OLD.state;
        INSERT INTO task_counts (tenant, state, n) VALUES (NEW.tenant, NEW.state, 1)
            ON CONFLICT (tenant, state) DO UPDATE SET n = n + 1;
    END""",
    """
    CREATE TRIGGER task_counts_delete AFTER DELETE ON tasks BEGIN
        UPDATE task_counts SET n = n - 1 WHERE tenant = OLD.tenant AND state = OLD.state;
    END""",
    """
    CREATE TABLE observations (
        id INTEGER PRIMARY KEY,
        task_id TEXT NOT NULL UNIQUE REFERENCES tasks (task_id),
        job INTEGER REFERENCES jobs (id),
        tenant TEXT NOT NULL REFERENCES tenants (name),
        arm TEXT NOT NULL,
        arm_index INTEGER NOT NULL,
        quality REAL NOT NULL CHECK (quality BETWEEN 0 AND 1),
        cost REAL NOT NULL CHECK (cost >= 0),
        time REAL NOT NULL
    )""",
    "CREATE INDEX observations_tenant ON observations (tenant, quality)",
    # Covering for the history matrix: its scan never visits the table rows.
    "CREATE INDEX observations_job ON observations (job, arm, quality, cost, arm_index)",
    """
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        time REAL NOT NULL,
        device TEXT NOT NULL,
        tenant TEXT NOT NULL REFERENCES tenants (name),
        arm TEXT NOT NULL,
        arm_index INTEGER NOT NULL,
        policy TEXT NOT NULL,
        explanation TEXT NOT NULL CHECK (json_valid(explanation))
    )""",
    "CREATE INDEX decisions_tenant ON decisions (tenant, time)",
)

# v2: a decision names the task it started, so `easeml-gui log` can show what came of it. No foreign key: the
# decision is written just before its task's first row. A decision stored before v2 is linked to the first task of
# its tenant and arm created at or after it and no later than the next decision (the scheduler creates a decision's
# task right after it, before deciding again); one without such a task (a crash between the two writes) stays
# unlinked and shows no outcome.
_V2: tuple[str, ...] = (
    "ALTER TABLE decisions ADD COLUMN task_id TEXT",
    # A crash between a decision and its task's first row leaves that id unused, and the restarted run hands it
    # to its next decision: the log finds the later decision naming the same task through this index.
    "CREATE INDEX decisions_task ON decisions (task_id)",
    """
    UPDATE decisions SET task_id = (
        SELECT t.task_id FROM tasks t
        WHERE t.tenant = decisions.tenant AND t.arm = decisions.arm AND t.created >= decisions.time
            AND t.created <= coalesce(
                (SELECT n.time FROM decisions n WHERE n.id > decisions.id ORDER BY n.id LIMIT 1), t.created)
        ORDER BY t.created, t.rowid LIMIT 1)""",
)

# v3: what remote hosts need beyond an address. The python that runs the worker there; which GPUs may be used, in
# the order to fill them (JSON list of nvidia-smi indexes, NULL = all); whether a GPU that other users' processes
# hold may still get a task; the ~/.ssh/config alias the address was resolved from (shown, never re-resolved:
# the pinned keys belong to the address it gave). host_keys pins the host's public keys themselves, not only a
# fingerprint, so a connection can prefer the pinned key type and compare the whole key; one row per key type,
# as known_hosts keeps them.
_V3: tuple[str, ...] = (
    "ALTER TABLE hosts ADD COLUMN python TEXT NOT NULL DEFAULT 'python3'",
    "ALTER TABLE hosts ADD COLUMN gpus TEXT CHECK (gpus IS NULL OR json_valid(gpus))",
    "ALTER TABLE hosts ADD COLUMN share_busy_gpus INTEGER NOT NULL DEFAULT 0 CHECK (share_busy_gpus IN (0, 1))",
    "ALTER TABLE hosts ADD COLUMN ssh_alias TEXT",
    """
    CREATE TABLE host_keys (
        host TEXT NOT NULL REFERENCES hosts (name) ON DELETE CASCADE,
        key_type TEXT NOT NULL,
        key_base64 TEXT NOT NULL,
        fingerprint TEXT NOT NULL CHECK (fingerprint LIKE 'SHA256:%'),
        source TEXT NOT NULL CHECK (source IN ('accepted', 'known_hosts')),
        trusted REAL NOT NULL,
        PRIMARY KEY (host, key_type)
    ) WITHOUT ROWID""",
)

# v4: the global regret estimate the lab believed when it made a decision (status's tenant-weighted mean of
# max(0, U_i - best_i), with the run's own GP bounds of that moment), so the window's regret curve of the past stays
# as it was believed and does not move when later results arrive. NULL for decisions made before v4: the window
# replays their observations instead.
_V4: tuple[str, ...] = (
    "ALTER TABLE decisions ADD COLUMN global_regret_estimate REAL",
)

# v5: every epoch a running task reported (the worker's epoch events, as `run` reads them), so the window draws the
# learning curves of the tasks running now, remote ones too (their progress files are on hosts the window never
# reads). One row per epoch of each attempt: a task run again draws its new attempt's curve.
_V5: tuple[str, ...] = (
    """
    CREATE TABLE task_epochs (
        task_id TEXT NOT NULL REFERENCES tasks (task_id),
        attempt INTEGER NOT NULL CHECK (attempt >= 1),
        epoch INTEGER NOT NULL CHECK (epoch >= 1),
        epochs INTEGER NOT NULL CHECK (epochs >= 1),
        loss REAL,
        val_accuracy REAL NOT NULL CHECK (val_accuracy BETWEEN 0 AND 1),
        images_per_second REAL,
        time REAL NOT NULL,
        PRIMARY KEY (task_id, attempt, epoch)
    ) WITHOUT ROWID""",
)

# v6: the tasks of each job, model by model, with what `job list` and the window's Jobs view count of them (state,
# seconds): covering, so summing a lab's tasks per job never reads their rows (configs, log tails, details).
_V6: tuple[str, ...] = (
    "CREATE INDEX tasks_job ON tasks (job, arm, state, ended, cost)",
)

# v7: ensembles (issue 25). Each done task's class probabilities (training/predictions.py's npz bytes, recorded
# with its result), and per tenant what it receives: one model or an ensemble of several (engine/ensemble.py),
# recomputed in the transaction that records each of its results, so status never sees one without the other.
# `observation`: the tenant's latest observation it was computed with; a reader trusts the row only while that is
# still the latest (older labs, and labs written by hand or by the simulator, keep the single-model rule).
_V7: tuple[str, ...] = (
    """
    CREATE TABLE task_predictions (
        task_id TEXT PRIMARY KEY REFERENCES tasks (task_id),
        data BLOB NOT NULL
    ) WITHOUT ROWID""",
    """
    CREATE TABLE deliveries (
        tenant TEXT PRIMARY KEY REFERENCES tenants (name),
        observation INTEGER NOT NULL REFERENCES observations (id),
        members TEXT NOT NULL,
        val_accuracy REAL NOT NULL CHECK (val_accuracy BETWEEN 0 AND 1),
        test_accuracy REAL CHECK (test_accuracy BETWEEN 0 AND 1),
        images INTEGER NOT NULL CHECK (images >= 0),
        time REAL NOT NULL
    )""",
)

Migration = Sequence[str]

MIGRATIONS: list[Migration] = [_V1, _V2, _V3, _V4, _V5, _V6, _V7]


def schema_version() -> int:
    """The version this code writes: the number of migrations (read at call time so tests can append one)."""
    return len(MIGRATIONS)


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the missing migrations in order, all in one write transaction; return the version now in the file
    (above schema_version() when a newer easeml-gui wrote it: then nothing is applied).

    The version is re-read inside the transaction: another process may have migrated the file meanwhile.
    `conn` must be in autocommit mode (isolation_level=None) so the transaction is ours to control.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = user_version(conn)
        for version in range(current + 1, schema_version() + 1):
            for statement in MIGRATIONS[version - 1]:
                conn.execute(statement)
            # user_version lives in the file header and is transactional: it moves with the tables.
            conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return max(current, schema_version())
