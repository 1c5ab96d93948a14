"""A start that loses its connection on the way is a failed start: the host rests (30 s doubling, here shortened)
and the model's retries count it, so a host that drops every start yields a bounded number of tasks, never the
thousands of re-queued starts a lost channel once caused (issue 22)."""

from __future__ import annotations

import time

import paramiko
import pytest
from cli_runner import run_cli  # noqa: F401 (a fixture)
from sshd import client_key, ssh_home, sshd, sshd_factory  # noqa: F401 (fixtures)
from test_cli_remote import add_host, cli_ok, lab  # noqa: F401 (lab: a fixture)
from test_executor_contract import ssh_executor, ssh_link
from test_ssh_executor import SVC, one_result
from training_fixtures import small_digits  # noqa: F401 (a fixture)

from easeml_gui.engine.types import MAX_RETRIES, Task, TaskState
from easeml_gui.remote import executor, session
from easeml_gui.store import LabStore

REST_S = 0.5


@pytest.fixture
def channel_lost_at_every_start(monkeypatch):
    """Every file transfer of a lab connection ends its connection, as a channel lost mid-start does; the rest
    is shortened so the test sees it end."""
    def lose(client: paramiko.SSHClient, timeout: float):
        client.get_transport().close()
        raise paramiko.SSHException("Channel closed.")

    monkeypatch.setattr(session, "open_transfer", lose)
    monkeypatch.setattr(executor, "START_REST_S", REST_S)


def test_a_start_that_lost_its_connection_fails_retryably_and_rests_the_host(
        channel_lost_at_every_start, sshd, client_key, small_digits, tmp_path):
    with ssh_executor(tmp_path, ssh_link(sshd, client_key)) as box:
        box.submit(Task("t1", "tenant", SVC, "cpu", config={"dataset": str(small_digits)}))
        result = one_result(box, limit=60)
        assert result.state is TaskState.FAILED and result.retryable  # counted against the model's retries
        assert "box became unreachable while the task was starting" in result.error, result.error
        assert f"box takes no new task for {REST_S:.0f} s" in result.error and box.devices() == []
        time.sleep(REST_S)
        assert box.devices() == ["cpu"]


def test_a_host_that_drops_every_start_yields_a_bounded_number_of_tasks(
        channel_lost_at_every_start, lab, run_cli, sshd, client_key):
    add_host(run_cli, lab, sshd, client_key)  # probed for real: the probe's connection is not the lab's
    cli_ok(run_cli, lab, "job", "add", "--tenant", "alice", "--dataset", "digits", "--models", "svc")
    began = time.monotonic()
    out = run_cli("--db", lab, "run", "--devices", "box")
    elapsed = time.monotonic() - began
    with LabStore.open_readonly(lab) as store:
        tasks = store.tasks()
    assert len(tasks) == MAX_RETRIES + 1, out.stdout  # before the fix: hundreds within seconds, for ever
    assert {task.state for task in tasks} == {TaskState.FAILED}
    assert all("became unreachable while the task was starting" in task.error for task in tasks)
    # Rests of 0.5 s and 1 s between the three starts: the retries waited for them.
    assert REST_S * (2 ** MAX_RETRIES - 1) <= elapsed < 60, elapsed
