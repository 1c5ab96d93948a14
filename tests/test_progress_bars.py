"""`dataset add` shows progress bars (tqdm) on a terminal's stderr, and nothing where stderr is not a terminal: a
real pseudo-terminal (os.openpty) against a pipe, on real digits PNGs, as a folder and as a zip."""

from __future__ import annotations

import fcntl
import os
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from easeml_gui.engine.matrix import load_matrices
from easeml_gui.engine.simulate import simulate
from easeml_gui.training.digits import export_digits

MATRIX = "synthetic:rows=12,arms=6,seed=0"


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    return export_digits(tmp_path_factory.mktemp("digits") / "digits", (0, 1, 2), per_class=20)


def dataset_add(db: Path, source: Path, terminal: bool) -> tuple[int, str, str]:
    return easeml(["--db", str(db), "dataset", "add", str(source), "--name", "d"], terminal)


def easeml(args: list[str], terminal: bool) -> tuple[int, str, str]:
    """`easeml-gui ARGS` with stderr on a 100-column pseudo-terminal, or on a pipe: exit status, stdout, stderr."""
    command = [sys.executable, "-m", "easeml_gui", *args]
    if not terminal:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout, done.stderr
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a fresh pty is 0 columns wide
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=follower, stdin=subprocess.DEVNULL) as child:
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            drawn += chunk
        stdout = child.stdout.read().decode()
    os.close(leader)
    return child.wait(), stdout, drawn.decode()


def last_frames(drawn: str) -> list[str]:
    """What each bar shows last (tqdm redraws a line with carriage returns)."""
    return [line.rstrip("\r").split("\r")[-1] for line in drawn.split("\n") if line.strip("\r")]


def test_a_terminal_sees_a_bar_per_step_and_a_pipe_sees_nothing(digits, tmp_path):
    status, shown, drawn = dataset_add(tmp_path / "tty" / "lab.sqlite", digits, terminal=True)
    assert status == 0, drawn
    frames = last_frames(drawn)
    assert [frame.split(":")[0] for frame in frames] == ["checking images", "copying"], frames
    assert all("100%" in frame and "60/60" in frame for frame in frames), frames

    status, printed, said = dataset_add(tmp_path / "pipe" / "lab.sqlite", digits, terminal=False)
    assert status == 0 and said == ""
    assert printed == shown.replace("\r\n", "\n") and printed.startswith("registered dataset d: 3 classes, 60 images")


def test_an_archives_extraction_shows_its_elapsed_time(digits, tmp_path):
    archive = Path(shutil.make_archive(str(tmp_path / "digits"), "zip", digits.parent, digits.name))
    status, _, drawn = dataset_add(tmp_path / "lab.sqlite", archive, terminal=True)
    assert status == 0, drawn
    frames = last_frames(drawn)
    assert frames[0].startswith("extracting digits.zip: 00:0"), frames
    assert [frame.split(":")[0] for frame in frames[1:]] == ["checking images", "copying"], frames


def test_a_refusal_on_a_terminal_still_says_why_after_the_bar(tmp_path, digits):
    source = tmp_path / "bad"
    shutil.copytree(digits, source)
    (source / "0" / "broken.png").write_bytes(b"not a png")
    status, printed, drawn = dataset_add(tmp_path / "lab.sqlite", source, terminal=True)
    assert status == 1 and printed == ""
    frames = last_frames(drawn)
    assert frames[0].startswith("checking images: 100%") and "61/61" in frames[0], frames
    assert "files in class folders are not usable images" in frames[-1] and "broken.png" in frames[-1]


def test_simulate_shows_its_replays_on_a_terminal_only(tmp_path):
    args = ["simulate", "--matrix", MATRIX, "--tenants", "4", "--seeds", "3", "--policies", "round-robin,random"]
    status, shown, drawn = easeml(args, terminal=True)
    assert status == 0, drawn
    [frame] = last_frames(drawn)
    assert frame.startswith("replaying policies x seeds: 100%") and "6/6" in frame, frame
    status, printed, said = easeml(args, terminal=False)
    assert status == 0 and said == "" and printed == shown.replace("\r\n", "\n")


@pytest.mark.parametrize("workers", [1, 2])
def test_the_engine_counts_each_replay_in_or_out_of_process(workers):
    quality, _ = load_matrices(MATRIX, None)
    told: list[tuple[int, int]] = []
    simulate(quality, None, ["round-robin"], tenants=4, seeds=3, workers=workers,
             progress=lambda done, total: told.append((done, total)))
    assert told == [(0, 3), (1, 3), (2, 3), (3, 3)]
