"""The `dataset add` property over archives (issue 22): .zip, .tar, .tar.gz and .tgz of class folders of PNGs with
odd and hostile members drawn beside them (links, devices, paths out of the folder, duplicates, lying sizes, bombs,
long and undecodable names, nested archives, __MACOSX), damaged (truncated, flipped bytes) or given as a link, a
FIFO or /dev/zero. Whatever the archive: registered, or refused with a message leaving nothing behind (a hostile
or truncated one always refused), nothing written outside the lab, no bytes registered that a checksummed
archive did not hold, within bounded time and memory. A longer run:
bench/dataset_fuzz.py."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from dataset_fuzz_inputs import (ArchiveSpec, Outcome, archive_specs, big_members, build_archive, check_add,
                                 checksummed, must_refuse)
from hypothesis import given, settings
from hypothesis import strategies as st


def check_archive(spec: ArchiveSpec, skip_bad: bool, tmp: Path) -> Outcome:
    """One example of the property; the Outcome (bench/dataset_fuzz.py counts them)."""
    source, db = tmp / "src", tmp / "lab" / "lab.sqlite"
    source.mkdir()
    db.parent.mkdir()
    given, digests = build_archive(spec, source)
    outcome = check_add(given, db, skip_bad=skip_bad, must_refuse=must_refuse(spec), trace=big_members(spec))
    escaped = [str(p) for p in tmp.rglob("escaped*")]
    assert not escaped, f"written outside the dataset folder: {escaped}"
    if outcome.code == 0 and checksummed(spec):
        manifest = json.loads((db.parent / "datasets" / "ds" / "manifest.json").read_text())
        altered = [path for path, _size, sha256, _label in manifest["manifest"]["files"] if sha256 not in digests]
        assert not altered, f"registered bytes the archive never held: {altered}"
    return outcome


@settings(max_examples=35, deadline=None)
@given(spec=archive_specs(), skip_bad=st.booleans())
def test_dataset_add_registers_or_refuses_an_archive_cleanly(spec: ArchiveSpec, skip_bad: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        check_archive(spec, skip_bad, Path(tmp))
