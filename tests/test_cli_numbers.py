"""Numbers on the command line (issue 22, "Numbers, names and text"): every numeric option has a range that
argparse checks, so a number out of it is a usage error (exit 2, the option named), never a traceback; `job add`
says what it does with --models and --weights; a command piped into `head` ends quietly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import run_cli  # noqa: F401 (a fixture)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from easeml_gui.training.digits import export_digits

HUGE = "99999999999999999999999"


@pytest.fixture
def cli(run_cli, tmp_path):
    return lambda *args: run_cli("--db", tmp_path / "lab.sqlite", *args)


@pytest.fixture
def lab(cli, tmp_path):
    """A store with tenant ana and dataset digits (two classes of scikit-learn's digits, 8 px)."""
    assert cli("tenant", "add", "ana").returncode == 0
    images = export_digits(tmp_path / "digits", classes=(0, 1), per_class=20)
    added = cli("dataset", "add", images, "--name", "digits")
    assert added.returncode == 0, added.stderr
    return cli


def refused(result, option: str) -> None:
    """A usage error naming the option: exit 2, argparse's message, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert f"argument {option}" in result.stderr
    assert "Traceback" not in result.stderr


JOB = ("job", "add", "--tenant", "ana", "--dataset", "digits")


@pytest.mark.parametrize("args, option", [
    ((*JOB, "--epochs", "99999999999999999999"), "--epochs"),
    ((*JOB, "--epochs", "0"), "--epochs"),
    ((*JOB, "--seed", HUGE), "--seed"),
    ((*JOB, "--seed", "-1"), "--seed"),
    ((*JOB, "--image-size", "100000"), "--image-size"),
    ((*JOB, "--image-size", "4"), "--image-size"),
    (("job", "cancel", HUGE), "id"),
    (("job", "remove", "-3"), "id"),
    (("dataset", "add", "somewhere", "--name", "d", "--seed", "-1"), "--seed"),
    (("synth", "--out", "q.csv", "--cost-out", "c.csv", "--seed", "-1"), "--seed"),
    (("synth", "--out", "q.csv", "--cost-out", "c.csv", "--rows", HUGE), "--rows"),
    (("synth", "--out", "q.csv", "--cost-out", "c.csv", "--spread", "inf"), "--spread"),
    (("simulate", "--matrix", "m.csv", "--devices", HUGE), "--devices"),
    (("run", "--seed", str(2**32)), "--seed"),
    (("run", "--max-tasks", HUGE), "--max-tasks"),
    (("tenant", "add", "bo", "--weight", "nan"), "--weight"),
    (("tenant", "add", "bo", "--weight", "inf"), "--weight"),
    (("tenant", "add", "bo", "--quota-hours", "1e400"), "--quota-hours"),
    (("host", "probe", "box", "--timeout", "inf"), "--timeout"),
    (("host", "trust", "box", "--timeout", "0"), "--timeout"),
    (("host", "set", "box", "--gpus", HUGE), "--gpus"),
    (("host", "set", "box", "--gpus", "²"), "--gpus"),
    (("host", "set", "box", "--gpus", "٢"), "--gpus"),
])
def test_a_number_out_of_range_is_a_usage_error(cli, args, option, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a number let through would write its relative files here
    refused(cli(*args), option)


def test_the_range_is_in_the_message(cli):
    result = cli(*JOB, "--image-size", "100000")
    refused(result, "--image-size")
    assert "8 to 1024" in result.stderr


def test_quota_hours_are_called_quota_hours_not_weight(cli):
    result = cli("tenant", "add", "bo", "--quota-hours", "-5")
    refused(result, "--quota-hours")
    assert "weight" not in result.stderr.split("--quota-hours", 1)[1]


def test_synth_into_a_missing_folder_says_so(cli, tmp_path):
    result = cli("synth", "--out", tmp_path / "missing" / "q.csv", "--cost-out", tmp_path / "c.csv")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert str(tmp_path / "missing") in result.stderr


def test_an_empty_model_list_is_refused_not_every_model(lab):
    for models in ("", " , "):
        result = lab(*JOB, "--models", models)
        assert result.returncode == 1, result.stdout
        assert "no model named" in result.stderr
    assert "no jobs yet" in lab("job", "list").stdout


def test_weights_beside_models_are_not_silently_ignored(lab):
    result = lab(*JOB, "--models", "resnet18", "--weights", "imagenet")
    assert result.returncode == 2
    assert "resnet18@imagenet" in result.stderr  # what to write instead
    assert "no jobs yet" in lab("job", "list").stdout


def test_weights_beside_models_that_name_theirs_are_fine(lab):
    result = lab(*JOB, "--models", "svc,resnet18@imagenet", "--weights", "imagenet")
    assert result.returncode == 1 and "no ImageNet weights for resnet18" in result.stderr  # the lab's own check


def test_named_models_without_weights_still_work(lab):
    result = lab(*JOB, "--models", "resnet18,svc", "--epochs", "10000", "--image-size", "1024", "--seed", str(2**32 - 1))
    assert result.returncode == 0, result.stderr
    assert "2 models: resnet18, svc" in result.stdout


def test_the_lab_refuses_an_image_size_the_window_could_give(tmp_path, lab):
    from easeml_gui.lab import jobs
    from easeml_gui.lab.errors import LabError
    from easeml_gui.lab.stores import open_writer

    with open_writer(tmp_path / "lab.sqlite") as store, pytest.raises(LabError, match="8 to 1024"):
        jobs.add(store, "ana", "digits", image_size=100000)


NUMERIC_OPTIONS = [
    (*JOB, "--epochs"), (*JOB, "--image-size"), (*JOB, "--seed"), ("job", "cancel"),
    ("synth", "--out", "/nonexistent/q.csv", "--cost-out", "/nonexistent/c.csv", "--rows"),
    ("tenant", "add", "bo", "--weight"), ("tenant", "add", "bo", "--quota-hours"),
    ("host", "probe", "nobox", "--timeout"), ("host", "set", "nobox", "--gpus"),
    ("simulate", "--matrix", "/nonexistent/m.csv", "--devices"),
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(NUMERIC_OPTIONS),
       number=st.one_of(st.integers(), st.integers(-10**30, 10**30).map(str), st.text(min_size=1, max_size=8)))
def test_any_number_ends_in_a_message_never_a_traceback(run_cli, tmp_path, option, number):
    # No store exists and every other argument fails after parsing: each run ends quickly, at 0, 1 or 2.
    result = run_cli("--db", tmp_path / "absent" / "lab.sqlite", *option, str(number))
    assert result.returncode in (0, 1, 2)
    assert "Traceback" not in result.stderr
    if result.returncode == 2:
        assert "usage:" in result.stderr


def piped_into_closed_reader(*args: str) -> subprocess.CompletedProcess:
    """`easeml-gui ARGS | head -0`: the reader is gone before the first write."""
    process = subprocess.Popen([sys.executable, "-m", "easeml_gui", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    return subprocess.CompletedProcess(args, process.wait(), "", stderr)


@pytest.mark.parametrize("args", [("--help",), ("weights", "list"), ("synth", "--help")])
def test_a_command_piped_into_head_ends_quietly(args, tmp_path):
    result = piped_into_closed_reader("--db", str(tmp_path / "lab.sqlite"), *args)
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
    assert result.returncode in (0, 141)  # 141: as a process that SIGPIPE ended (128 + 13)
