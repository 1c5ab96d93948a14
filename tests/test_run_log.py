"""The run log of a run started from the window (lab/runs.py, log_setup --log-file): each Start begins a file of its
own and keeps the earlier runs' logs as .1, .2 ...; a long run rolls over at a size bound; the window reads the
current run's tail."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from easeml_gui.lab import runs


def run_to_its_end(db: Path, policy: str) -> str:
    """Start a run from the window's side (on a lab with no jobs it says so and ends); its log file's text."""
    child = runs.start(db, choice=runs.RunChoice(policy=policy))
    assert child.wait(120) == 0
    return runs.log_path(db).read_text()


def test_a_second_start_keeps_the_first_runs_log_as_a_backup_and_the_tail_is_the_current_run(tmp_path):
    db = tmp_path / "lab.sqlite"
    first = run_to_its_end(db, "round-robin")
    assert "--policy round-robin" in first.splitlines()[0] and "no active jobs" in first
    second = run_to_its_end(db, "random")
    assert "--policy random" in second.splitlines()[0] and "round-robin" not in second
    assert Path(f"{runs.log_path(db)}.1").read_text() == first
    assert runs.state(db).log_tail == second and runs.state(db).log_tail.rstrip().endswith(
        "no active jobs: add one with `easeml-gui job add --tenant NAME --dataset NAME`")


CHATTY = textwrap.dedent("""
    import logging, os, sys
    from pathlib import Path
    from easeml_gui import log_setup
    log_setup.configure(log_file=Path(sys.argv[1]), max_bytes=2000, backups=2)
    for i in range(500):
        print(f"line {i:03d}")
    logging.getLogger("easeml_gui.test").warning("a warning after the lines")
    os.write(1, b"written below python\\n")
    raise SystemExit("the end, on stderr")
""")


def test_a_long_run_rolls_over_at_the_size_bound_keeping_the_latest_lines(tmp_path):
    path = tmp_path / "run.log"
    done = subprocess.run([sys.executable, "-c", CHATTY, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == done.stderr == ""  # everything went to the file
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["run.log", "run.log.1", "run.log.2"]  # two backups, no more
    assert all(f.stat().st_size <= 2000 for f in files)
    lines = [line for f in reversed(files) for line in f.read_text().splitlines()]
    printed = [line for line in lines if line.startswith("line ")]
    assert printed == [f"line {i:03d}" for i in range(500 - len(printed), 500)]  # the latest, in order
    current = path.read_text().splitlines()
    assert current[-3].endswith("WARNING easeml_gui.test: a warning after the lines")
    assert current[-2:] == ["written below python", "the end, on stderr"]
