"""A dataset tar passes the project's own checks and then tarfile's "data" filter (PEP 706) where Python has it."""

from __future__ import annotations

import io
import stat
import tarfile
from pathlib import Path

import pytest

from easeml_gui.training.archives import extract_archive
from easeml_gui.training.errors import DatasetError
from easeml_gui.training.limits import Limits

has_filter = pytest.mark.skipif(not hasattr(tarfile, "data_filter"), reason="Python before 3.11.4 has no filter")


def _tar(path: Path, name: str, mode: int = 0o644) -> Path:
    with tarfile.open(path, "w") as tf:
        info = tarfile.TarInfo(name)
        info.size, info.mode = 3, mode
        tf.addfile(info, io.BytesIO(b"png"))
    return path


def test_absolute_member_is_refused_by_the_existing_check_first(tmp_path):
    # The data filter alone would only strip the slash; the project's check refuses it, with its own message.
    archive = _tar(tmp_path / "a.tar", "/tmp/cat/evil.png")
    with pytest.raises(DatasetError, match="absolute path"):
        extract_archive(archive, tmp_path / "out", Limits())
    assert not any((tmp_path / "out").rglob("*.png"))


@has_filter
def test_setuid_member_is_sanitised(tmp_path):
    archive = _tar(tmp_path / "s.tar", "cat/a.png", mode=0o6777)
    with tarfile.open(archive) as tf:
        assert not tarfile.data_filter(tf.getmember("cat/a.png"), str(tmp_path)).mode & (stat.S_ISUID | 0o022)
    extract_archive(archive, tmp_path / "out", Limits())
    mode = (tmp_path / "out" / "cat" / "a.png").stat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_ISGID | stat.S_IWOTH)


@has_filter
def test_a_member_the_filter_refuses_is_refused_in_plain_words(tmp_path, monkeypatch):
    def refuse(member: tarfile.TarInfo, dest_path: str) -> tarfile.TarInfo:
        raise tarfile.FilterError(f"{member.name!r} looks wrong")

    monkeypatch.setattr(tarfile, "data_filter", refuse)
    with pytest.raises(DatasetError, match="refused by tarfile's data filter .*'cat/a.png' looks wrong"):
        extract_archive(_tar(tmp_path / "f.tar", "cat/a.png"), tmp_path / "out", Limits())


def test_without_the_filter_the_checks_stand_alone(tmp_path, monkeypatch):
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    extract_archive(_tar(tmp_path / "o.tar", "cat/a.png"), tmp_path / "out", Limits())
    assert (tmp_path / "out" / "cat" / "a.png").read_bytes() == b"png"
    with pytest.raises(DatasetError, match="absolute path"):
        extract_archive(_tar(tmp_path / "b.tar", "/cat/a.png"), tmp_path / "out2", Limits())
