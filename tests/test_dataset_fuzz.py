"""A property over `dataset add` inputs (issue 22): trees of images, broken files, links (to /dev/zero, inside the
tree, to folders), FIFOs and odd names. Whatever the tree, the command either exits 0 with the dataset registered,
or exits non-zero with a message and nothing registered or left behind; it never hangs and never raises.
Archives: tests/test_archive_fuzz.py; the inputs and the property: tests/dataset_fuzz_inputs.py."""

from __future__ import annotations

import tempfile
from pathlib import Path

from dataset_fuzz_inputs import Outcome, build_tree, check_add, trees
from hypothesis import given, settings
from hypothesis import strategies as st


def check_tree(classes: list[tuple[str, int, list[str]]], skip_bad: bool, tmp: Path) -> Outcome:
    """One example of the property (bench/dataset_fuzz.py counts the outcomes)."""
    source, db = tmp / "src", tmp / "lab" / "lab.sqlite"
    source.mkdir()
    db.parent.mkdir()
    build_tree(source, classes)
    return check_add(source, db, skip_bad=skip_bad)


@settings(max_examples=30, deadline=None)
@given(classes=trees, skip_bad=st.booleans())
def test_dataset_add_registers_or_refuses_cleanly(classes: list[tuple[str, int, list[str]]], skip_bad: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        check_tree(classes, skip_bad, Path(tmp))
