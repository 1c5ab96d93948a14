"""`python -m easeml_gui.training.export CHECKPOINT OUT_DIR [--card-extra JSON]`: a trained arm for users.

A network's best.pt becomes TorchScript (below); a classical arm's model.skops is copied with its card and
load_model.py, the loader the card's one-line "usage" runs (training/classical.py: skops, never unpickled, tree
nodes checked). A new export replaces the previous one's files in OUT_DIR, of either kind, and leaves other files.

A network: OUT_DIR/model.pt (TorchScript: float32 NCHW images in [0, 1] at the training size -> class
probabilities; normalisation is inside) and OUT_DIR/model_card.json (architecture, classes, preprocessing,
validation and test accuracy, dataset hash, where it trained, library versions), so a user loads and runs it with
plain torch. Prints one JSON line (model, card, architecture, accuracy); exit 0, or 1 with the reason.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from .. import __version__
from .arms import arm_spec
from .catalogue import CATALOGUE, Schema
from .classical import LOADER_NAME
from .classical import MODEL_NAME as CLASSICAL_MODEL_NAME
from .classical import export_classical
from .ensemble_predict import IMAGES_NAME, PREDICT_NAME
from .ensemble_predict import KIND as ENSEMBLE_KIND
from .models import build_model, library_versions

MODEL_NAME, CARD_NAME = "model.pt", "model_card.json"
CLASSICAL_SUFFIX = Path(CLASSICAL_MODEL_NAME).suffix  # a classical arm's checkpoint is its skops model file
EXPORT_FILES = (MODEL_NAME, CLASSICAL_MODEL_NAME, CARD_NAME, LOADER_NAME)  # what an export of either kind writes
# what an ensemble export adds (training/ensemble_export.py): the members' folders, predict.py and images.py
MEMBERS_DIR, ENSEMBLE_FILES = "members", (PREDICT_NAME, IMAGES_NAME)


class Classifier(nn.Module):
    """The trained network with its normalisation, ending in softmax: what a user needs and nothing else."""

    def __init__(self, network: nn.Module, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.network = network
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.network((images - self.mean) / self.std), dim=1)


def export(checkpoint_path: Path, out_dir: Path, extra: dict[str, Any]) -> dict[str, Any]:
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    arm = arm_spec(checkpoint["arm"])
    spec = CATALOGUE[arm.model]
    schema = Schema(checkpoint["channels"], checkpoint["image_size"], len(checkpoint["classes"]))
    network = build_model(spec, schema, small_stem=checkpoint.get("small_stem"))
    network.load_state_dict(checkpoint["state_dict"])
    model = Classifier(network, checkpoint["mean"], checkpoint["std"]).eval()
    example = torch.rand(2, schema.channels, schema.image_size, schema.image_size)
    with torch.no_grad():
        scripted = torch.jit.trace(model, example)
        if not torch.allclose(scripted(example), model(example), atol=1e-5):
            raise RuntimeError("the TorchScript export does not reproduce the model's outputs")
    out_dir.mkdir(parents=True, exist_ok=True)
    scripted.save(str(out_dir / MODEL_NAME))
    card = {
        "format": "easeml-gui model card 1",
        "architecture": spec.name,
        "arm": arm.name,
        "classes": checkpoint["classes"],
        "accuracy": checkpoint["accuracy"],
        # the folds that accuracy pools: 1, the validation split alone, or a cross-validation of a small one
        "folds": checkpoint.get("folds", 1),
        # on the held-out test split selection never saw (null for datasets registered without one)
        "test_accuracy": checkpoint.get("test_accuracy"),
        "test_images": checkpoint.get("test_images", 0),
        # the images the weights were fit on: the training split, or train + validation for a refit model
        "fit_images": checkpoint.get("fit_images"),
        "pretrained": checkpoint["pretrained"],
        "dataset_hash": checkpoint["dataset_hash"],
        "preprocessing": {
            "input": "float32 tensor N x C x H x W with values in [0, 1]; the model normalises and applies softmax",
            "channels": schema.channels,
            "colour": "grey (one channel)" if schema.channels == 1 else "RGB",
            "image_size": schema.image_size,
            "resize": "scale the shorter side to image_size, then centre-crop a square",
            "mean": checkpoint["mean"],
            "std": checkpoint["std"],
        },
        "usage": "model = torch.jit.load('model.pt'); probabilities = model(images); label = classes[argmax]",
        "versions": {**library_versions(), "easeml-gui": __version__},
        **extra,
    }
    (out_dir / CARD_NAME).write_text(json.dumps(card, indent=2) + "\n")
    return card


def export_replacing(checkpoint_path: Path, out_dir: Path, extra: dict[str, Any]) -> dict[str, Any]:
    exporter = export_classical if checkpoint_path.suffix == CLASSICAL_SUFFIX else export
    return replacing(out_dir, lambda staging: exporter(checkpoint_path, staging, extra))


def replacing(out_dir: Path, write: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """write() an export into a staging folder inside out_dir, then put it in place of the previous export's files:
    a failed export leaves out_dir as it was (and no out_dir it had to create), and no file of an earlier export (a
    model.pt beside a new model.skops, an ensemble's members beside a single model) stays. Returns write()'s card."""
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir))
    try:
        card = write(staging)
        if _card_kind(out_dir) == ENSEMBLE_KIND:  # only then are members/, predict.py and images.py an export's
            shutil.rmtree(out_dir / MEMBERS_DIR, ignore_errors=True)
            for name in ENSEMBLE_FILES:
                (out_dir / name).unlink(missing_ok=True)
        for name in EXPORT_FILES:
            (out_dir / name).unlink(missing_ok=True)
        for staged in staging.iterdir():
            staged.replace(out_dir / staged.name)
        return card
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not any(out_dir.iterdir()):
            out_dir.rmdir()


def _card_kind(out_dir: Path) -> Any:
    try:
        card = json.loads((out_dir / CARD_NAME).read_text())
    except (OSError, ValueError):
        return None
    return card.get("kind") if isinstance(card, dict) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m easeml_gui.training.export", description=__doc__)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--card-extra", default="{}", help="JSON merged into the model card (task, device, host)")
    args = parser.parse_args(argv)
    try:
        card = export_replacing(args.checkpoint, args.out_dir, json.loads(args.card_extra))
    except (OSError, KeyError, RuntimeError, ValueError) as error:
        print(f"cannot export {args.checkpoint}: {error}", file=sys.stderr)
        return 1
    model_name = CLASSICAL_MODEL_NAME if args.checkpoint.suffix == CLASSICAL_SUFFIX else MODEL_NAME
    print(json.dumps({"model": str(args.out_dir / model_name), "card": str(args.out_dir / CARD_NAME),
                      "architecture": card["architecture"], "accuracy": card["accuracy"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
