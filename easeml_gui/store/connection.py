"""Opening a store file safely: refuse what is not ours or too new before anything is written, and turn
SQLite's exceptions into StoreError messages that say what to do."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from pathlib import Path

from .errors import StoreError
from .schema import APPLICATION_ID, migrate, schema_version, user_version


def _ro_uri(path: Path) -> str:
    # Not immutable=1: that reads without locks, and a checkpoint by a live writer meanwhile looks like damage.
    return path.resolve().as_uri() + "?mode=ro"


def _existing(path: Path) -> bool:
    """True when `path` holds data; refuses anything but a regular file (a folder, a device such as /dev/null, a
    FIFO: SQLite would write its -journal beside it, or wait on it). Only stat() looks at the file here.

    The header is checked by SQLite itself, through a read-only connection (_inspect, connect_reader): a plain
    open() and close() of the store file in this process would drop every POSIX lock this process's SQLite
    connections hold on it (fcntl locks belong to the process, and any close() releases them). Another process
    closing its connection then believes it is the store's last user, checkpoints and deletes the -wal and -shm
    files under the open connections here, which go on reading a deleted snapshot: the window showed an old lab
    for minutes, rows of one table in another, and "disk image is malformed" on a sound file.
    """
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(found.st_mode):
        raise StoreError(f"{path} is a folder, not a store file; pass the path of a store file (or of a new one) "
                         "with --db")
    if not stat.S_ISREG(found.st_mode):
        raise StoreError(f"{path} is not a regular file (a device, FIFO or socket); pass the path of a store file "
                         "(or of a new one) with --db")
    return found.st_size > 0


def _check_version(path: Path, conn: sqlite3.Connection, *, writer: bool) -> None:
    version = user_version(conn)
    app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    tables = int(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
    if version > schema_version():
        raise StoreError(
            f"{path} was written by a newer easeml-gui (store schema v{version}; this version reads up to "
            f"v{schema_version()}). Upgrade easeml-gui (pip install --upgrade easeml-gui); the file was not modified."
        )
    if (version == 0 and tables > 0) or (version > 0 and app_id != APPLICATION_ID):
        raise StoreError(
            f"{path} is an SQLite database of another application, not an easeml-gui store; it was not modified. "
            "Pass another file with --db."
        )
    if not writer and version == 0:
        raise StoreError(f"{path} is an empty store: add a tenant (easeml-gui tenant add NAME) or run easeml-gui demo")
    if not writer and version < schema_version():
        raise StoreError(
            f"{path} uses store schema v{version}, older than this easeml-gui (v{schema_version()}); start "
            "easeml-gui (the app or any command that changes the lab) once to upgrade it, then retry."
        )


def _inspect(path: Path, timeout: float) -> None:
    """Refuse a foreign, damaged or newer file through a read-only connection, before a writer may touch it: a
    file that is not SQLite at all fails its first read ("file is not a database"), and garbage in its middle
    fails quick_check (a reader fails on those pages when it reads them; a writer may never read them before
    writing). The file itself is never written; for a WAL-mode file (an easeml-gui store) SQLite may leave empty
    -wal/-shm files beside it.
    """
    conn = sqlite3.connect(_ro_uri(path), uri=True, timeout=timeout, isolation_level=None)
    try:
        _check_version(path, conn, writer=True)
        _check_pages(path, conn)
    except sqlite3.DatabaseError as exc:
        raise translate(exc, path, timeout) from exc
    finally:
        conn.close()


def _check_pages(path: Path, conn: sqlite3.Connection) -> None:
    """quick_check: every page's structure, without matching indexes to their tables (which integrity_check
    adds). Run once, as a writer connection opens, never per write: it reads the whole file, about 50 ms for a
    54 MB store whose pages the OS has cached."""
    found = conn.execute("PRAGMA quick_check(1)").fetchone()[0]  # (1): stop at the first problem
    if found != "ok":
        raise StoreError(_damaged(path, found))


def _damaged(path: Path, found: str) -> str:
    return (f"{path} is damaged or not an easeml-gui store ({found}). Keep a copy of the file, then restore a "
            "backup or pass another file with --db.")


def connect_writer(path: Path, timeout: float) -> sqlite3.Connection:
    """The one writer connection: WAL, busy timeout, foreign keys, schema migrated to the current version."""
    if _existing(path):
        _inspect(path, timeout)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: transactions are begun explicitly (BEGIN IMMEDIATE for writes, see base.py).
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StoreError(
                f"{path}: SQLite cannot use write-ahead logging there (journal mode {mode!r}); "
                "keep the store on a local disk, not a network share"
            )
        # NORMAL in WAL mode: a crashed process loses nothing committed; a power cut may lose the last commits
        # but never corrupts the file.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        if migrate(conn) > schema_version():  # a newer easeml-gui upgraded it since _inspect()
            _check_version(path, conn, writer=True)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise translate(exc, path, timeout) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def connect_reader(path: Path, timeout: float) -> sqlite3.Connection:
    """A read-only connection (mode=ro): never writes, never blocks the writer, waits out brief WAL locks."""
    if not _existing(path):
        raise StoreError(f"no easeml-gui store at {path}: add a tenant (easeml-gui tenant add NAME) or run easeml-gui demo")
    try:
        conn = sqlite3.connect(_ro_uri(path), uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.DatabaseError as exc:
        raise translate(exc, path, timeout) from exc
    try:
        _check_version(path, conn, writer=False)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise (_unwritable_folder(exc, path) or translate(exc, path, timeout)) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _unwritable_folder(exc: sqlite3.DatabaseError, path: Path) -> StoreError | None:
    """Even a read of a WAL-mode store needs its -shm file; where no connection left one, SQLite must create it
    beside the store, and a folder the reader cannot write fails the read as "readonly", as if the file were."""
    shm = path.with_name(path.name + "-shm")
    if _primary_code(exc) != "SQLITE_READONLY" or shm.exists() or os.access(path.parent, os.W_OK):
        return None
    return StoreError(f"cannot read {path}: its folder {path.parent} is not writable for you, and SQLite must create "
                      f"{shm.name} there to read the store; ask its owner to make the folder writable for you, or copy "
                      "the store into a folder of yours and pass that with --db")


# Python 3.10's exceptions carry no sqlite_errorname: SQLite's fixed text for each primary code (sqlite3_errstr)
# names it there.
_ERRSTR_CODES = {"database is locked": "SQLITE_BUSY", "database table is locked": "SQLITE_LOCKED",
                 "database disk image is malformed": "SQLITE_CORRUPT", "file is not a database": "SQLITE_NOTADB",
                 "attempt to write a readonly database": "SQLITE_READONLY", "database or disk is full": "SQLITE_FULL",
                 "disk I/O error": "SQLITE_IOERR", "unable to open database file": "SQLITE_CANTOPEN"}


def _primary_code(exc: sqlite3.DatabaseError) -> str:
    """SQLite's primary result code name ("SQLITE_BUSY" for SQLITE_BUSY_SNAPSHOT too), "" when unknown."""
    name = getattr(exc, "sqlite_errorname", None) or _ERRSTR_CODES.get(str(exc), "")
    return "_".join(name.split("_")[:2])


def translate(exc: sqlite3.DatabaseError, path: Path, timeout: float) -> StoreError:
    """Turn an SQLite exception into a StoreError that says what is wrong and what to do, told apart by SQLite's
    result code (its message text is for people)."""
    text, code = str(exc), _primary_code(exc)
    if code in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        return StoreError(
            f"the store {path} stayed busy for more than {timeout:g} s (another easeml-gui process is writing it); "
            "try again in a moment"
        )
    if code in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
        return StoreError(_damaged(path, text))
    if code == "SQLITE_READONLY":
        return StoreError(f"{path} cannot be written ({text}); check the file's permissions")
    if code == "SQLITE_FULL":
        return StoreError(f"the disk holding {path} is full ({_free_mib(path):,.1f} MiB free); free some space "
                          "there and try again")
    if code == "SQLITE_IOERR":
        return StoreError(f"cannot write {path} ({text}); free disk space or check the disk, then retry")
    if code == "SQLITE_CANTOPEN":
        return StoreError(f"cannot open {path} ({text}); check that its folder exists and is readable")
    if isinstance(exc, sqlite3.IntegrityError):  # SQLITE_CONSTRAINT, on every Python
        return StoreError(f"the store refused an inconsistent change ({text})")
    return StoreError(f"store error on {path}: {text}")


def _free_mib(path: Path) -> float:
    return shutil.disk_usage(path.parent).free / 1024**2
