"""Datasets: scan, validate, hash, split, register safely, verify. One test per failure, each checking the message
and that the managed data folder holds nothing afterwards."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from training_fixtures import digits_dir  # noqa: F401 (a fixture)

from easeml_gui.training.catalogue import Schema
from easeml_gui.training.datasets import (MANIFEST_NAME, load_dataset, register_dataset, scan_dataset,
                                          verify_dataset)
from easeml_gui.training.errors import DatasetError
from easeml_gui.training.images import decode_image
from easeml_gui.training.limits import Limits


def write_image(path: Path, mode: str = "L", size: tuple[int, int] = (8, 8), seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    grey = rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8)
    Image.fromarray(grey, "L").convert(mode).save(path, format="PNG")


def make_dataset(root: Path, counts: dict[str, int], mode: str = "L", size: tuple[int, int] = (8, 8)) -> Path:
    for label, count in counts.items():
        for i in range(count):
            write_image(root / label / f"{i:03d}.png", mode, size, seed=zlib.crc32(f"{label}/{i}".encode()))
    return root


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The managed data folder; after a failed registration it must be empty."""
    path = tmp_path / "managed"
    path.mkdir()
    return path


def refused(source: Path, data_dir: Path, match: str, **options: object) -> str:
    with pytest.raises(DatasetError, match=match) as caught:
        register_dataset(source, data_dir / "ds", **options)
    assert list(data_dir.iterdir()) == [], "a failed registration left something behind"
    return str(caught.value)


TWO_CLASSES = {"cat": 12, "dog": 12}


# --- what registers ---------------------------------------------------------------------------------------------

def test_digits_register_with_a_stratified_seeded_split(digits_dir: Path, data_dir: Path) -> None:
    info = register_dataset(digits_dir, data_dir / "digits")
    assert info.classes == tuple(str(d) for d in range(10))
    assert info.num_images == 1797 and sum(info.counts.values()) == 1797
    parts = (set(info.train), set(info.val), set(info.test))
    assert sum(map(len, parts)) == 1797 and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert {info.labels([p])[0] for p in info.val} == set(range(10))  # every class is validated
    assert {info.labels([p])[0] for p in info.test} == set(range(10))  # ... and tested
    assert abs(len(info.val) / 1797 - 0.2) < 0.01 and abs(len(info.test) / 1797 - 0.2) < 0.01
    assert (info.stats.min_width, info.stats.max_height, info.stats.channels) == (8, 8, 1)
    assert info.schema() == Schema(channels=1, image_size=32, num_classes=10)
    assert "10 classes, 1797 images" in info.summary() and "359 validation / 359 test" in info.summary()
    assert (data_dir / "digits" / MANIFEST_NAME).is_file()
    assert [p.name for p in data_dir.iterdir()] == ["digits"]  # no staging folder left
    assert load_dataset(data_dir / "digits") == info
    assert verify_dataset(data_dir / "digits") == info


def test_split_and_hash_are_deterministic(tmp_path: Path) -> None:
    source = make_dataset(tmp_path / "src", {"a": 20, "b": 20})
    first, again = scan_dataset(source, seed=3), scan_dataset(source, seed=3)
    other = scan_dataset(source, seed=4)
    assert (first.train, first.val, first.test) == (again.train, again.val, again.test)
    assert first.val != other.val
    # A test split is carved after validation: the validation images of a seed do not depend on it.
    assert scan_dataset(source, seed=3, test_fraction=0).val == first.val
    assert not scan_dataset(source, seed=3, test_fraction=0).test
    assert first.content_hash == other.content_hash  # the hash is about content, not the split
    copy = shutil.copytree(source, tmp_path / "copy")
    assert scan_dataset(copy).content_hash == first.content_hash
    write_image(copy / "a" / "000.png", seed=999)
    assert scan_dataset(copy).content_hash != first.content_hash


def test_given_train_val_split_is_kept(tmp_path: Path, data_dir: Path) -> None:
    make_dataset(tmp_path / "src" / "train", TWO_CLASSES)
    make_dataset(tmp_path / "src" / "val", {"cat": 2, "dog": 3})
    info = register_dataset(tmp_path / "src", data_dir / "ds")
    assert info.split_given and info.classes == ("cat", "dog")
    assert len(info.train) + len(info.test) == 24 and len(info.val) == 5
    assert all(p.startswith("val/") for p in info.val)
    assert all(p.startswith("train/") for p in info.test) and len(info.test) == 2 * round(0.2 * 12)
    assert info.counts == {"cat": 14, "dog": 15}


def test_given_test_folder_is_the_test_split(tmp_path: Path, data_dir: Path) -> None:
    make_dataset(tmp_path / "src" / "train", TWO_CLASSES)
    make_dataset(tmp_path / "src" / "test", {"cat": 3, "dog": 4})
    info = register_dataset(tmp_path / "src", data_dir / "ds")
    assert info.test_given and not info.split_given
    assert sorted(p.split("/")[0] for p in info.test) == ["test"] * 7
    assert all(p.startswith("train/") for p in info.train + info.val) and len(info.train) + len(info.val) == 24
    assert load_dataset(data_dir / "ds").test == info.test


def test_a_format_1_manifest_still_loads_without_a_test_split(tmp_path: Path, data_dir: Path) -> None:
    make_dataset(tmp_path / "src", TWO_CLASSES)
    register_dataset(tmp_path / "src", data_dir / "ds")
    manifest = json.loads((data_dir / "ds" / MANIFEST_NAME).read_text())
    manifest["format"] = 1
    del manifest["split"]["test"], manifest["split"]["test_given"]
    (data_dir / "ds" / MANIFEST_NAME).write_text(json.dumps(manifest))
    info = load_dataset(data_dir / "ds")
    assert info.test == () and "no test split" in info.summary()


def test_mixed_sizes_and_modes_normalise_to_rgb(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for i, mode in enumerate(["L", "RGB", "RGBA", "P", "LA"] * 4):
        write_image(source / ("x" if i % 2 else "y") / f"{i}.png", mode, size=(6 + i, 9 + i))
    info = scan_dataset(source, limits=Limits(min_images_per_class=5))
    assert info.stats.channels == 3
    assert set(info.stats.modes) == {"L", "RGB", "RGBA", "P", "LA"}
    assert (info.stats.min_width, info.stats.max_width) == (6, 25)
    data = (source / "y" / "0.png").read_bytes()
    assert decode_image(data, 3, 16).shape == (3, 16, 16)


def test_grey_normalisation_keeps_16_bit_detail_and_composites_alpha_on_white() -> None:
    deep = Image.fromarray(np.full((4, 4), 40000, dtype=np.uint16))
    buffer = io.BytesIO()
    deep.save(buffer, format="PNG")
    assert decode_image(buffer.getvalue(), 1, 4).max() == 40000 >> 8
    clear = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    buffer = io.BytesIO()
    clear.save(buffer, format="PNG")
    assert (decode_image(buffer.getvalue(), 3, 4) == 255).all()


@pytest.mark.parametrize("suffix", [".zip", ".tar", ".tar.gz"])
def test_archives_register_through_a_wrapper_folder(tmp_path: Path, data_dir: Path, suffix: str) -> None:
    make_dataset(tmp_path / "pets" / "pets", TWO_CLASSES)
    (tmp_path / "pets" / "pets" / "cat" / ".DS_Store").write_bytes(b"junk")
    archive = Path(shutil.make_archive(str(tmp_path / "pets"), {".zip": "zip", ".tar": "tar",
                                                                   ".tar.gz": "gztar"}[suffix], tmp_path / "pets"))
    info = register_dataset(archive, data_dir / "pets")
    assert info.classes == ("cat", "dog") and info.num_images == 24
    assert info.content_hash == scan_dataset(tmp_path / "pets").content_hash
    verify_dataset(data_dir / "pets")


def test_readme_beside_class_folders_is_ignored(tmp_path: Path) -> None:
    source = make_dataset(tmp_path / "src", TWO_CLASSES)
    (source / "README.txt").write_text("about the data")
    assert scan_dataset(source).num_images == 24


# --- what is refused --------------------------------------------------------------------------------------------

def test_empty_folder(tmp_path: Path, data_dir: Path) -> None:
    (tmp_path / "src").mkdir()
    refused(tmp_path / "src", data_dir, r"src is empty; expected one sub-folder per class")


def test_a_single_class(tmp_path: Path, data_dir: Path) -> None:
    make_dataset(tmp_path / "src", {"cat": 15})
    refused(tmp_path / "src", data_dir, r"single class \('cat'\); a classifier needs at least two class folders")


def test_classes_with_too_few_images_name_the_minimum(tmp_path: Path, data_dir: Path) -> None:
    make_dataset(tmp_path / "src", {"cat": 12, "dog": 3, "eel": 0})
    (tmp_path / "src" / "eel").mkdir()
    message = refused(tmp_path / "src", data_dir, r"2 classes have fewer than the minimum of 10 images")
    assert "dog (3)" in message and "eel (0)" in message and "cat" not in message


def test_corrupt_images_are_named(tmp_path: Path, data_dir: Path) -> None:
    source = make_dataset(tmp_path / "src", TWO_CLASSES)
    good = (source / "cat" / "000.png").read_bytes()
    (source / "cat" / "000.png").write_bytes(good[: len(good) // 2])  # truncated
    (source / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    message = refused(source, data_dir, r"2 files in class folders are not usable images")
    assert "cat/000.png: corrupt or truncated image" in message
    assert "dog/broken.jpg: corrupt or unreadable image" in message
    assert "--skip-bad" in message


def test_skip_bad_registers_without_the_bad_files_and_reports_them(tmp_path: Path, data_dir: Path) -> None:
    source = make_dataset(tmp_path / "src", {"cat": 12, "dog": 11})
    (source / "dog" / "broken.png").write_bytes(b"not really a png")
    (source / "dog" / "notes.txt").write_text("hello")
    info = register_dataset(source, data_dir / "ds", skip_bad=True)
    assert dict(info.skipped) == {"dog/broken.png": "corrupt or unreadable image (no image format recognises its "
                                                    "content)", "dog/notes.txt": "not an image file"}
    assert info.num_images == 23
    assert not (data_dir / "ds" / "dog" / "notes.txt").exists()  # only the manifest's files are copied


def test_non_image_files_in_a_class_folder(tmp_path: Path, data_dir: Path) -> None:
    source = make_dataset(tmp_path / "src", TWO_CLASSES)
    (source / "cat" / "labels.csv").write_text("a,b\n")
    refused(source, data_dir, r"cat/labels.csv: not an image file")


def test_images_outside_class_folders(tmp_path: Path, data_dir: Path) -> None:
    source = make_dataset(tmp_path / "src", TWO_CLASSES)
    write_image(source / "stray.png")
    refused(source, data_dir, r"1 images lie directly in .*src \(stray.png\); every image must be in a sub-folder")


def test_val_without_train(tmp_path: Path, data_dir: Path) -> None:
    make_dataset(tmp_path / "src" / "val", TWO_CLASSES)
    make_dataset(tmp_path / "src" / "other", TWO_CLASSES)
    refused(tmp_path / "src", data_dir, r"has a val/ folder but no train/ folder")


def test_validation_classes_missing_from_train(tmp_path: Path, data_dir: Path) -> None:
    make_dataset(tmp_path / "src" / "train", TWO_CLASSES)
    make_dataset(tmp_path / "src" / "val", {"cat": 2, "emu": 2})
    refused(tmp_path / "src", data_dir, r"val/ has classes that train/ lacks: emu")


def test_image_over_the_pixel_limit(tmp_path: Path, data_dir: Path) -> None:
    source = make_dataset(tmp_path / "src", TWO_CLASSES)
    Image.new("L", (3000, 3000)).save(source / "cat" / "huge.png")  # a few KB on disk, 9 M pixels decoded
    refused(source, data_dir, r"cat/huge.png: 3000x3000 pixels is over the limit of 1,000,000 pixels",
            limits=Limits(max_pixels=1_000_000))


def test_destination_that_exists(tmp_path: Path, data_dir: Path) -> None:
    source = make_dataset(tmp_path / "src", TWO_CLASSES)
    (data_dir / "ds").mkdir()
    with pytest.raises(DatasetError, match=r"ds already exists; choose another dataset name"):
        register_dataset(source, data_dir / "ds")
    assert [p.name for p in data_dir.iterdir()] == ["ds"] and not any((data_dir / "ds").iterdir())


def test_missing_source(tmp_path: Path, data_dir: Path) -> None:
    refused(tmp_path / "nowhere", data_dir, r"nowhere does not exist")


# --- archives ---------------------------------------------------------------------------------------------------

def zip_with(path: Path, members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, target)
    return path


def png_members(counts: dict[str, int]) -> dict[str, bytes]:
    members = {}
    for label, count in counts.items():
        for i in range(count):
            buffer = io.BytesIO()
            Image.fromarray(np.full((8, 8), i * 10 % 256, dtype=np.uint8), "L").save(buffer, format="PNG")
            members[f"{label}/{i}.png"] = buffer.getvalue()
    return members


def test_zip_member_escaping_with_dot_dot(tmp_path: Path, data_dir: Path) -> None:
    archive = zip_with(tmp_path / "evil.zip", {**png_members(TWO_CLASSES), "../../escape.png": b"x"})
    refused(archive, data_dir, r"evil.zip: member '../../escape.png' uses '..' to reach outside")
    assert not (tmp_path / "escape.png").exists() and not (data_dir.parent / "escape.png").exists()


def test_zip_member_with_an_absolute_path(tmp_path: Path, data_dir: Path) -> None:
    archive = zip_with(tmp_path / "evil.zip", {**png_members(TWO_CLASSES), "/tmp/escape.png": b"x"})
    refused(archive, data_dir, r"member '/tmp/escape.png' has an absolute path")


def test_zip_symlink_member(tmp_path: Path, data_dir: Path) -> None:
    archive = zip_with(tmp_path / "evil.zip", png_members(TWO_CLASSES), symlinks={"cat/link.png": "/etc/passwd"})
    refused(archive, data_dir, r"member 'cat/link.png' is a symbolic link")


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_tar_links(tmp_path: Path, data_dir: Path, kind: bytes) -> None:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for name, data in png_members(TWO_CLASSES).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("cat/link.png")
        link.type, link.linkname = kind, "/etc/passwd"
        tf.addfile(link)
    refused(archive, data_dir, r"member 'cat/link.png' is a link")


def test_decompression_bomb_by_size(tmp_path: Path, data_dir: Path) -> None:
    archive = zip_with(tmp_path / "bomb.zip", {**png_members(TWO_CLASSES), "cat/zeros.png": bytes(5_000_000)})
    assert archive.stat().st_size < 100_000
    refused(archive, data_dir, r"bomb.zip expands to more than 1,000,000 bytes \(a decompression bomb\?\)",
            limits=Limits(max_total_bytes=1_000_000))


def test_decompression_bomb_by_member_count(tmp_path: Path, data_dir: Path) -> None:
    archive = zip_with(tmp_path / "many.zip", png_members({"a": 30, "b": 30}))
    refused(archive, data_dir, r"many.zip holds more than 50 members", limits=Limits(max_members=50))


def test_unsupported_archive_format(tmp_path: Path, data_dir: Path) -> None:
    archive = tmp_path / "data.rar"
    archive.write_bytes(b"Rar!\x1a\x07\x00")
    refused(archive, data_dir, r"data.rar: unsupported format; give a folder of class sub-folders, or a .zip")


def test_truncated_archive(tmp_path: Path, data_dir: Path) -> None:
    archive = zip_with(tmp_path / "cut.zip", png_members(TWO_CLASSES))
    archive.write_bytes(archive.read_bytes()[:300])
    refused(archive, data_dir, r"cut.zip is not a valid .zip archive or is truncated")


# --- after registration -----------------------------------------------------------------------------------------

def test_verify_names_changed_and_missing_files(tmp_path: Path, data_dir: Path) -> None:
    register_dataset(make_dataset(tmp_path / "src", TWO_CLASSES), data_dir / "ds")
    write_image(data_dir / "ds" / "cat" / "001.png", seed=12345)
    os.remove(data_dir / "ds" / "dog" / "002.png")
    with pytest.raises(DatasetError, match=r"changed on disk since it was registered: 1 changed \(cat/001.png\); "
                                           r"1 missing \(dog/002.png\)"):
        verify_dataset(data_dir / "ds")


def test_load_refuses_an_unregistered_folder(tmp_path: Path) -> None:
    source = make_dataset(tmp_path / "src", TWO_CLASSES)
    with pytest.raises(DatasetError, match=r"is not a registered dataset \(no manifest.json\)"):
        load_dataset(source)
