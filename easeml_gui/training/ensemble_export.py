"""`python -m easeml_gui.training.ensemble_export SPEC_JSON OUT_DIR`: a tenant's ensemble, in one folder a user loads
in one line (lab/ensemble_export.py runs it, as lab/export.py runs training/export.py for a single model).

OUT_DIR/members/<n>-<arm>/ holds each member exactly as the single-model export writes it (training/export.py:
TorchScript model.pt, or model.skops with load_model.py, and its model_card.json); OUT_DIR/images.py is the lab's own
decoding (training/images.py, copied: predict.py decodes a user's files as training decoded the dataset's);
OUT_DIR/predict.py is training/ensemble_predict.py; OUT_DIR/model_card.json ("kind": "ensemble") lists the members
with their weights and accuracies, the ensemble's, every file's SHA-256 (predict.py refuses a changed file) and the
inference cost per image, measured by the shipped predict.py itself on a few of the dataset's test images.

SPEC_JSON: {"tenant", "accuracy", "test_accuracy", "validation_images", "dataset" (the registered dataset's folder),
"members": [{"checkpoint", "arm", "task_id", "count", "extra" (the member card's additions)}...]}. Replaces a previous
export in OUT_DIR as training/export.py does. Prints one JSON line (predict, card, ms_per_image); exit 0, or 1 with
the reason.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import runpy
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import __version__
from . import ensemble_predict, images
from .datasets import load_dataset
from .ensemble_predict import CARD_NAME, IMAGES_NAME, KIND, PREDICT_NAME
from .errors import DatasetError
from .export import CLASSICAL_MODEL_NAME, CLASSICAL_SUFFIX, MEMBERS_DIR, MODEL_NAME, export_replacing, replacing

TIMING_IMAGES, TIMING_REPEATS = 16, 5  # a few images, the best of a few passes: the cost, not the machine's noise
USAGE = (f"import runpy; predict = runpy.run_path('{PREDICT_NAME}')['predict']; "
         "labels = predict(['a.png', 'b.png'])")


def export_ensemble(spec: dict[str, Any], staging: Path) -> dict[str, Any]:
    """Write the ensemble's folder into `staging`; returns its card."""
    members, cards = [], []
    for number, member in enumerate(spec["members"], 1):
        folder = f"{MEMBERS_DIR}/{number}-{re.sub(r'[^A-Za-z0-9._@-]', '_', member['arm'])}"
        checkpoint = Path(member["checkpoint"])
        card = export_replacing(checkpoint, staging / folder, member["extra"])  # the single export's checks
        cards.append(card)
        members.append({
            "folder": folder, "arm": member["arm"], "task_id": member["task_id"], "count": member["count"],
            "weight": member["count"] / sum(m["count"] for m in spec["members"]),
            "model": CLASSICAL_MODEL_NAME if checkpoint.suffix == CLASSICAL_SUFFIX else MODEL_NAME,
            "accuracy": card["accuracy"], "test_accuracy": card["test_accuracy"],
            "channels": card["preprocessing"]["channels"], "image_size": card["preprocessing"]["image_size"]})
    if any((c["classes"], c["dataset_hash"]) != (cards[0]["classes"], cards[0]["dataset_hash"]) for c in cards):
        raise ValueError("the members were trained on different datasets; an ensemble averages members of one")
    shutil.copyfile(images.__file__, staging / IMAGES_NAME)
    shutil.copyfile(ensemble_predict.__file__, staging / PREDICT_NAME)
    kinds = {m["model"] for m in members}
    card = {
        "format": "easeml-gui model card 1",
        "kind": KIND,
        "architecture": "ensemble of " + ", ".join(m["arm"] for m in members),
        "classes": cards[0]["classes"],
        # cross-fitted: each validation image scored by an ensemble selected without it (engine/ensemble.py)
        "accuracy": spec["accuracy"],
        "validation_images": spec["validation_images"],
        "test_accuracy": spec["test_accuracy"],  # the members' weighted probabilities on the test split
        "members": members,
        "usage": USAGE,
        "requires": ["numpy", "Pillow", *(["torch"] if MODEL_NAME in kinds else []),
                     *(["scikit-learn", "skops"] if CLASSICAL_MODEL_NAME in kinds else [])],
        "dataset_hash": cards[0]["dataset_hash"],
        "tenant": spec["tenant"],
        "versions": {"easeml-gui": __version__},
        "files": _hashes(staging),
    }
    _write_card(staging, card)  # predict.py loads the ensemble from it to time it
    card["inference"] = _inference(staging, _timing_files(Path(spec["dataset"])))
    for member, cost in zip(members, card["inference"].pop("members")):
        member["ms_per_image"] = cost
    _write_card(staging, card)
    return card


def _hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file predict.py reads (all but itself and the card), by path relative to `folder`."""
    files = (path for path in sorted(folder.rglob("*")) if path.is_file())
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest() for path in files
            if path.relative_to(folder).as_posix() not in (PREDICT_NAME, CARD_NAME)}


def _write_card(folder: Path, card: dict[str, Any]) -> None:
    (folder / CARD_NAME).write_text(json.dumps(card, indent=2) + "\n")


def _timing_files(dataset: Path) -> list[Path]:
    """A few of the dataset's test images (validation ones where it has no test split)."""
    try:
        info = load_dataset(dataset)
    except DatasetError as error:
        raise ValueError(f"the images that time the ensemble cannot be read: {error}") from None
    return [Path(info.root) / name for name in (info.test or info.val)[:TIMING_IMAGES]]


def _inference(folder: Path, files: Sequence[Path]) -> dict[str, Any]:
    """Milliseconds per image, decoding included, on this machine's CPU: the shipped predict.py's ensemble and each
    member alone (the first pass, which loads and warms up, is not counted)."""
    ensemble = runpy.run_path(str(folder / PREDICT_NAME))["load"](folder)
    return {"ms_per_image": _ms_per_image(ensemble.predict_proba, files), "images": len(files), "device": "cpu",
            "members": [_ms_per_image(member.predict_proba, files) for member in ensemble.members]}


def _ms_per_image(predict_proba: Callable[[Sequence[Path]], Any], files: Sequence[Path]) -> float:
    predict_proba(files)
    passes = []
    for _ in range(TIMING_REPEATS):
        started = time.perf_counter()
        predict_proba(files)
        passes.append(time.perf_counter() - started)
    return round(1000 * min(passes) / len(files), 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m easeml_gui.training.ensemble_export", description=__doc__)
    parser.add_argument("spec", help="the ensemble, as JSON (see above)")
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    spec = json.loads(args.spec)
    try:
        card = replacing(args.out_dir, lambda staging: export_ensemble(spec, staging))
    except (OSError, KeyError, RuntimeError, ValueError) as error:
        print(f"cannot export the ensemble: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"predict": str(args.out_dir / PREDICT_NAME), "card": str(args.out_dir / CARD_NAME),
                      "ms_per_image": card["inference"]["ms_per_image"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
