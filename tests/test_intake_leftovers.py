"""Leftovers of issue 22 around `dataset add`: its split fractions have a range argparse checks, an empty
archive's refusal names the archive (not the deleted temporary folder), and `run` sweeps stale staging folders."""

from __future__ import annotations

import os
import zipfile

import pytest
from cli_runner import run_cli  # noqa: F401 (a fixture)

from easeml_gui.training.digits import export_digits
from easeml_gui.training.staging import locked


@pytest.fixture
def cli(run_cli, tmp_path):
    return lambda *args: run_cli("--db", tmp_path / "lab.sqlite", *args)


@pytest.mark.parametrize("option, value", [
    ("--val-fraction", "-1"), ("--val-fraction", "2"), ("--val-fraction", "nan"), ("--val-fraction", "inf"),
    ("--val-fraction", "1"), ("--val-fraction", "0"), ("--val-fraction", "half"),
    ("--test-fraction", "-0.1"), ("--test-fraction", "1"), ("--test-fraction", "nan"), ("--test-fraction", "٠.٢"),
])
def test_a_fraction_out_of_range_is_a_usage_error(cli, tmp_path, option, value):
    result = cli("dataset", "add", tmp_path / "nowhere", "--name", "d", option, value)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert f"argument {option}" in result.stderr and "Traceback" not in result.stderr
    assert "less than 1" in result.stderr or "not a number" in result.stderr


def test_fractions_that_leave_nothing_to_train_on_are_a_usage_error(cli, tmp_path):
    result = cli("dataset", "add", tmp_path / "nowhere", "--name", "d", "--val-fraction", "0.6",
                 "--test-fraction", "0.4")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "--val-fraction 0.6 and --test-fraction 0.4" in result.stderr and "below 1" in result.stderr


def test_fractions_in_range_register(cli, tmp_path):
    images = export_digits(tmp_path / "digits", classes=(0, 1), per_class=20)
    result = cli("dataset", "add", images, "--name", "digits", "--val-fraction", "0.3", "--test-fraction", "0")
    assert result.returncode == 0, result.stderr


def _zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize("members, says", [
    ({}, "is empty"), ({"README.txt": b"see the wiki"}, "holds no class folders"),
])
def test_an_archive_without_classes_is_named_in_the_refusal(cli, tmp_path, members, says):
    archive = _zip(tmp_path / "photos.zip", members)
    result = cli("dataset", "add", archive, "--name", "photos")
    assert result.returncode == 1, result.stdout
    assert f"{archive} {says}" in result.stderr
    assert "incoming" not in result.stderr and "extracted" not in result.stderr  # the deleted temporary folder
    assert not any((tmp_path / "datasets").iterdir())


def test_run_sweeps_staging_a_dead_registration_left(cli, tmp_path):
    datasets = tmp_path / "datasets"
    dead, live = datasets / ".b.incoming-999999999-dead", datasets / f".a.incoming-{os.getpid()}-live"
    for folder in (dead, live):
        folder.mkdir(parents=True)
    (dead / "half-copied.png").write_bytes(b"\x89PNG")
    with locked(live):  # as a registration in another process holds it
        result = cli("run")
        assert result.returncode == 0, result.stderr
        assert "no active jobs" in result.stdout
        assert sorted(datasets.iterdir()) == [live]
