"""predict.py: the labels an easeml-gui ensemble gives image files, with numpy and Pillow alone (torch too where a
member is a network; scikit-learn and skops where one is a classical learner), no easeml-gui.

    import runpy; predict = runpy.run_path('predict.py')['predict']; labels = predict(['a.png', 'b.png'])
    predict_proba = runpy.run_path('predict.py')['predict_proba']  # N x classes, the card's "classes" order
    python predict.py a.png b.png                                   # one "file<TAB>label" line each

Beside it: model_card.json ("kind": "ensemble": the members, their counts, every file's SHA-256), images.py (the
lab's own image decoding, copied from easeml-gui, so an image is decoded here exactly as for training) and one
folder per member, each as easeml-gui exports a single model. Each image file is decoded at each member's size and
channels (grey or RGB, shorter side resized, centre-cropped); a network takes float32 N x C x S x S in [0, 1] (it
normalises inside) and a classical learner uint8 N x C x S x S through its own shipped load_model.py, which checks
its file; their class probabilities are averaged with weights count / total, as the lab averaged them.

Every file is checked against the card's SHA-256 before it is used: a changed, swapped or missing file is refused.
Shipped as is: the standard library and numpy at import; the rest where a member needs it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import runpy
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

PREDICT_NAME, CARD_NAME, IMAGES_NAME = "predict.py", "model_card.json", "images.py"  # as an export ships them
KIND = "ensemble"  # the card's "kind"
MAX_PIXELS = 64_000_000  # per image: the lab's limit (training/limits.py)
BATCH = 64  # files decoded and predicted at once: bounds the memory a long list takes


class BadExport(ValueError):
    """A folder that is not an intact easeml-gui ensemble export."""


@dataclass(frozen=True)
class Member:
    name: str  # its folder in the export
    count: int  # its weight is count / the members' total
    channels: int
    image_size: int
    probabilities: Callable[[np.ndarray], np.ndarray]  # decoded uint8 N x C x S x S -> N x classes
    images: dict[str, Any]  # images.py, as checked when the ensemble was loaded

    def decoded(self, files: Sequence[str | os.PathLike[str]]) -> np.ndarray:
        """uint8 N x C x S x S at this member's channels and size, each file checked and decoded as the lab does."""
        decoded = np.empty((len(files), self.channels, self.image_size, self.image_size), dtype=np.uint8)
        for i, file in enumerate(files):
            data = Path(file).read_bytes()
            try:
                self.images["inspect_image"](io.BytesIO(data), Path(file).suffix, MAX_PIXELS)
            except self.images["BadImage"] as error:
                raise ValueError(f"{file}: {error}") from None
            decoded[i] = self.images["decode_image"](data, self.channels, self.image_size)
        return decoded

    def predict_proba(self, files: Sequence[str | os.PathLike[str]]) -> np.ndarray:
        """This member alone, decoding included."""
        return _in_batches(files, lambda batch: self.probabilities(self.decoded(batch)))


@dataclass(frozen=True)
class Ensemble:
    classes: list[str]
    members: list[Member]

    def predict_proba(self, files: Sequence[str | os.PathLike[str]]) -> np.ndarray:
        if not len(files):
            return np.zeros((0, len(self.classes)))
        return _in_batches(files, self._batch_proba)

    def _batch_proba(self, files: Sequence[str | os.PathLike[str]]) -> np.ndarray:
        decoded = {(m.channels, m.image_size): m.decoded(files) for m in self.members}  # once per format
        stacked = np.stack([m.probabilities(decoded[m.channels, m.image_size]) for m in self.members])
        counts = np.asarray([m.count for m in self.members], dtype=float)
        return np.tensordot(counts / counts.sum(), stacked, axes=1)  # the lab's average (engine/ensemble.py)


def _in_batches(files: Sequence[str | os.PathLike[str]],
                proba: Callable[[Sequence[str | os.PathLike[str]]], np.ndarray]) -> np.ndarray:
    """proba() of BATCH files at a time: the decoded images of a long list never all sit in memory."""
    return np.concatenate([proba(files[i:i + BATCH]) for i in range(0, len(files), BATCH)])


_loaded: dict[Path, Ensemble] = {}


def load(folder: str | os.PathLike[str] | None = None) -> Ensemble:
    """The ensemble exported in `folder` (default: this file's), loaded once; BadExport for anything else."""
    root = Path(folder if folder is not None else Path(__file__).parent).resolve()
    if root not in _loaded:
        _loaded[root] = _load(root)
    return _loaded[root]


def predict_proba(files: Iterable[str | os.PathLike[str]], folder: str | os.PathLike[str] | None = None
                  ) -> np.ndarray:
    """N x classes: the members' class probabilities of each image file, averaged with their weights."""
    return load(folder).predict_proba(_listed(files))


def predict(files: Iterable[str | os.PathLike[str]], folder: str | os.PathLike[str] | None = None) -> list[str]:
    """The most probable class of each image file, by name."""
    ensemble = load(folder)
    return [ensemble.classes[i] for i in np.argmax(ensemble.predict_proba(_listed(files)), axis=1)]


def _listed(files: Iterable[str | os.PathLike[str]]) -> list[str | os.PathLike[str]]:
    if isinstance(files, (str, bytes, os.PathLike)):
        raise TypeError("pass a list of image files, e.g. predict(['a.png']), not one file name")
    return list(files)


def _load(root: Path) -> Ensemble:
    try:
        card = json.loads((root / CARD_NAME).read_text())
    except (OSError, ValueError) as error:
        raise BadExport(f"{root / CARD_NAME} cannot be read ({error}); export the ensemble again") from None
    if not isinstance(card, dict) or card.get("kind") != KIND or not isinstance(card.get("files"), dict) \
            or not isinstance(card.get("members"), list) or not isinstance(card.get("classes"), list):
        raise BadExport(f"{root / CARD_NAME} is not an easeml-gui ensemble card (\"kind\": \"{KIND}\"); a single "
                        "model's card says how to load it in its \"usage\"")
    files = card["files"]

    def checked(relative: str) -> Path:
        """The file, once it is one the card lists, inside the folder, with the card's SHA-256."""
        path = (root / relative).resolve()
        if relative not in files or not path.is_relative_to(root):
            raise BadExport(f"{relative} is not a file of this export's card; export the ensemble again")
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as error:
            raise BadExport(f"{relative} cannot be read ({error.strerror or error}); export the ensemble "
                            "again") from None
        if digest != files[relative]:
            raise BadExport(f"{relative} has changed since the export (its SHA-256 is not the one in "
                            f"{CARD_NAME}); refusing to load it: export the ensemble again")
        return path

    images = runpy.run_path(str(checked(IMAGES_NAME)))
    members = [_member(entry, checked, images) for entry in card["members"]]
    return Ensemble(list(card["classes"]), members)


def _member(entry: dict[str, Any], checked: Callable[[str], Path], images: dict[str, Any]) -> Member:
    folder = entry["folder"]
    model = checked(f"{folder}/{entry['model']}")
    probabilities = _network(model) if model.suffix == ".pt" else _classical(model, checked(f"{folder}/load_model.py"))
    return Member(folder, int(entry["count"]), int(entry["channels"]), int(entry["image_size"]), probabilities,
                  images)


def _classical(model: Path, loader_file: Path) -> Callable[[np.ndarray], np.ndarray]:
    loader = runpy.run_path(str(loader_file))
    bundle = loader["load_bundle"](model)  # the member's own loader refuses a file no easeml-gui model is
    pipeline, temperature = bundle["model"], bundle.get("temperature", 1.0)

    def probabilities(images: np.ndarray) -> np.ndarray:
        return loader["class_probabilities"](pipeline, images, temperature)

    return probabilities


def _network(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    import torch  # only where a member is a network

    model = torch.jit.load(str(path), map_location="cpu").eval()

    def probabilities(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():  # uint8 -> [0, 1] as the lab feeds its networks; the model normalises itself
            return model(torch.from_numpy(images).float() / 255.0).numpy().astype(float)

    return probabilities


if __name__ == "__main__":
    for name, label in zip(sys.argv[1:], predict(sys.argv[1:])):
        print(f"{name}\t{label}")
