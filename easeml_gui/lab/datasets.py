"""Datasets as a lab's admin handles them: register a folder or archive (validated, copied into the managed data
folder, recorded; all or nothing), list them, read one back as the training side sees it, verify it on disk."""

from __future__ import annotations

import logging
import shutil
from contextlib import suppress
from pathlib import Path

from ..store import DatasetRecord, JobState, LabReader, LabStore, validate_name
from ..training.datasets import (CancelCallback, DatasetInfo, ProgressCallback, RegistrationCancelled,
                                 UnusableFiles, register_dataset, remove_unregistered, verify_dataset)
from ..training.staging import sweep_stale
from .errors import BadImages, Cancelled, LabError, as_lab_error

_log = logging.getLogger(__name__)


def register(store: LabStore, name: str, source: Path, data_dir: Path, *, skip_bad: bool = False,
             val_fraction: float = 0.2, test_fraction: float = 0.2, seed: int = 0,
             progress: ProgressCallback | None = None, cancel: CancelCallback | None = None) -> DatasetInfo:
    """Validate `source`, copy it to `data_dir`/datasets/`name` and record it. On any failure nothing stays
    behind: no record, no files. skip_bad leaves out unreadable images (listed in info.skipped) instead; without
    it they are refused as BadImages. `progress(done, total, stage)` reports each file; `cancel()` returning
    True stops at the next file (Cancelled, nothing registered). A dataset folder of that name left unrecorded by
    a registration killed before its record is replaced."""
    with as_lab_error():
        validate_name("dataset", name)
    if not 0 < val_fraction < 1:
        raise LabError(f"the validation fraction must be between 0 and 1 (e.g. 0.2), not {val_fraction:g}")
    if not 0 <= test_fraction < 1 - val_fraction:
        raise LabError(f"the test fraction must be at least 0 and leave images to train on beside the validation "
                       f"fraction {val_fraction:g} (e.g. 0.2), not {test_fraction:g}")
    if _taken(store, name):
        raise LabError(f"dataset {name!r} already exists; choose another name")
    dest = data_dir / "datasets" / name

    def record(info: DatasetInfo) -> None:
        fields = info.to_dict()
        store.add_dataset(name, str(dest), info.content_hash, manifest=fields["manifest"], stats=fields["stats"],
                          split=fields["split"])

    _log.debug("registering dataset %s from %s into %s", name, source, dest)
    with as_lab_error():
        remove_unregistered(dest, registered=lambda: _taken(store, name))
        try:
            return register_dataset(source, dest, skip_bad=skip_bad, val_fraction=val_fraction,
                                    test_fraction=test_fraction, seed=seed, progress=progress, cancel=cancel,
                                    record=record)
        except RegistrationCancelled as stop:
            raise Cancelled(str(stop)) from None
        except UnusableFiles as refusal:
            raise BadImages(str(refusal), refusal.bad) from None


def sweep_staging(data_dir: Path) -> None:
    """Remove the staging folders that killed registrations left in `data_dir`/datasets (live ones stay)."""
    with suppress(OSError):  # housekeeping: a datasets folder that cannot be listed must not stop the caller
        sweep_stale(data_dir / "datasets")


def _taken(store: LabReader, name: str) -> bool:
    return any(d.name.lower() == name.lower() for d in store.datasets(include_archived=True))


def info_of(record: DatasetRecord) -> DatasetInfo:
    """A registered dataset as the training side reads it (classes, splits, schema), from the store alone."""
    return DatasetInfo.from_dict({"content_hash": record.content_hash, "manifest": record.manifest,
                                  "stats": record.stats, "split": record.split}, root=record.path)


def verify_active(store: LabReader) -> None:
    """Before training: every active job's dataset must still be what was registered (content hash)."""
    for name in sorted({job.dataset for job in store.jobs(JobState.ACTIVE)}):
        try:
            with as_lab_error():
                verify_dataset(store.dataset(name).path)
        except LabError as error:
            raise LabError(f"dataset {name}: {error}") from None


def samples(record: DatasetRecord, per_class: int = 4) -> dict[str, list[Path]]:
    """A few image files of each class of a registered dataset (the first in manifest order), for a preview."""
    picked: dict[str, list[Path]] = {name: [] for name in record.stats.get("classes", [])}
    for path, _size, _sha, label in record.manifest.get("files", []):
        chosen = picked.setdefault(label, [])
        if len(chosen) < per_class:
            chosen.append(Path(record.path) / path)
    return picked


def remove(store: LabStore, name: str, data_dir: Path) -> dict[str, int]:
    """Take dataset `name` out of the lab; refused while an active job trains on it. Without history its record
    goes, and the lab's copy of its images with it; with history (jobs) it is archived and its files stay, for the
    jobs and tasks that name it. Returns the history that kept it archived ({} when it was deleted)."""
    with as_lab_error():
        copy = Path(store.dataset(name).path)
        kept = store.remove_dataset(name)
    if not kept and copy.resolve() == (data_dir / "datasets" / name).resolve():
        shutil.rmtree(copy, ignore_errors=True)  # only the lab's own copy, never a folder it does not manage
    return kept
