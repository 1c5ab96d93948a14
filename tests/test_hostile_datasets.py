"""`dataset add` against hostile and broken inputs (issue 22): FIFOs, links to /dev/zero, devices, huge and sparse
files, zip and tar bombs, a SIGKILL mid-copy, a full disk, links and unreadable sub-folders. Real files, real
processes: each defect is reproduced as a user or an attacker would meet it."""

from __future__ import annotations

import io
import os
import signal
import stat
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_cli  # noqa: F401 (a fixture)
from PIL import Image
from small_disk import tmpfs

from easeml_gui.lab import datasets as lab_datasets
from easeml_gui.lab.errors import LabError
from easeml_gui.store import LabStore
from easeml_gui.training.datasets import register_dataset
from easeml_gui.training.errors import DatasetError
from easeml_gui.training.limits import Limits
from easeml_gui.training.staging import locked

MIB = 1024**2
PEAK_LIMIT_MIB = 400  # a `dataset add` process's peak RSS, whatever the size of what it is given
TWO_CLASSES = {"cat": 12, "dog": 12}

# Starts the command from a small, fresh process: a child's peak RSS counts the memory of the process it was
# forked from, so measured straight from pytest it would be pytest's. Its address space is capped too, so a
# regression that reads /dev/zero fails with MemoryError instead of taking the machine's memory.
_MEASURE = """
import resource, subprocess, sys
resource.setrlimit(resource.RLIMIT_AS, (4 * 1024**3, 4 * 1024**3))
done = subprocess.run(sys.argv[1:])
print(f"\\nPEAK_KIB {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}", file=sys.stderr)
sys.exit(done.returncode)
"""


@dataclass
class Added:
    returncode: int
    stdout: str
    stderr: str
    peak_mib: float


def png(seed: int, size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0]), dtype=np.uint8)
    Image.fromarray(pixels, "L").save(buffer, format="PNG")
    return buffer.getvalue()


def image_folder(root: Path, counts: dict[str, int] = TWO_CLASSES, size: tuple[int, int] = (8, 8)) -> Path:
    for c, (label, count) in enumerate(counts.items()):
        (root / label).mkdir(parents=True)
        for i in range(count):
            (root / label / f"{i:04d}.png").write_bytes(png(c * 10_000 + i, size))
    return root


def dataset_add(db: Path, source: Path, name: str, *extra: str, timeout: float = 120,
                wrapper: tuple[str, ...] = ()) -> Added:
    """`easeml-gui dataset add` in a process of its own (run by `wrapper` when given); a hang is killed with its
    process group and fails."""
    command = [*wrapper, sys.executable, "-m", "easeml_gui", "--db", str(db), "dataset", "add", str(source),
               "--name", name, *extra]
    process = subprocess.Popen([sys.executable, "-S", "-c", _MEASURE, *command], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=db.parent)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"`dataset add` still ran after {timeout} s: it hangs")
    err, _, peak = err.rpartition("PEAK_KIB ")
    return Added(process.returncode, out, err.strip(), int(peak) / 1024)


def left_behind(data_dir: Path) -> list[str]:
    datasets = data_dir / "datasets"
    return sorted(p.name for p in datasets.iterdir()) if datasets.is_dir() else []


def registered(db: Path) -> list[str]:
    with LabStore.open_readonly(db) as store:
        return [d.name for d in store.datasets(include_archived=True)]


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """The store; the managed data folder lies beside it (tmp_path/lab/datasets)."""
    (tmp_path / "lab").mkdir()
    return tmp_path / "lab" / "lab.sqlite"


def assert_refused_leaving_nothing(added: Added, lab: Path, *says: str) -> None:
    assert added.returncode == 1, added.stdout + added.stderr
    assert "Traceback" not in added.stderr
    for words in says:
        assert words in added.stderr
    assert left_behind(lab.parent) == [], "a refused registration left files behind"


# --- only regular files are read, and never whole ----------------------------------------------------------------

def test_a_fifo_in_a_class_folder_is_refused_at_once_and_skip_bad_leaves_it_out(tmp_path: Path, lab: Path) -> None:
    source = image_folder(tmp_path / "src")
    os.mkfifo(source / "cat" / "pipe.png")  # nobody ever writes to it: reading it would wait forever
    assert_refused_leaving_nothing(dataset_add(lab, source, "fifo"), lab,
                                   "cat/pipe.png: a FIFO (named pipe), not a regular file")
    added = dataset_add(lab, source, "fifo", "--skip-bad")
    assert added.returncode == 0, added.stderr
    assert "skipped cat/pipe.png: a FIFO (named pipe), not a regular file" in added.stdout
    assert registered(lab) == ["fifo"]


def test_a_link_to_dev_zero_is_left_out_unread_and_listed(tmp_path: Path, lab: Path) -> None:
    source = image_folder(tmp_path / "src")
    (source / "cat" / "zero.png").symlink_to("/dev/zero")
    added = dataset_add(lab, source, "zero")
    assert added.returncode == 0, added.stderr
    assert "skipped cat/zero.png: a symbolic link, left out (links are not followed" in added.stdout
    assert added.peak_mib < PEAK_LIMIT_MIB


def test_a_device_file_in_a_class_folder_is_refused(tmp_path: Path, lab: Path) -> None:
    source = image_folder(tmp_path / "src")
    try:
        os.mknod(source / "dog" / "zero.png", stat.S_IFCHR | 0o644, os.makedev(1, 5))  # what /dev/zero is
    except PermissionError:
        pytest.skip("making a device file needs root")
    added = dataset_add(lab, source, "device")
    assert_refused_leaving_nothing(added, lab, "dog/zero.png: a device, not a regular file")
    assert added.peak_mib < PEAK_LIMIT_MIB


def test_a_sparse_gigabyte_image_is_refused_by_its_size_without_reading_it(tmp_path: Path, lab: Path) -> None:
    source = image_folder(tmp_path / "src")
    with open(source / "cat" / "huge.png", "wb") as huge:
        huge.truncate(1024 * MIB)  # no disk used; read whole it was 1.15 GB resident
    added = dataset_add(lab, source, "sparse")
    assert_refused_leaving_nothing(added, lab, "cat/huge.png: 1,024.0 MiB, over the limit of 64.0 MiB per file")
    assert added.peak_mib < PEAK_LIMIT_MIB


def zip_bomb(path: Path, member_mib: int) -> Path:
    """Two small classes and one member of zeros, written streaming: a few hundred KB on disk."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for label, count in TWO_CLASSES.items():
            for i in range(count):
                zf.writestr(f"{label}/{i}.png", png(i))
        with zf.open("cat/bomb.png", "w", force_zip64=True) as member:
            for _ in range(member_mib):
                member.write(bytes(MIB))
    return path


def test_a_zip_bomb_is_refused_from_its_declared_sizes_before_anything_is_extracted(tmp_path: Path,
                                                                                  lab: Path) -> None:
    bomb = zip_bomb(tmp_path / "bomb.zip", member_mib=512)
    assert bomb.stat().st_size < 2 * MIB
    added = dataset_add(lab, bomb, "bomb")
    assert_refused_leaving_nothing(added, lab, "bomb.zip: member 'cat/bomb.png' is 512.0 MiB uncompressed, over the "
                                   "limit of 64.0 MiB per file")
    assert added.peak_mib < PEAK_LIMIT_MIB, f"peak RSS {added.peak_mib:.0f} MiB for a 512 MiB member"


def test_a_tar_gz_bomb_of_small_members_is_stopped_while_extracting(tmp_path: Path) -> None:
    """A tar.gz declares no compressed sizes: the bytes written are counted against the archive's size."""
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for i in range(12):
            info = tarfile.TarInfo(f"cat/{i}.png")
            info.size = 8 * MIB
            tf.addfile(info, io.BytesIO(bytes(info.size)))
    data_dir = tmp_path / "managed"
    with pytest.raises(DatasetError, match=r"bomb.tar.gz expands more than 200 times \(.* MiB from .* KiB: a "
                                           r"decompression bomb\?\); refusing to extract it"):
        register_dataset(archive, data_dir / "ds")
    assert list(data_dir.iterdir()) == []


def test_more_files_than_the_cap_are_refused(tmp_path: Path) -> None:
    source = image_folder(tmp_path / "src")
    with pytest.raises(DatasetError, match=r"src holds more than 20 files; split it into several datasets"):
        register_dataset(source, tmp_path / "managed" / "ds", limits=Limits(max_files=20))


# --- staging: nothing stays behind a killed registration ---------------------------------------------------------

def staging_folders(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "datasets").glob(".*.incoming-*"))


def test_a_dataset_add_killed_mid_copy_leaves_staging_that_the_next_one_sweeps(tmp_path: Path, lab: Path) -> None:
    source = image_folder(tmp_path / "big", {"cat": 2500, "dog": 2500}, size=(32, 32))
    command = [sys.executable, "-m", "easeml_gui", "--db", str(lab), "dataset", "add", str(source), "--name", "big"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=lab.parent)
    try:
        deadline = time.monotonic() + 120
        while not any((stage / "data" / "dog").is_dir() for stage in staging_folders(lab.parent)):
            assert process.poll() is None and time.monotonic() < deadline, "never saw the copy start"
            time.sleep(0.005)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert staging_folders(lab.parent), "the kill left no staging folder to sweep"
    added = dataset_add(lab, image_folder(tmp_path / "small"), "small")
    assert added.returncode == 0, added.stderr
    assert staging_folders(lab.parent) == [] and left_behind(lab.parent) == ["small"]


def test_staging_of_a_live_registration_stays_and_stale_ones_go(tmp_path: Path) -> None:
    datasets = tmp_path / "managed" / "datasets"
    live, dead, old = (datasets / f".{name}.incoming-{suffix}" for name, suffix in
                       (("a", f"{os.getpid()}-live"), ("b", "999999999-dead"), ("c", "older_version")))
    for folder in (live, dead, old):
        folder.mkdir(parents=True)
    with locked(live):  # as a registration in another process holds it
        register_dataset(image_folder(tmp_path / "src"), datasets / "ds")
        assert staging_folders(tmp_path / "managed") == [live]


def test_a_folder_left_between_rename_and_record_does_not_block_its_name(tmp_path: Path, lab: Path,
                                                                          run_cli) -> None:
    source = image_folder(tmp_path / "src")
    leftover = lab.parent / "datasets" / "pets"
    register_dataset(source, leftover)  # renamed into place; the process died before the store recorded it
    with locked(leftover):  # while a registration still holds it, it is not taken away
        out = run_cli("--db", lab, "dataset", "add", source, "--name", "pets")
        assert out.returncode == 1 and "is being registered by another process; wait for it" in out.stderr
    out = run_cli("--db", lab, "dataset", "add", source, "--name", "pets")
    assert out.returncode == 0, out.stderr
    assert registered(lab) == ["pets"] and (leftover / "manifest.json").is_file()


# --- a full disk ---------------------------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path):
    """A 4 MiB tmpfs as the managed data folder (root mounts it; elsewhere the tests are skipped)."""
    with tmpfs(tmp_path / "small disk", "4m") as folder:
        yield folder


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_a_full_disk_is_said_with_the_mib_free(tmp_path: Path, small_disk: Path, as_zip: bool) -> None:
    source = image_folder(tmp_path / "src", size=(512, 512))  # 24 incompressible images, about 6 MiB
    if as_zip:
        archive = tmp_path / "src.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
            for path in sorted(source.rglob("*.png")):
                zf.write(path, path.relative_to(source).as_posix())
        source = archive
    with LabStore(tmp_path / "lab.sqlite") as store:
        with pytest.raises(LabError, match=r"the disk holding .*small disk/datasets is full \(\d+\.\d MiB free\); "
                                           r"free some space there and try again"):
            lab_datasets.register(store, "big", source, small_disk)
        assert store.datasets() == []
    assert [p.name for p in (small_disk / "datasets").iterdir()] == []


# --- one rule for links: none is followed, each is listed ---------------------------------------------------------

def test_links_are_not_followed_and_each_is_listed(tmp_path: Path, lab: Path, run_cli) -> None:
    source = image_folder(tmp_path / "src")
    elsewhere = image_folder(tmp_path / "elsewhere", {"bird": 12})
    (source / "bird").symlink_to(elsewhere / "bird")  # a class folder
    (source / "cat" / "more").symlink_to(elsewhere / "bird")  # a sub-folder
    (source / "dog" / "again.png").symlink_to(source / "dog" / "0000.png")  # a file inside the tree
    out = run_cli("--db", lab, "dataset", "add", source, "--name", "linked")
    assert out.returncode == 0, out.stderr
    assert "2 classes, 24 images" in out.stdout
    for path in ("bird", "cat/more", "dog/again.png"):
        assert f"skipped {path}: a symbolic link, left out (links are not followed" in out.stdout


def test_an_unreadable_sub_folder_is_listed_as_left_out(tmp_path: Path, lab: Path) -> None:
    """Root reads any folder: as root, the command runs in a user namespace as an ordinary user who owns the
    files (root outside), so a folder of mode 000 is unreadable to it as to any user."""
    as_user = ("unshare", "--user", "--map-user=1000", "--map-group=1000") if os.geteuid() == 0 else ()
    if as_user and subprocess.run([*as_user, "true"]).returncode != 0:
        pytest.skip("no user namespaces here")
    source = image_folder(tmp_path / "src")
    image_folder(source / "cat" / "private", {"more": 3})
    (source / "cat" / "private").chmod(0)
    try:
        added = dataset_add(lab, source, "partial", wrapper=as_user)
    finally:
        (source / "cat" / "private").chmod(0o755)
    assert added.returncode == 0, added.stderr
    assert "skipped cat/private: an unreadable folder (Permission denied), left out" in added.stdout


def test_a_name_that_is_not_utf8_is_left_out_and_listed(tmp_path: Path, lab: Path, run_cli) -> None:
    source = image_folder(tmp_path / "src")
    (source / "cat" / os.fsdecode(b"caf\xe9.png")).write_bytes(png(99))  # Latin-1 bytes, as old archives hold
    out = run_cli("--db", lab, "dataset", "add", source, "--name", "latin")
    assert out.returncode == 0, out.stderr
    assert "skipped cat/caf\\xe9.png: a name that is not valid UTF-8, left out (rename it" in out.stdout
