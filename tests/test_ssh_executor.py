"""What the SSH executor adds to the shared contract, against a real OpenSSH sshd on 127.0.0.1 (tests/sshd.py) whose
"remote" side is this machine with this very Python: code and datasets sent once and checked, a sync cut short
resumed, a corrupted copy caught, drops within and past the timeout, names that stay data, GPU placement."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sshd import client_key, sshd_factory  # noqa: F401 (fixtures)
from test_executor_contract import CPU_ONLY, ssh_executor, ssh_link
from training_fixtures import small_digits  # noqa: F401 (a fixture)

from easeml_gui.engine.types import Arm, Task, TaskResult, TaskState
from easeml_gui.execution.composite import CompositeExecutor
from easeml_gui.execution.local import LocalExecutor
from easeml_gui.remote.code_sync import ensure_code
from easeml_gui.remote.dataset_sync import sync_dataset
from easeml_gui.remote.errors import Unreachable
from easeml_gui.remote.executor import SSHExecutor
from easeml_gui.remote.placement import Placement
from easeml_gui.remote.weights_sync import ensure_weights, torch_home
from easeml_gui.training.datasets import load_dataset, register_dataset
from easeml_gui.training.digits import export_digits
from easeml_gui.training.predictions import Predictions
from easeml_gui.training.weights_registry import WeightsEntry, hub_checkpoints_dir, record, weights_for

SVC = Arm("svc", 0)  # a scikit-learn fit: a few seconds, no torch
NET = Arm("mobilenet_v3_small", 1)  # trains as long as max_seconds allows


def alive(pid: int) -> bool:
    try:
        return not Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except OSError:
        return False


def one_result(executor: SSHExecutor, limit: float = 120) -> TaskResult:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        results = executor.wait(timeout=1.0)
        if results:
            [result] = results
            return result
    raise AssertionError(f"no result within {limit:.0f} s")


def started(executor: SSHExecutor, task_id: str, limit: float = 60) -> int:
    """The worker's pid once it has begun training (its start event is in progress.jsonl)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        where = executor.location(task_id)
        if where is not None and where.pid is not None and executor.events(task_id)[0]:
            return where.pid
        time.sleep(0.2)
    raise AssertionError(f"{task_id} did not start within {limit:.0f} s")


def network(dataset: Path, seconds: float | None) -> dict[str, Any]:
    config: dict[str, Any] = {"dataset": str(dataset), "image_size": 16, "epochs": 10_000}
    return config if seconds is None else {**config, "max_seconds": seconds}


def test_code_and_dataset_are_sent_once_per_host(sshd_factory, client_key, small_digits, tmp_path):
    server = sshd_factory()
    files = len({entry.sha256 for entry in load_dataset(small_digits).manifest})
    with ssh_executor(tmp_path, ssh_link(server, client_key)) as executor:
        for number in (1, 2):
            executor.submit(Task(f"t{number}", "tenant", SVC, "cpu", config={"dataset": str(small_digits)}))
            result = one_result(executor)
            assert result.state is TaskState.DONE, result.error
        assert (executor.code_sends, executor.files_sent) == (1, files)  # the second task sent nothing
        fetched = Path(result.details["folder"])
        assert fetched == tmp_path / "fetched" / "t2-1" and (fetched / result.details["checkpoint"]).is_file()
        assert Predictions.load(fetched / result.details["predictions"]).classes == 10  # what ensembles combine
    with ssh_executor(tmp_path, ssh_link(server, client_key)) as again:  # a later run: still nothing to send
        again.submit(Task("t3", "tenant", SVC, "cpu", config={"dataset": str(small_digits)}))
        assert one_result(again).state is TaskState.DONE
        assert (again.code_sends, again.files_sent) == (0, 0)


def test_a_dataset_sync_cut_short_resumes_without_resending_what_arrived(sshd_factory, client_key, small_digits,
                                                                         tmp_path):
    server = sshd_factory()
    link = ssh_link(server, client_key)
    root = str(tmp_path / "root")
    code, _ = ensure_code(link, root)
    sent: list[str] = []

    def drop_after_100(sha: str) -> None:
        sent.append(sha)
        if len(sent) == 100:
            server.drop()  # the host goes away mid-sync

    with pytest.raises(Unreachable):  # bundles of 50: the third is cut short
        sync_dataset(link, sys.executable, code, root, str(small_digits), on_sent=drop_after_100, bundle_files=50)
    server.start()
    total = len({entry.sha256 for entry in load_dataset(small_digits).manifest})
    resumed = sync_dataset(link, sys.executable, code, root, str(small_digits), on_sent=sent.append,
                           bundle_files=50)
    assert resumed.files_sent == total - 100 and len(set(sent)) == len(sent) == total  # nothing sent twice
    copy = load_dataset(resumed.folder)  # what the worker reads on the host
    assert copy.content_hash == load_dataset(small_digits).content_hash
    assert sync_dataset(link, sys.executable, code, root, str(small_digits)).files_sent == 0
    link.close()


def test_a_corrupted_copy_on_the_host_is_caught_and_sent_again(sshd_factory, client_key, small_digits, tmp_path):
    link = ssh_link(sshd_factory(), client_key)
    root = tmp_path / "root"
    code, _ = ensure_code(link, str(root))
    synced = sync_dataset(link, sys.executable, code, str(root), str(small_digits))
    first, second = load_dataset(small_digits).manifest[:2]
    with open(root / "objects" / first.sha256, "ab") as damaged:  # a changed size: the quick check sees it
        damaged.write(b"bit rot")
    again = sync_dataset(link, sys.executable, code, str(root), str(small_digits))
    assert again.files_sent == 1
    (root / "objects" / second.sha256).write_bytes(b"\0" * second.size)  # same size: only a re-hash sees it ...
    (Path(synced.folder) / ".verified").unlink()  # ... which a missing marker asks for
    assert sync_dataset(link, sys.executable, code, str(root), str(small_digits)).files_sent == 1
    for entry in (first, second):
        data = (Path(synced.folder) / entry.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry.sha256
    link.close()


def test_two_hosts_sharing_one_root_sync_it_at_once(sshd_factory, client_key, small_digits, tmp_path):
    """Lab boxes often share an NFS home: two hosts' syncs of one code version and one dataset into one root, at
    the same moment, both end with a whole, checked copy, and neither fails for the other's half-written files."""
    root = str(tmp_path / "shared root")
    links = [ssh_link(sshd_factory(), client_key, name) for name in ("box1", "box2")]
    barrier = threading.Barrier(len(links))

    def sync(link) -> str:
        barrier.wait()
        code, _ = ensure_code(link, root)
        return sync_dataset(link, sys.executable, code, root, str(small_digits), bundle_files=50).folder

    with ThreadPoolExecutor(len(links)) as pool:
        folders = list(pool.map(sync, links))
    assert folders[0] == folders[1]
    assert load_dataset(folders[0]).content_hash == load_dataset(small_digits).content_hash
    assert not [p.name for p in (tmp_path / "shared root").rglob("*") if ".part" in p.name or "bundle-" in p.name]
    for link in links:
        link.close()


def test_a_drop_within_the_timeout_re_attaches_and_reports_the_task_once(sshd_factory, client_key, small_digits,
                                                                        tmp_path):
    server = sshd_factory()
    link = ssh_link(server, client_key)
    with ssh_executor(tmp_path, link, unreachable_timeout=60) as executor:
        executor.submit(Task("t1", "tenant", NET, "cpu", config=network(small_digits, 8)))
        pid = started(executor, "t1")
        server.drop()
        time.sleep(3)
        assert alive(pid) and executor.devices() == []  # the worker trains on; nothing new goes to the host
        server.start()
        result = one_result(executor)
        assert result.state is TaskState.DONE and result.details["stopped_by_time"]
        assert link.connects >= 2 and executor.devices() == ["cpu"]
        assert executor.wait(timeout=2) == []


def test_a_host_away_past_the_timeout_has_its_task_re_queued_and_its_worker_stopped_on_return(
        sshd_factory, client_key, small_digits, tmp_path):
    server = sshd_factory()
    with ssh_executor(tmp_path, ssh_link(server, client_key), unreachable_timeout=3) as executor:
        executor.submit(Task("t1", "tenant", NET, "cpu", config=network(small_digits, None)))
        pid = started(executor, "t1")
        server.drop()
        result = one_result(executor, limit=30)
        assert result.state is TaskState.CANCELLED and result.quality is None  # the engine hands the model out again
        assert "unreachable" in result.error and "re-queued" in result.error
        assert alive(pid) and list(executor.running()) == []
        server.start()
        deadline = time.monotonic() + 30
        while alive(pid):  # the first connection back sweeps the abandoned worker away
            assert time.monotonic() < deadline, "the abandoned worker was not stopped"
            time.sleep(0.2)
        assert executor.wait(timeout=2) == []  # and it is never reported


def test_names_with_shell_metacharacters_stay_data(sshd_factory, client_key, tmp_path):
    odd = tmp_path / "it's a $(touch pwned); `id` \"ds\""
    dataset = odd / "dataset $(touch pwned2)"
    register_dataset(export_digits(tmp_path / "source", per_class=12), dataset)
    remote = tmp_path / "remote; touch pwned3 'root'"
    link = ssh_link(sshd_factory(), client_key)
    executor = SSHExecutor(link, Placement({"gpus": [], "devices": ["cpu"]}), python=sys.executable,
                           root=str(remote), local_dir=tmp_path / "fetched", poll_seconds=1.0)
    with executor:
        executor.submit(Task("t1;$(touch pwned4)", "ten ant's $(x)", SVC, "cpu", config={"dataset": str(dataset)}))
        result = one_result(executor)
    assert result.state is TaskState.DONE, result.error
    [folder] = (remote / "tasks" / "lab").iterdir()  # the task id made a safe folder name
    assert folder.name == "t1___touch_pwned4_-1" and (folder / "result.json").is_file()
    assert not list(tmp_path.rglob("pwned*")) and not Path("pwned").exists()


PROBE = {"status": "ready", "ready": True, "devices": ["cuda:0", "cuda:1", "cuda:2"], "report": {"user": "me"},
         "gpus": [{"index": i, "name": "A100", "total_mib": 40960, "free_mib": 40000, "visible": True,
                   "processes": []} for i in range(3)]}


def smi(*used: tuple[int, list[dict[str, Any]]]) -> dict[str, Any]:
    return {"nvidia_smi": True, "gpus": [{"index": i, "uuid": f"GPU-{i}", "name": "A100", "total_mib": 40960,
                                          "used_mib": mib, "processes": procs} for i, (mib, procs) in enumerate(used)]}


def test_placement_skips_gpus_that_are_full_or_held_by_another_user_unless_sharing_is_allowed():
    bob = [{"pid": 7, "user": "bob", "used_mib": 30000}]
    mine = [{"pid": 8, "user": "me", "used_mib": 39500}]
    now = smi((100, []), (30000, bob), (39500, mine))
    placement = Placement(PROBE)
    assert placement.candidates() == ["cuda:0", "cuda:1", "cuda:2"]
    assert placement.usable(now) == ["cuda:0"]  # bob holds 1; 2 has 1.4 GiB free
    assert placement.usable(now, ours=["cuda:2"]) == ["cuda:0", "cuda:2"]  # our own task's GPU stays ours
    assert Placement(PROBE, share_busy_gpus=True).usable(now) == ["cuda:0", "cuda:1"]
    assert Placement(PROBE, gpus=(2, 0)).usable(smi((0, []), (0, []), (0, []))) == ["cuda:2", "cuda:0"]
    assert placement.usable(smi((0, []))) == ["cuda:0"]  # GPUs gone from nvidia-smi are no place for a task
    assert Placement({"gpus": [], "devices": ["cpu"]}).usable(None) == ["cpu"]  # a host without GPUs: its CPU


def test_the_labs_weights_reach_the_host_once_and_are_what_its_workers_load(sshd_factory, client_key, tmp_path,
                                                                           monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "local torch"))
    checkpoints = hub_checkpoints_dir()
    (checkpoints / "easeml").mkdir(parents=True)
    weights = checkpoints / "easeml" / "mobilenet_v3_small-0123456789ab.pth"
    weights.write_bytes(b"pretend tensors " * 1000)  # the registry checks presence; load checks happen at import
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    record(WeightsEntry("mobilenet_v3_small", weights, sha, "imported from a test", weights.stat().st_size))
    link = ssh_link(sshd_factory(), client_key)
    root = str(tmp_path / "root")
    code, _ = ensure_code(link, root)
    entry = weights_for("mobilenet_v3_small")
    assert ensure_weights(link, sys.executable, code, root, entry) is True
    assert ensure_weights(link, sys.executable, code, root, entry) is False  # once per host
    monkeypatch.setenv("TORCH_HOME", torch_home(root))  # what a worker on the host sees
    there = weights_for("mobilenet_v3_small")
    assert (there.sha256, there.source) == (sha, "imported from a test")
    assert there.file.read_bytes() == weights.read_bytes() and there.file != weights
    link.close()


@pytest.fixture
def full_disk(tmp_path):
    """A work folder on a small tmpfs that is already full (root mounts it; a machine that cannot is skipped)."""
    folder = tmp_path / "full disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        with open(folder / "filler", "wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * (1 << 16))
                    filler.flush()
            except OSError:
                pass
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_on_the_host_fails_the_task_saying_so_and_the_local_device_goes_on(
        sshd_factory, client_key, small_digits, full_disk, tmp_path):
    remote = SSHExecutor(ssh_link(sshd_factory(), client_key), CPU_ONLY, python=sys.executable,
                         root=str(full_disk / "root"), local_dir=tmp_path / "fetched", grace_seconds=5,
                         poll_seconds=1.0)
    lab = CompositeExecutor({None: LocalExecutor(tmp_path / "tasks"), "box": remote})
    try:
        local_device, box_device = lab.devices()
        for task_id, device in (("here", local_device), ("there", box_device)):
            lab.submit(Task(task_id, "tenant", SVC, device, config={"dataset": str(small_digits)}))
        results: dict[str, TaskResult] = {}
        while len(results) < 2:
            results.update({r.task_id: r for r in lab.wait(timeout=5.0)})
    finally:
        lab.close()
    assert results["here"].state is TaskState.DONE
    full = results["there"]
    assert full.state is TaskState.FAILED and full.retryable  # the host's fault, not the model's
    assert "no space left" in full.error.lower() and "box" in full.error, full.error
    # The host rests: the model's retry goes to another device instead of failing here again.
    assert "box takes no new task for 30 s" in full.error and lab.devices() == [local_device]
