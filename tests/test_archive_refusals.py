"""Archives the fuzz (tests/test_archive_fuzz.py, bench/dataset_fuzz.py) found mishandled, each refused in plain
words naming what is wrong, never a traceback, a hang or a temporary folder's name (issue 22)."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
from dataset_fuzz_inputs import png, time_limit

from easeml_gui.training.archives import extract_archive
from easeml_gui.training.errors import DatasetError
from easeml_gui.training.limits import Limits


def two_classes(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name in ("cat", "dog"):
            for i in range(10):
                zf.writestr(f"{name}/{i}.png", png(i))
    return path


def refusal(archive: Path, target: Path) -> str:
    """The message of extract_archive's refusal, within 10 s (a FIFO or a device must not be waited on)."""
    with time_limit(10), pytest.raises(DatasetError) as refused:
        extract_archive(archive, target, Limits())
    message = str(refused.value)
    assert str(target) not in message, "the message names the temporary folder, deleted by the time it is read"
    return message


@pytest.mark.parametrize("kind", ["fifo", "dev_zero"])
def test_a_fifo_or_a_device_named_like_an_archive_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    archive = tmp_path / ("data.tar" if kind == "fifo" else "data.zip")
    if kind == "fifo":
        os.mkfifo(archive)
    else:
        archive.symlink_to("/dev/zero")
    said = "a FIFO (named pipe), not a regular file" if kind == "fifo" else "a device, not a regular file"
    assert said in refusal(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_link_to_an_archive_is_followed(tmp_path: Path) -> None:
    (tmp_path / "given.zip").symlink_to(two_classes(tmp_path / "data.zip"))
    extract_archive(tmp_path / "given.zip", tmp_path / "out", Limits())
    assert len(list((tmp_path / "out").rglob("*.png"))) == 20
