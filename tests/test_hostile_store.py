"""Hostile and broken stores (issue 22): a store reached through a link, a device or FIFO given as the store, garbage
written into a store's middle, a full disk. Each is refused with a message that says what to do, and changes
nothing; real files, real SQLite."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from small_disk import tmpfs

from easeml_gui.lab.errors import LabError
from easeml_gui.lab.runs import lock_path, run_lock, running_pid
from easeml_gui.store import LabStore, StoreError

REPO = Path(__file__).resolve().parents[1]
PAGE = 4096  # SQLite's default page size, which the store keeps


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "lab" / "lab.sqlite"
    with LabStore(path) as store:
        store.add_tenant("alice")
    return path


def cli(db: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "easeml_gui", "--db", str(db), *args], capture_output=True,
                          text=True, cwd=REPO, timeout=timeout)


# --- the run lock is the store file's, whatever path leads to it --------------------------------------------------

def test_a_symlink_or_hard_link_to_the_store_takes_the_same_run_lock(db: Path, tmp_path: Path) -> None:
    linked = tmp_path / "elsewhere" / "link.sqlite"
    linked.parent.mkdir()
    linked.symlink_to(db)
    hard = db.with_name("same-file.sqlite")
    os.link(db, hard)
    with run_lock(db):
        for other in (linked, hard, Path(os.path.relpath(db))):
            with pytest.raises(LabError, match="another `easeml-gui run` is using"):
                with run_lock(other):
                    pass
            assert running_pid(other) == os.getpid()
    assert lock_path(linked).parent == db.parent  # beside the real store, not beside the link
    assert not list(linked.parent.glob("*lock*"))


# --- only a regular file (or nothing yet) is a store ----------------------------------------------------------------

def special_files(tmp_path: Path) -> list[Path]:
    fifo = tmp_path / "fifo.sqlite"
    os.mkfifo(fifo)
    files = [fifo]
    try:  # a copy of /dev/null in tmp_path, so that a bug writes its -journal here rather than into /dev
        os.mknod(tmp_path / "null.sqlite", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        files.append(tmp_path / "null.sqlite")
    except PermissionError:
        pass  # not root: the FIFO alone
    return files


def test_a_device_or_fifo_is_refused_as_a_store_and_nothing_is_written_beside_it(tmp_path: Path) -> None:
    for special in special_files(tmp_path):
        for args in (("tenant", "add", "bob"), ("status",)):
            out = cli(special, *args)
            assert out.returncode == 1, out.stderr
            assert f"{special} is not a regular file" in out.stderr and "Traceback" not in out.stderr
        with pytest.raises(StoreError, match="pass the path of a store file .*with --db"):
            LabStore(special)
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(("-journal", "-wal", "-shm"))]


# --- garbage in a store's middle ------------------------------------------------------------------------------------

def with_decisions(db: Path, rows: int) -> None:
    """`rows` decisions of a few hundred bytes each, written raw: pages of a table `tenant add` never reads."""
    conn = sqlite3.connect(db)
    explanation = json.dumps({"why": "x" * 300})
    conn.executemany("INSERT INTO decisions (time, device, tenant, arm, arm_index, policy, explanation) "
                     "VALUES (?, 'cpu', 'alice', 'svc', 0, 'default', ?)", ((i, explanation) for i in range(rows)))
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page into the main file
    conn.close()


def test_a_store_with_garbage_in_its_middle_is_refused_by_a_writer_too(db: Path) -> None:
    with_decisions(db, 2000)
    size = db.stat().st_size
    middle = (size // PAGE // 2) * PAGE
    with open(db, "r+b") as file:  # this test process holds no SQLite connection to it
        file.seek(middle)
        file.write(os.urandom(PAGE))
    before = db.read_bytes()
    assert cli(db, "log").returncode == 1  # the reader refuses it already
    out = cli(db, "tenant", "add", "bob")
    assert out.returncode == 1 and "is damaged" in out.stderr and "restore a backup" in out.stderr, out.stderr
    assert db.read_bytes() == before


# --- a full disk ----------------------------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path):
    """A 1 MiB tmpfs for the store (root mounts it; elsewhere the test is skipped)."""
    with tmpfs(tmp_path / "small disk", "1m") as folder:
        yield folder


def test_a_full_disk_under_the_store_is_said_with_the_mib_free(small_disk: Path) -> None:
    db = small_disk / "lab.sqlite"
    with LabStore(db) as store:
        with pytest.raises(StoreError, match=r"the disk holding .*small disk/lab.sqlite is full \(\d+\.\d MiB free\); "
                                             r"free some space there and try again"):
            for i in range(10_000):
                store.add_tenant(f"tenant-{i:05d}-{'x' * 50}")
