"""A property over `dataset add` inputs (issue 22): trees of images, broken files, links (to /dev/zero, inside the
tree, to folders), FIFOs and odd names. Whatever the tree, the command either exits 0 with the dataset registered,
or exits non-zero with a message and nothing registered or left behind; it never hangs and never raises."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from easeml_gui.__main__ import main
from easeml_gui.store import LabStore

NAMES = ["cat", "dog", "b i r d", "héllo", ".hidden", "__MACOSX", "x" * 120, "-dash", "new\nline",
         os.fsdecode(b"bad-\xff-utf8")]
EXTRAS = ["corrupt", "fifo", "link_to_dev_zero", "link_inside", "link_to_folder", "empty_folder", "sub_folder",
          "text"]


def png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (8, 8), seed % 256).save(buffer, format="PNG")
    return buffer.getvalue()


def add_extra(folder: Path, kind: str, i: int) -> None:
    path = folder / f"extra{i}.png"
    if kind == "corrupt":
        path.write_bytes(b"\x89PNG not really")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "link_to_dev_zero":
        path.symlink_to("/dev/zero")
    elif kind == "link_inside":
        path.symlink_to(folder / "0.png")
    elif kind == "link_to_folder":
        (folder / f"more{i}").symlink_to(folder)
    elif kind == "empty_folder":
        (folder / f"empty{i}").mkdir()
    elif kind == "sub_folder":
        (folder / f"sub{i}").mkdir()
        (folder / f"sub{i}" / "a.png").write_bytes(png(i))
    else:
        (folder / f"notes{i}.txt").write_text("not an image")


trees = st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from([0, 3, 10, 12]),
                           st.lists(st.sampled_from(EXTRAS), max_size=3)),
                 min_size=1, max_size=3, unique_by=lambda c: c[0])


def build(root: Path, classes: list[tuple[str, int, list[str]]]) -> None:
    for name, images, extras in classes:
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(images):
            (folder / f"{i}.png").write_bytes(png(i))
        for i, kind in enumerate(extras):
            add_extra(folder, kind, i)


@settings(max_examples=30, deadline=None)
@given(classes=trees, skip_bad=st.booleans())
def test_dataset_add_registers_or_refuses_cleanly(classes: list[tuple[str, int, list[str]]], skip_bad: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source, db = Path(tmp) / "src", Path(tmp) / "lab" / "lab.sqlite"
        source.mkdir()
        db.parent.mkdir()
        build(source, classes)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["--db", str(db), "dataset", "add", str(source), "--name", "ds",
                         *(["--skip-bad"] if skip_bad else [])])
        with LabStore.open_readonly(db) as store:
            names = [d.name for d in store.datasets(include_archived=True)]
        left = sorted(p.name for p in (db.parent / "datasets").iterdir()) if (db.parent / "datasets").is_dir() else []
        if code == 0:
            assert names == ["ds"] and left == ["ds"], (out.getvalue(), left)
            assert (db.parent / "datasets" / "ds" / "manifest.json").is_file()
        else:
            assert err.getvalue().strip(), "refused without a message"
            assert names == [] and left == [], (err.getvalue(), names, left)
