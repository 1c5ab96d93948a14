"""Scan, validate, hash and split an image-folder dataset; register it safely; verify it later.

Layouts accepted (after descending through folders that hold nothing but one folder, as archives often do):
  ROOT/<class>/**/<image>                            a split is made: seeded, stratified, `val_fraction` and
                                                     `test_fraction` per class
  ROOT/train/<class>/..., ROOT/val/<class>/...       the given split is kept (val/ may be named validation/ or valid/)
  ROOT/train/<class>/... alone                       a split is made inside train/
  ... and ROOT/test/<class>/... beside train/        the given test split is kept; without one, a test split is
                                                     carved out of train/
The test split is held out from model selection (which sees validation accuracy only), so the accuracy reported
on it stays honest. Ignored: hidden files and folders, "__MACOSX", non-image files beside the class folders
(README, labels.csv), and other folders beside train/. Images outside a class folder are an error.
Every file inside a class folder must be a regular file (of at most Limits.max_file_bytes) holding an image that
decodes; with `skip_bad=True` the others are left out and listed in DatasetInfo.skipped instead. No link is
followed: links and unreadable sub-folders are always left out and listed there too (dataset_tree.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .archives import extract_archive
from .catalogue import Schema, default_image_size
from .dataset_tree import DatasetTree
from .errors import DatasetError, saying_disk_full
from .images import IMAGE_SUFFIXES, BadImage, ImageFacts, inspect_image
from .limits import Limits
from .safe_files import RefusedFile, copy_hashed, open_regular, sha256_of
from .staging import abandoned, locked, staging_folder

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 2  # 2 added the test split
READABLE_FORMATS = (1, 2)  # a format-1 manifest has no test split: its tasks report no test accuracy
VAL_NAMES = ("val", "validation", "valid")
TEST_NAMES = ("test", "testing")
_LISTED = 8  # names quoted in one error message before "and N more"

# Optional callbacks of register_dataset, called from the thread that registers: progress(done, total, stage)
# with stage "extracting" (total 0: not known ahead), "checking" or "copying"; cancel() -> True stops the
# registration at the next file (extraction itself runs to its end first).
ProgressCallback = Callable[[int, int, str], None]
CancelCallback = Callable[[], bool]


class RegistrationCancelled(DatasetError):
    """cancel() asked to stop; nothing was registered."""


class UnusableFiles(DatasetError):
    """Files in class folders that are not usable images; `bad` lists (relative path, reason) for each, so a
    caller can show them all and offer skip_bad."""

    def __init__(self, message: str, bad: Sequence[tuple[str, str]]) -> None:
        super().__init__(message)
        self.bad = tuple(bad)


class _Steps:
    """Reports each file's step to the callbacks and stops when asked to."""

    def __init__(self, progress: ProgressCallback | None, cancel: CancelCallback | None) -> None:
        self._progress = progress
        self._cancel = cancel

    def report(self, done: int, total: int, stage: str) -> None:
        if self._cancel is not None and self._cancel():
            raise RegistrationCancelled("the registration was cancelled; nothing was registered")
        if self._progress is not None:
            self._progress(done, total, stage)


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the dataset root, POSIX separators
    size: int
    sha256: str
    label: str  # the class folder it lies in


@dataclass(frozen=True)
class ImageStats:
    min_width: int
    median_width: float
    max_width: int
    min_height: int
    median_height: float
    max_height: int
    channels: int  # 1 when every image is grey, else 3: what the images are decoded to (images.py)
    modes: Mapping[str, int]  # PIL modes found, with counts


@dataclass(frozen=True)
class DatasetInfo:
    root: str
    content_hash: str  # sha256 over the manifest (path, size, sha256 of every file)
    manifest: tuple[FileEntry, ...]  # sorted by path
    classes: tuple[str, ...]  # sorted; a label's index here is its class index
    counts: Mapping[str, int]
    stats: ImageStats
    train: tuple[str, ...]  # relative paths
    val: tuple[str, ...]
    split_given: bool  # True when the dataset came with train/ and val/
    seed: int  # the seed of a generated split
    skipped: tuple[tuple[str, str], ...] = ()  # (relative path, reason) left out: bad files with skip_bad=True,
    # links and unreadable folders always
    test: tuple[str, ...] = ()  # held out from selection; empty for datasets registered before test splits
    test_given: bool = False  # True when the dataset came with test/

    @property
    def num_images(self) -> int:
        return len(self.manifest)

    def labels(self, paths: Sequence[str]) -> list[int]:
        """Class indices of `paths` (relative), in order."""
        label_of = {entry.path: entry.label for entry in self.manifest}
        index_of = {name: i for i, name in enumerate(self.classes)}
        return [index_of[label_of[path]] for path in paths]

    def schema(self, image_size: int | None = None) -> Schema:
        """The job schema this dataset gives: picks the candidate models (catalogue.candidates)."""
        short_side = min(self.stats.median_width, self.stats.median_height)
        return Schema(channels=self.stats.channels, image_size=image_size or default_image_size(short_side),
                      num_classes=len(self.classes))

    def summary(self) -> str:
        s = self.stats
        colour = "grey" if s.channels == 1 else "colour"
        split = "given split" if self.split_given else f"split seed {self.seed}"
        test = f" / {len(self.test)} test" if self.test else ", no test split"
        text = (f"{len(self.classes)} classes, {self.num_images} images ({len(self.train)} train / {len(self.val)} "
                f"validation{test}, {split}); {colour}; width {s.min_width}-{s.max_width} px (median {s.median_width:g}), "
                f"height {s.min_height}-{s.max_height} px (median {s.median_height:g})")
        if self.skipped:
            text += f"; {len(self.skipped)} left out"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; `manifest`, `stats` and `split` are the three records the store keeps."""
        return {
            "format": MANIFEST_FORMAT,
            "content_hash": self.content_hash,
            "manifest": {"files": [[e.path, e.size, e.sha256, e.label] for e in self.manifest],
                         "skipped": [list(item) for item in self.skipped]},
            "stats": {"classes": list(self.classes), "counts": dict(self.counts), "images": self.num_images,
                      **{k: v for k, v in vars(self.stats).items() if k != "modes"},
                      "modes": dict(self.stats.modes)},
            "split": {"given": self.split_given, "seed": self.seed, "train": list(self.train), "val": list(self.val),
                      "test": list(self.test), "test_given": self.test_given},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], root: str) -> "DatasetInfo":
        stats = dict(data["stats"])
        classes, counts = stats.pop("classes"), stats.pop("counts")
        stats.pop("images")
        return cls(
            root=root, content_hash=data["content_hash"],
            manifest=tuple(FileEntry(*row) for row in data["manifest"]["files"]),
            classes=tuple(classes), counts=dict(counts), stats=ImageStats(**stats),
            train=tuple(data["split"]["train"]), val=tuple(data["split"]["val"]),
            split_given=bool(data["split"]["given"]), seed=int(data["split"]["seed"]),
            skipped=tuple(tuple(item) for item in data["manifest"]["skipped"]),
            test=tuple(data["split"].get("test", ())), test_given=bool(data["split"].get("test_given", False)),
        )


def content_hash(entries: Iterable[FileEntry]) -> str:
    digest = hashlib.sha256()
    for entry in sorted(entries, key=lambda e: e.path):
        digest.update(f"{entry.path}\t{entry.size}\t{entry.sha256}\n".encode())
    return digest.hexdigest()


def scan_dataset(folder: Path | str, *, skip_bad: bool = False, val_fraction: float = 0.2,
                 test_fraction: float = 0.2, seed: int = 0, limits: Limits = Limits(),
                 steps: _Steps | None = None) -> DatasetInfo:
    """Validate a dataset folder in place and describe it. Raises DatasetError saying what is wrong.

    test_fraction 0 registers no test split (tasks then report no test accuracy)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder; give a folder of class sub-folders, or a .zip / .tar / "
                           ".tar.gz archive of one")
    _check_fractions(val_fraction, test_fraction)
    tree = DatasetTree(folder, limits.max_files)
    root = _unwrap(tree, folder)
    train_dir, val_dir, test_dir = _split_dirs(tree, root)
    class_dirs = _class_dirs(tree, train_dir or root)  # an empty class folder still counts: a class with no images
    given = {name: held for name, held in (("val", val_dir), ("test", test_dir)) if held is not None}
    found = _files(tree, class_dirs, root) + [f for held in given.values()
                                              for f in _files(tree, _class_dirs(tree, held), root)]
    entries, facts, bad = _inspect(found, limits, skip_bad, steps or _Steps(None, None))
    entries.sort(key=lambda entry: entry.path)
    classes, counts = _check_classes([d.name for d in class_dirs], found, entries, root, limits)
    parts = _split(entries, classes, train_dir, given, {"val": val_fraction, "test": test_fraction}, seed)
    return DatasetInfo(root=str(root), content_hash=content_hash(entries), manifest=tuple(entries),
                       classes=classes, counts=counts, stats=_stats(facts), train=parts["train"], val=parts["val"],
                       split_given="val" in given, seed=seed, skipped=tuple(bad + tree.notes(root)),
                       test=parts["test"], test_given="test" in given)


def register_dataset(source: Path | str, dest: Path | str, *, skip_bad: bool = False, val_fraction: float = 0.2,
                     test_fraction: float = 0.2, seed: int = 0, limits: Limits = Limits(),
                     progress: ProgressCallback | None = None, cancel: CancelCallback | None = None,
                     record: Callable[[DatasetInfo], None] | None = None) -> DatasetInfo:
    """Validate `source` (folder or archive) and copy it into the new folder `dest` with its manifest.json.

    Everything happens in a hidden staging folder beside `dest` (staging.py: one left by a killed registration
    is swept by the next) that is renamed into place only on success, so a failure, a bad input or a cancel
    (RegistrationCancelled) leaves nothing behind. Only the manifest's files are copied. `progress` and
    `cancel`: see ProgressCallback and CancelCallback. `record(info)` (the store's record) runs once the folder
    is in place, while it is still locked; when it raises, the folder goes again. A full disk says so.
    """
    source, dest = Path(source), Path(dest)
    if not source.exists():
        raise DatasetError(f"{source} does not exist; give a folder of class sub-folders or an archive of one")
    if os.path.lexists(dest):
        raise DatasetError(f"{dest} already exists; choose another dataset name or remove that folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    options = dict(skip_bad=skip_bad, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
                   limits=limits, steps=_Steps(progress, cancel))
    with saying_disk_full(dest.parent), staging_folder(dest) as stage:
        info = _build(source, stage, dest, options)
        _publish(stage / "data", dest, info, record)
    return info


def remove_unregistered(dest: Path, registered: Callable[[], bool]) -> None:
    """Remove `dest` when a registration killed between its rename and its record left it: a dataset folder
    (manifest.json) that no live registration holds and `registered()` denies. Anything else stays."""
    if dest.is_symlink() or not (dest / MANIFEST_NAME).is_file():
        return
    if not abandoned(dest):
        raise DatasetError(f"{dest} is being registered by another process; wait for it to finish, or choose "
                           "another name")
    if not registered():
        shutil.rmtree(dest)


def load_dataset(folder: Path | str) -> DatasetInfo:
    """The DatasetInfo of a registered dataset folder (its manifest.json), rooted where the folder is now."""
    folder = Path(folder)
    try:
        data = json.loads((folder / MANIFEST_NAME).read_text())
    except FileNotFoundError:
        raise DatasetError(f"{folder} is not a registered dataset (no {MANIFEST_NAME}); register it with "
                           "`easeml-gui dataset add`") from None
    except (OSError, ValueError) as error:
        raise DatasetError(f"{folder / MANIFEST_NAME} is unreadable ({error}); register the dataset again") from None
    if data.get("format") not in READABLE_FORMATS:
        raise DatasetError(f"{folder / MANIFEST_NAME} has format {data.get('format')!r}, this version reads "
                           f"{' and '.join(map(str, READABLE_FORMATS))}; register the dataset again")
    return DatasetInfo.from_dict(data, root=str(folder))


def verify_dataset(folder: Path | str) -> DatasetInfo:
    """Re-hash every file of a registered dataset; DatasetError when any changed or vanished since registration."""
    info = load_dataset(folder)
    missing, changed = [], []
    for entry in info.manifest:
        try:
            with open_regular(Path(info.root) / entry.path, entry.size) as source:
                digest, size = sha256_of(source, entry.size)
        except FileNotFoundError:
            missing.append(entry.path)
            continue
        except (OSError, RefusedFile):  # replaced by a link, a FIFO, a larger file, or unreadable
            digest, size = "", -1
        if (size, digest) != (entry.size, entry.sha256):
            changed.append(entry.path)
    if missing or changed:
        parts = ([f"{len(changed)} changed ({_names(changed)})"] if changed else []) + (
            [f"{len(missing)} missing ({_names(missing)})"] if missing else [])
        raise DatasetError(f"dataset {info.root} changed on disk since it was registered: {'; '.join(parts)}. "
                           "Register it again (under a new name) to use the new files")
    return info


# --- scanning --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Found:
    path: Path
    rel: str
    label: str


def _unwrap(tree: DatasetTree, folder: Path) -> Path:
    """Descend through folders whose only content is one folder that itself holds only folders (archive wrappers)."""
    while True:
        children = tree.children(folder)
        if len(children) != 1 or not children[0].is_dir():
            return folder
        inner = tree.children(children[0])
        if not inner or any(not child.is_dir() for child in inner):
            return folder  # the lone folder holds files: it is a class (reported as "a single class")
        folder = children[0]


def _split_dirs(tree: DatasetTree, root: Path) -> tuple[Path | None, Path | None, Path | None]:
    """train/, val/ and test/ when the dataset comes split (test/ and val/ count only beside train/)."""
    dirs = {p.name.lower(): p for p in tree.children(root) if p.is_dir()}
    held = [next((dirs[name] for name in names if name in dirs), None) for names in (VAL_NAMES, TEST_NAMES)]
    lone = next((d for d in held if d is not None), None)
    if lone is not None and "train" not in dirs:
        raise DatasetError(f"{root} has a {lone.name}/ folder but no train/ folder; add train/ with the same class "
                           "folders, or merge everything into one folder per class and let a split be made")
    return dirs.get("train"), held[0], held[1]


def _class_dirs(tree: DatasetTree, pool: Path) -> list[Path]:
    children = tree.children(pool)
    left_out = "".join(f"; {path.name}: {why}" for path, why in tree.left_out.items() if path.parent == pool)
    if not children:
        raise DatasetError(f"{pool} is empty{left_out}; expected one sub-folder per class, each holding that class's "
                           "images")
    loose = [p.name for p in children if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if loose:
        raise DatasetError(f"{len(loose)} images lie directly in {pool} ({_names(loose)}); every image must be in "
                           "a sub-folder named after its class")
    class_dirs = [p for p in children if p.is_dir()]
    if not class_dirs:
        raise DatasetError(f"{pool} holds no class folders{left_out}; expected one sub-folder per class, each "
                           "holding that class's images")
    return class_dirs


def _files(tree: DatasetTree, class_dirs: list[Path], root: Path) -> list[_Found]:
    return [_Found(path, path.relative_to(root).as_posix(), class_dir.name)
            for class_dir in class_dirs for path in tree.files(class_dir)]


def _inspect(found: list[_Found], limits: Limits, skip_bad: bool, steps: _Steps
             ) -> tuple[list[FileEntry], list[ImageFacts], list[tuple[str, str]]]:
    entries, facts, bad = [], [], []
    for done, item in enumerate(found):
        steps.report(done, len(found), "checking")
        try:
            entry, fact = _check_file(item, limits)
        except OSError as error:
            bad.append((item.rel, f"unreadable ({error.strerror or error})"))
            continue
        except (RefusedFile, BadImage) as reason:
            bad.append((item.rel, str(reason)))
            continue
        entries.append(entry)
        facts.append(fact)
    steps.report(len(found), len(found), "checking")  # every file checked, whatever is refused next
    if bad and not skip_bad:
        listed = "; ".join(f"{path}: {reason}" for path, reason in bad[:_LISTED])
        more = f"; and {len(bad) - _LISTED} more" if len(bad) > _LISTED else ""
        raise UnusableFiles(f"{len(bad)} files in class folders are not usable images: {listed}{more}. Remove or "
                            "fix them, or skip them (skip_bad / --skip-bad) to register the dataset without them", bad)
    return entries, facts, bad


def _check_file(item: _Found, limits: Limits) -> tuple[FileEntry, ImageFacts]:
    """One file, opened once: a regular file within the size cap, an image that decodes, its streamed hash."""
    with open_regular(item.path, limits.max_file_bytes) as source:
        facts = inspect_image(source, item.path.suffix, limits.max_pixels)
        source.seek(0)
        digest, size = sha256_of(source, limits.max_file_bytes)
    return FileEntry(item.rel, size, digest, item.label), facts


def _check_classes(names: list[str], found: list[_Found], entries: list[FileEntry], root: Path, limits: Limits
                   ) -> tuple[tuple[str, ...], dict[str, int]]:
    counts = Counter(entry.label for entry in entries)
    classes = tuple(sorted(names))
    if not found:
        raise DatasetError(f"the class folders in {root} hold no files; put each class's images in its folder")
    if len(classes) < 2:
        raise DatasetError(f"{root} has a single class ({classes[0]!r}); a classifier needs at least two class "
                           "folders, each holding that class's images")
    few = [f"{name} ({counts[name]})" for name in classes if counts[name] < limits.min_images_per_class]
    if few:
        raise DatasetError(f"{len(few)} classes have fewer than the minimum of {limits.min_images_per_class} images: "
                           f"{', '.join(few[:_LISTED])}{' ...' if len(few) > _LISTED else ''}; add images to them "
                           "or remove those class folders")
    return classes, {name: counts[name] for name in classes}


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    if not 0.0 < val_fraction < 1.0:
        raise DatasetError(f"the validation fraction must be between 0 and 1, got {val_fraction}")
    if not 0.0 <= test_fraction < 1.0 or val_fraction + test_fraction >= 1.0:
        raise DatasetError(f"the test fraction must be at least 0 and leave images to train on beside validation "
                           f"({val_fraction}), got {test_fraction}")


def _split(entries: list[FileEntry], classes: Sequence[str], train_dir: Path | None, given: Mapping[str, Path],
           fractions: Mapping[str, float], seed: int) -> dict[str, tuple[str, ...]]:
    """train / val / test: the parts the dataset came with are kept, the others are carved out of the training
    pool (train/ when given, else everything)."""
    top = {e.path: e.path.split("/", 1)[0] for e in entries}
    parts = {name: tuple(e.path for e in entries if top[e.path] == folder.name) for name, folder in given.items()}
    pool = [e for e in entries if train_dir is None or top[e.path] == train_dir.name]
    train_labels = {e.label for e in pool}
    for name, folder in given.items():
        stray = sorted({e.label for e in entries if top[e.path] == folder.name} - train_labels)
        if stray:
            raise DatasetError(f"{folder.name}/ has classes that train/ lacks: {', '.join(stray)}; add them to "
                               f"train/ or remove them from {folder.name}/")
        if not parts[name]:
            raise DatasetError(f"{folder.name}/ holds no images; add images to it or remove {folder.name}/ to let "
                               "a split be made")
    carved = _carve(pool, classes, {name: f for name, f in fractions.items() if name not in given}, seed)
    return {**carved, **parts}


def _carve(pool: list[FileEntry], classes: Sequence[str], fractions: Mapping[str, float], seed: int
           ) -> dict[str, tuple[str, ...]]:
    """Stratified: each class gives round(fraction * n) of its images (at least one; none for fraction 0) to each
    held-out part, in the order of `fractions`, and keeps the rest (at least one) for training. The validation
    part comes first, so adding a test split leaves the validation images of a seed as they were."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[str]] = {"train": [], **{name: [] for name in fractions}}
    for name in classes:
        paths = sorted(e.path for e in pool if e.label == name)
        order = [paths[i] for i in rng.permutation(len(paths))]
        for part, fraction in fractions.items():
            n = 0 if fraction == 0 else min(len(order) - 1, max(1, round(fraction * len(paths))))
            parts[part] += order[:n]
            order = order[n:]
        parts["train"] += order
    return {part: tuple(sorted(paths)) for part, paths in parts.items()}


def _stats(facts: list[ImageFacts]) -> ImageStats:
    widths, heights = [f.width for f in facts], [f.height for f in facts]
    return ImageStats(min_width=min(widths), median_width=float(statistics.median(widths)), max_width=max(widths),
                      min_height=min(heights), median_height=float(statistics.median(heights)),
                      max_height=max(heights), channels=1 if all(f.grey for f in facts) else 3,
                      modes=dict(sorted(Counter(f.mode for f in facts).items())))


# --- registering -----------------------------------------------------------------------------------------------

def _build(source: Path, stage: Path, dest: Path, options: dict[str, Any]) -> DatasetInfo:
    """Scan `source` (extracted into the stage first when an archive) and copy it into stage/data with its
    manifest; the DatasetInfo is rooted at `dest`, where it is published."""
    steps: _Steps = options["steps"]
    if source.is_dir():
        scanned = scan_dataset(source, **options)
    else:
        steps.report(0, 0, "extracting")
        extracted = stage / "extracted"
        extract_archive(source, extracted, options["limits"])
        try:
            scanned = scan_dataset(extracted, **options)
        except DatasetError as refusal:  # the stage is gone when the user reads it: name the archive they gave
            refusal.args = (str(refusal).replace(str(extracted), str(source)), *refusal.args[1:])
            raise
    info = replace(scanned, root=str(dest))
    (stage / "data").mkdir()
    _copy_files(scanned, stage / "data", steps)
    steps.report(len(scanned.manifest), len(scanned.manifest), "copying")  # a cancel now still leaves nothing
    _write_json_atomic(stage / "data" / MANIFEST_NAME, info.to_dict())
    return info


def _publish(built: Path, dest: Path, info: DatasetInfo, record: Callable[[DatasetInfo], None] | None) -> None:
    """Rename `built` into place and record it, locked throughout: a folder found in place unlocked and unrecorded
    was left by a killed registration (remove_unregistered)."""
    with locked(built):
        try:
            os.rename(built, dest)
        except OSError as error:
            raise DatasetError(f"could not move the dataset into {dest} ({error}); check that it does not exist "
                               "and that the folder is writable") from None
        try:
            if record is not None:
                record(info)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)  # not half-registered: the files go with the failed record
            raise


def _copy_files(info: DatasetInfo, target: Path, steps: _Steps) -> None:
    """Copy the manifest's files into `target`, checking each copy against its hash (the source may be changing)."""
    for done, entry in enumerate(info.manifest):
        steps.report(done, len(info.manifest), "copying")
        path = target / entry.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if _copy(Path(info.root) / entry.path, path, entry.size) != entry.sha256:
            raise DatasetError(f"{entry.path} changed while the dataset was being registered; try again once "
                               "nothing writes to the folder")


def _copy(source: Path, target: Path, size: int) -> str | None:
    """The sha256 of what was copied, or None when `source` is no longer a regular file of `size` bytes."""
    try:
        opened = open_regular(source, size)
    except (OSError, RefusedFile):
        return None
    with opened:
        try:
            return copy_hashed(opened, target, size)
        except RefusedFile:  # it grew
            return None


def _write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _names(paths: Sequence[str]) -> str:
    return ", ".join(paths[:_LISTED]) + (f" and {len(paths) - _LISTED} more" if len(paths) > _LISTED else "")
