"""The connection every store object holds, and the two ways to use it: a snapshot read or a write transaction."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, Mapping, Sequence, TypeVar

from sqlite_utils import Database

from .connection import translate
from .errors import StoreError


_S = TypeVar("_S", bound="StoreBase")


class StoreBase:
    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Callable[[], float], timeout: float) -> None:
        self.path = path
        self._conn = conn
        self._db = Database(conn, execute_plugins=False)
        self._clock = clock
        self._timeout = timeout
        # One connection may be shared by threads (scheduler thread, GUI start-up): serialise its use.
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def data_version(self) -> int:
        """A number that changes whenever another connection committed to the file (PRAGMA data_version): a
        reader that sees the same number twice has nothing new to read."""
        with self._lock, self._guard():
            return int(self._rows("PRAGMA data_version")[0]["data_version"])

    def snapshot(self) -> ContextManager[None]:
        """Reads inside `with store.snapshot():` all see one state of the file (one read transaction)."""
        return self._read()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise translate(exc, self.path, self._timeout) from exc
        except sqlite3.ProgrammingError as exc:  # e.g. use after close()
            raise StoreError(f"the store {self.path} is closed ({exc}); open it again") from exc

    @contextmanager
    def _read(self) -> Iterator[Database]:
        """A consistent snapshot for several queries; inside a write it simply joins the write."""
        with self._lock, self._guard():
            if self._conn.in_transaction:
                yield self._db
                return
            self._conn.execute("BEGIN")
            try:
                yield self._db
            finally:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")  # nothing was written: ending the read is all it does

    @contextmanager
    def _write(self) -> Iterator[Database]:
        """One write transaction. IMMEDIATE takes the write lock up front, so SQLite waits (busy timeout) instead
        of failing with "database is locked" when a read must later upgrade to a write."""
        with self._lock, self._guard():
            if self._conn.in_transaction:
                yield self._db
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _rows(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[dict[str, Any]]:
        # Closed before returning, on every path: a cursor left to the garbage collector keeps its statement (and,
        # unfinished, its read transaction) alive until a collection on whichever thread runs it.
        cursor = self._conn.execute(sql, params)
        try:
            keys = [d[0] for d in cursor.description]
            return [dict(zip(keys, row)) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def _row(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    # The live loop's writes use these plain statements: sqlite-utils' insert()/update() introspect the table on
    # every call (~0.1 ms each, a third of a commit), which the scheduler's per-task writes need not pay.
    def _insert(self, table: str, row: Mapping[str, Any], *, replace: bool = False) -> None:
        """replace: a row with the same key is replaced instead of refused."""
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        self._conn.execute(f"{verb} INTO {table} ({columns}) VALUES ({marks})", tuple(row.values()))

    def _update(self, table: str, key: tuple[str, Any], changes: Mapping[str, Any]) -> None:
        assignments = ", ".join(f"{column} = ?" for column in changes)
        self._conn.execute(f"UPDATE {table} SET {assignments} WHERE {key[0]} = ?", (*changes.values(), key[1]))
