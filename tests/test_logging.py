"""One logging configuration (easeml_gui/log_setup.py): diagnostics on stderr at the level --verbose/--quiet ask
for, a command's own output on stdout; a real diagnostic (a host left out of a run) goes through it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from cli_runner import run_cli  # noqa: F401 (a fixture)

from easeml_gui import log_setup
from easeml_gui.training.digits import export_digits

LOG = logging.getLogger("easeml_gui.tests")


@pytest.fixture(autouse=True)
def default_logging():
    yield
    log_setup.configure()  # what the next test's command would set up anyway


def said(capsys, *levels: int) -> str:
    capsys.readouterr()
    for level in levels:
        LOG.log(level, "said at %s", logging.getLevelName(level).lower())
    return capsys.readouterr().err


def test_by_default_info_and_up_are_said_as_the_bare_message(capsys):
    log_setup.configure()
    assert said(capsys, logging.DEBUG, logging.INFO, logging.WARNING) == "said at info\nsaid at warning\n"


def test_quiet_keeps_warnings_and_errors_only(capsys):
    log_setup.configure(quiet=True)
    assert said(capsys, logging.INFO, logging.WARNING, logging.ERROR) == "said at warning\nsaid at error\n"


def test_verbose_adds_debug_with_time_level_and_source(capsys):
    log_setup.configure(verbose=True)
    lines = said(capsys, logging.DEBUG, logging.INFO).splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "DEBUG easeml_gui.tests: said at debug", "INFO easeml_gui.tests: said at info"]


def test_configured_twice_it_says_each_message_once(capsys):
    log_setup.configure()
    log_setup.configure()
    assert said(capsys, logging.WARNING) == "said at warning\n"


def test_other_libraries_say_warnings_only_and_paramiko_nothing_unasked(capsys):
    log_setup.configure()
    capsys.readouterr()
    logging.getLogger("PIL.PngImagePlugin").info("STREAM b'IHDR'")
    logging.getLogger("PIL.PngImagePlugin").warning("a PIL warning")
    logging.getLogger("paramiko.transport").error("Exception (client): Error reading SSH protocol banner")
    assert capsys.readouterr().err == "a PIL warning\n"


def test_verbose_and_quiet_together_are_a_usage_error(run_cli):
    out = run_cli("-v", "-q", "tenant", "list")
    assert out.returncode == 2 and "not allowed with" in out.stderr


def test_a_host_left_out_of_a_run_is_a_logged_warning_beside_the_runs_output(tmp_path, run_cli):
    db = tmp_path / "lab.sqlite"
    source = export_digits(tmp_path / "digits", (0, 1, 2), per_class=20)
    for args in (("tenant", "add", "alice"), ("dataset", "add", source, "--name", "digits"),
                 ("job", "add", "--tenant", "alice", "--dataset", "digits", "--models", "svc,logistic_regression"),
                 ("host", "add", "box", "--address", "127.0.0.1:9")):  # never trusted: `all` leaves it out
        assert run_cli("--db", db, *args).returncode == 0
    plain = run_cli("--db", db, "run", "--devices", "all", "--max-tasks", "1")
    assert plain.returncode == 0, plain.stderr
    [warning] = [line for line in plain.stderr.splitlines() if "box" in line]
    assert warning.startswith("leaving box out of this run: ") and "trust" in warning
    assert "leaving" not in plain.stdout and "task(s) ended" in plain.stdout

    verbose = run_cli("--db", db, "-v", "run", "--devices", "all", "--max-tasks", "1")
    assert verbose.returncode == 0, verbose.stderr
    assert " WARNING easeml_gui.commands.run: leaving box out of this run: " in verbose.stderr


def test_verbose_says_what_a_command_does_and_the_default_does_not(tmp_path, run_cli):
    source = export_digits(tmp_path / "digits", (0, 1), per_class=10)
    plain = run_cli("--db", tmp_path / "lab.sqlite", "dataset", "add", source, "--name", "a")
    assert plain.returncode == 0 and plain.stderr == ""
    verbose = run_cli("--db", tmp_path / "lab.sqlite", "-v", "dataset", "add", source, "--name", "b")
    assert verbose.returncode == 0
    assert f" DEBUG easeml_gui.lab.datasets: registering dataset b from {source} into " in verbose.stderr
    assert verbose.stdout.replace(" b:", " a:") == plain.stdout  # the output itself is the same
