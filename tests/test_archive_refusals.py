"""Archives the fuzz (tests/test_archive_fuzz.py, bench/dataset_fuzz.py) found mishandled, each refused in plain
words naming what is wrong, never a traceback, a hang or a temporary folder's name (issue 22)."""

from __future__ import annotations

import io
import lzma
import os
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest
from dataset_fuzz_inputs import ArchiveSpec, build_archive, png, time_limit

from easeml_gui.training.archives import extract_archive
from easeml_gui.training.errors import DatasetError
from easeml_gui.training.limits import Limits


def two_classes(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name in ("cat", "dog"):
            for i in range(10):
                zf.writestr(f"{name}/{i}.png", png(i))
    return path


def two_classes_tar(path: Path, mode: str = "w", **options: int) -> Path:
    with tarfile.open(path, mode, **options) as tf:
        for name in ("cat", "dog"):
            for i in range(10):
                data = png(i)
                info = tarfile.TarInfo(f"{name}/{i}.png")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
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


def damaged_in_a_member(archive: Path) -> Path:
    """A class and one member whose deflate stream is damaged at its start (its block's code tables)."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(10):
            zf.writestr(f"cat/{i}.png", png(i))
        zf.writestr("dog/big.png", bytes(range(256)) * 400)
    raw = bytearray(archive.read_bytes())
    start = raw.index(b"dog/big.png") + len("dog/big.png") + 1
    raw[start:start + 200] = bytes(b ^ 0x55 for b in raw[start:start + 200])
    archive.write_bytes(bytes(raw))
    return archive


def test_a_zip_member_with_damaged_compressed_data_is_a_broken_archive(tmp_path: Path) -> None:
    archive = damaged_in_a_member(tmp_path / "data.zip")
    assert "data.zip is not a valid .zip archive or is truncated" in refusal(archive, tmp_path / "out")


def test_damaged_xz_data_in_a_tar_is_a_broken_archive(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tf:
        for i, data in enumerate([png(1), os.urandom(100_000)]):
            info = tarfile.TarInfo(f"cat/{i}.png")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    raw = bytearray(lzma.compress(buffer.getvalue()))
    middle = len(raw) // 2
    raw[middle:middle + 100] = bytes(b ^ 0x55 for b in raw[middle:middle + 100])
    (tmp_path / "data.tgz").write_bytes(bytes(raw))  # tarfile reads xz whatever the suffix says
    assert "data.tgz is not a valid .tgz archive or is truncated" in refusal(tmp_path / "data.tgz", tmp_path / "out")


def test_a_zip_name_flagged_utf8_that_is_not_is_refused(tmp_path: Path) -> None:
    archive, _ = build_archive(ArchiveSpec(extras=("utf8_flag_bad_name",)), tmp_path)
    assert "a member's name is marked as UTF-8 but is not valid UTF-8" in refusal(archive, tmp_path / "out")


@pytest.mark.parametrize("suffix", [".zip", ".tar.gz"])
@pytest.mark.parametrize("extra, said", [
    ("duplicate", "member 'dup/x.png' appears twice in the archive"),
    ("file_and_folder", "member 'clash/x.png' clashes with another member: the archive holds a file and a folder"),
    ("long_name", "has a name too long for this file system"),
    ("long_path", "has a name too long for this file system"),
])
def test_members_the_file_system_cannot_place_are_named(tmp_path: Path, suffix: str, extra: str, said: str) -> None:
    archive, _ = build_archive(ArchiveSpec(suffix=suffix, extras=(extra,)), tmp_path)
    assert said in refusal(archive, tmp_path / "out")


def test_a_folder_member_where_a_file_was_is_a_clash(tmp_path: Path) -> None:
    archive = two_classes(tmp_path / "data.zip")
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("cat/0.png/", b"")
    assert "member 'cat/0.png/' clashes with another member" in refusal(archive, tmp_path / "out")


def test_a_zip_whose_directory_asks_for_an_unknown_version_is_refused(tmp_path: Path) -> None:
    archive = two_classes(tmp_path / "data.zip")
    raw = bytearray(archive.read_bytes())
    struct.pack_into("<H", raw, raw.index(b"PK\x01\x02") + 6, 78)  # "version needed to extract": 7.8
    archive.write_bytes(bytes(raw))
    assert "data.zip needs a zip feature this program does not have (zip file version 7.8) or is damaged" in \
        refusal(archive, tmp_path / "out")


def test_a_bomb_in_a_skipped_folder_of_a_tgz_is_stopped(tmp_path: Path) -> None:
    """__MACOSX is never extracted, but a compressed tar is decompressed through it: its bytes count."""
    archive, _ = build_archive(ArchiveSpec(suffix=".tgz", extras=("hidden_bomb",), big_mib=20), tmp_path)
    assert "data.tgz expands more than 200 times" in refusal(archive, tmp_path / "out")


def test_a_tgz_damaged_inside_a_member_is_refused_by_its_crc(tmp_path: Path) -> None:
    """Stored (level 0) gzip blocks decompress whatever their bytes: only the CRC at the stream's end tells."""
    archive = two_classes_tar(tmp_path / "data.tgz", "w:gz", compresslevel=0)
    raw = bytearray(archive.read_bytes())
    raw[raw.index(b"IDAT") + 6] ^= 0xFF  # a pixel byte of the first PNG
    archive.write_bytes(bytes(raw))
    assert "data.tgz is not a valid .tgz archive or is truncated (CRC check failed" in \
        refusal(archive, tmp_path / "out")


def test_a_zip_member_header_whose_name_is_flagged_utf8_and_is_not_is_refused(tmp_path: Path) -> None:
    archive = two_classes(tmp_path / "data.zip")
    raw = bytearray(archive.read_bytes())
    local = raw.index(b"PK\x03\x04")  # the first member's: cat/0.png
    raw[local + 30:local + 39] = b"cat/\xff.png"
    raw[local + 7] |= 0x08  # its header's flag bit 11: the name is UTF-8
    archive.write_bytes(bytes(raw))
    assert "data.zip: a member's name is marked as UTF-8 but is not valid UTF-8" in refusal(archive, tmp_path / "out")


def test_a_tar_cut_between_two_members_is_refused(tmp_path: Path) -> None:
    archive = two_classes_tar(tmp_path / "data.tar")
    raw = archive.read_bytes()
    archive.write_bytes(raw[:raw.index(b"dog/0.png")])  # the cut falls on the header of dog/0.png: a block boundary
    assert "data.tar stops after member 'cat/9.png' without the end-of-archive marker a tar ends with" in \
        refusal(archive, tmp_path / "out")


def test_a_tar_with_a_damaged_header_past_the_first_member_is_refused(tmp_path: Path) -> None:
    archive = two_classes_tar(tmp_path / "data.tar")
    raw = bytearray(archive.read_bytes())
    raw[raw.index(b"dog/0.png") + 120] ^= 0x01  # in the header's mode field: its checksum no longer matches
    archive.write_bytes(bytes(raw))
    assert "data.tar stops after member 'cat/9.png' without the end-of-archive marker" in \
        refusal(archive, tmp_path / "out")


def test_a_tar_whose_end_padding_is_cut_is_whole(tmp_path: Path) -> None:
    archive = two_classes_tar(tmp_path / "data.tar")
    raw = archive.read_bytes()
    archive.write_bytes(raw[:-2048])  # the record's zero padding, not the marker's first block
    extract_archive(archive, tmp_path / "out", Limits())
    assert len(list((tmp_path / "out").rglob("*.png"))) == 20
