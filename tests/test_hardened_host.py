"""A hardened host: its sshd offers no SFTP subsystem (tests/sshd.py `sftp=False`). The probe says so and the host
stays usable: files go over exec channels (tar on stdin up, cat / tar down), and a remote run trains to done."""

from __future__ import annotations

import json
import subprocess
import sys

from cli_runner import run_cli  # noqa: F401 (a fixture)
from sshd import client_key, hardened_sshd, ssh_home, sshd_factory  # noqa: F401 (fixtures)
from test_cli_remote import WITHOUT_TORCH, add_host, cli_ok, lab  # noqa: F401 (lab: a fixture)
from test_executor_contract import CPU_ONLY, ssh_executor, ssh_link
from test_ssh_executor import SVC, full_disk, one_result  # noqa: F401 (full_disk: a fixture)
from training_fixtures import small_digits  # noqa: F401 (a fixture)

from easeml_gui.engine.types import Task, TaskState
from easeml_gui.remote.executor import SSHExecutor
from easeml_gui.remote.transfer import ExecTransfer
from easeml_gui.store import LabStore

NO_SFTP = "no SFTP subsystem: files go over an exec channel (tar)"


def test_probe_reports_the_missing_sftp_subsystem_and_the_host_stays_ready(lab, run_cli, hardened_sshd, client_key):
    add_host(run_cli, lab, hardened_sshd, client_key)
    out = run_cli("--db", lab, "host", "probe", "box", "--json")
    result = json.loads(out.stdout)
    assert result["ready"] and NO_SFTP in result["notes"], result
    out = run_cli("--db", lab, "host", "probe", "box")
    assert out.returncode == 0 and f"note: {NO_SFTP}" in out.stderr, out.stderr


def test_files_go_over_exec_channels_and_a_task_trains_to_done(hardened_sshd, client_key, small_digits, tmp_path):
    link = ssh_link(hardened_sshd, client_key)
    with ssh_executor(tmp_path, link) as executor:
        executor.submit(Task("t1", "tenant", SVC, "cpu", config={"dataset": str(small_digits)}))
        result = one_result(executor)
        assert result.state is TaskState.DONE, result.error
        transfer = link.files(lambda files: files)
        assert isinstance(transfer, ExecTransfer) and link.files(lambda files: files) is transfer  # chosen once
        fetched = tmp_path / "fetched" / "t1-1"
        assert (fetched / result.details["checkpoint"]).is_file() and (fetched / "result.json").is_file()
        assert executor.code_sends == 1 and executor.files_sent > 0


def test_progress_and_the_log_are_read_over_exec_channels(hardened_sshd, client_key, tmp_path):
    link = ssh_link(hardened_sshd, client_key)
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "progress.jsonl").write_bytes(b'{"event": "start"}\n{"event": "epoch", "epoch": 1}\n')
    (folder / "it's a log").write_bytes(b"x" * 5000 + b"the end")
    read = lambda *args: link.files(lambda files: files.read(*args))  # noqa: E731
    assert read(str(folder / "progress.jsonl"), 19) == b'{"event": "epoch", "epoch": 1}\n'
    assert read(str(folder / "progress.jsonl"), 0, 5) == b'{"eve'
    assert read(str(folder / "it's a log"), -7) == b"the end"  # a name with a quote stays data
    assert read(str(folder / "it's a log"), -99999) == b"x" * 5000 + b"the end"
    link.close()


def test_a_run_on_a_host_without_sftp_trains_to_done(lab, hardened_sshd, client_key, run_cli, tmp_path):
    add_host(run_cli, lab, hardened_sshd, client_key)
    cli_ok(run_cli, lab, "job", "add", "--tenant", "alice", "--dataset", "digits", "--models", "svc")
    # In a process of its own with a deadline: before the fix this run re-queued its task for ever.
    done = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, "--db", str(lab), "run", "--devices", "box"],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    with LabStore.open_readonly(lab) as store:
        [task] = store.tasks()
    assert (task.state, task.host) == (TaskState.DONE, "box"), task.error



def test_a_full_disk_says_so_over_exec_channels_too(hardened_sshd, client_key, small_digits, full_disk, tmp_path):
    link = ssh_link(hardened_sshd, client_key)
    with SSHExecutor(link, CPU_ONLY, python=sys.executable, root=str(full_disk / "root"),
                     local_dir=tmp_path / "fetched", grace_seconds=5) as box:
        box.submit(Task("t1", "tenant", SVC, "cpu", config={"dataset": str(small_digits)}))
        result = one_result(box)
    assert result.state is TaskState.FAILED and result.retryable
    assert "no space left" in result.error.lower() and "box takes no new task for 30 s" in result.error, result.error
