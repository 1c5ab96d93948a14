"""Classical scikit-learn learners as arms: fit on the images' pixels, evaluate, save and export safely.

The fitted model is one scikit-learn Pipeline that takes what the worker decodes, a uint8 numpy array
N x C x S x S (values 0..255, at the size it trained at), and returns class indices:
  "features"  area-averages each image to min(S, CLASSICAL_MAX_SIZE) px a side, scales to [0, 1] and flattens
              (C, H, W order), built from np.tensordot and np.reshape only, so no easeml-gui code is needed to
              run it
  then the learner, behind a StandardScaler where it needs standardised inputs (logistic_regression).
Hyper-parameters are fixed rules, never tuned on validation or test data: scikit-learn's defaults (known to be good
on pixels), with enough iterations to converge, and cheaper gradient boosting (see _estimator).

Files are skops (skops.io): a zip of JSON and numpy arrays that loads without unpickling, refusing every type not
on a trusted list. The file holds a dict: {"model": the Pipeline, "classes", "image_size", "channels", ...}; it is
read by model_loader.py, which an export ships beside the model as load_model.py (its tree checks make the user's
load as safe as the app's), and usage() is the one line a user loads it with. Torch-free: this module runs where
torch is not installed.
"""

from __future__ import annotations

import json
import math
import platform
import shutil
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import skops
from scipy.optimize import minimize_scalar
from sklearn.base import ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from . import model_loader
from .. import __version__
from .arms import CLASSICAL, CLASSICAL_MAX_SIZE
from .atomic import write_atomically
from .model_loader import FORMAT, load_bundle, readable

# skops.io is imported where a file is read or written: importing it imports every scikit-learn module (and torch,
# where installed) to list the estimators it trusts, which takes seconds that training and listing arms never need.

CARD_FORMAT = "easeml-gui model card 1"  # the torch export's card format: both cards have the same keys
MODEL_NAME, CARD_NAME, LOADER_NAME = "model.skops", "model_card.json", "load_model.py"


def usage() -> str:
    """The model card's one-line recipe, run in the export folder: the shipped loader checks the file (runpy: it
    needs no sys.path entry), then predict."""
    return (f"import runpy; load_model = runpy.run_path('{LOADER_NAME}')['load_model']; "
            f"model = load_model('{MODEL_NAME}'); labels = model.predict(images)")


@dataclass(frozen=True)
class ClassicalOutcome:
    val_accuracy: float
    test_accuracy: float | None  # None when there is no test split
    train_seconds: float  # the first fit alone (train split), without evaluation
    model: Pipeline  # uint8 N x C x S x S images -> class indices
    learner: str
    fit_images: int  # the images `model` was fit on: the train split, or train + validation after a refit
    # class probabilities (model_loader.class_probabilities) of the validation images from the fit on the training
    # split, and of the test images from `model`; `temperature` (1 for a learner with its own probabilities) is fitted
    # on the validation split and kept in the file, so an export predicts the probabilities recorded here
    val_probabilities: np.ndarray
    test_probabilities: np.ndarray | None
    temperature: float = 1.0


@dataclass(frozen=True)
class ClassicalModel:
    """A loaded model file: the pipeline and what it was trained on."""
    model: Pipeline
    learner: str
    classes: list[str]
    image_size: int
    channels: int
    dataset_hash: str
    val_accuracy: float
    test_accuracy: float | None
    train_seconds: float
    versions: dict[str, str]
    extra: dict[str, Any]
    temperature: float = 1.0  # model_loader.class_probabilities's; files from before it have none: 1


def area_matrix(size: int, out: int) -> np.ndarray:
    """(out, size) weights: output pixel i averages the input over [i, i + 1) * size / out, pixels cut by an edge
    weighted by their overlap (area averaging: antialiased, and exact for any ratio)."""
    edges = np.arange(out + 1) * size / out
    left = np.arange(size)
    overlap = np.minimum(edges[1:, None], left + 1) - np.maximum(edges[:-1, None], left)
    return np.clip(overlap, 0, None) * out / size


def feature_step(channels: int, size: int) -> Pipeline:
    """uint8 (N, channels, size, size) -> float32 (N, channels * s * s) in [0, 1], s = min(size, CLASSICAL_MAX_SIZE).
    Each tensordot contracts axis 2 (rows, then columns), so the image axes come out in their order."""
    side = min(size, CLASSICAL_MAX_SIZE)
    weights = area_matrix(size, side).T.astype(np.float32)
    return Pipeline([
        ("rows", FunctionTransformer(np.tensordot, kw_args={"b": weights / 255, "axes": ([2], [0])})),
        ("columns", FunctionTransformer(np.tensordot, kw_args={"b": weights, "axes": ([2], [0])})),
        ("flatten", FunctionTransformer(np.reshape, kw_args={"shape": (-1, channels * side * side)})),
    ])


def features(images: np.ndarray) -> np.ndarray:
    """What the learners see of uint8 (N, C, S, S) images: float32 (N, C * s * s), as feature_step says."""
    _check_images("images", images)
    return feature_step(images.shape[1], images.shape[2]).fit_transform(images)


def learner_pipeline(learner: str, channels: int, size: int, *, seed: int = 0, threads: int | None = None) -> Pipeline:
    """The unfitted pipeline of a classical arm; ValueError for a name that is not one."""
    if learner not in CLASSICAL:
        raise ValueError(f"unknown classical learner {learner!r}; use one of {', '.join(CLASSICAL)}")
    steps: list[tuple[str, Any]] = [("features", feature_step(channels, size))]
    if learner == "logistic_regression":
        steps.append(("scale", StandardScaler()))  # lbfgs converges in far fewer steps on standardised inputs
    # Not before the RBF SVC: pixels in [0, 1] are comparable already, and standardising blows the noise of nearly
    # constant pixels (a digit's border) up to the weight of the strokes. On the peers bench's sets (train + val ->
    # test): digits-all 0.978 -> 0.989, shifted-1000 0.340 -> 0.480, digits-1000 0.990 -> 0.995, colour-1000
    # 0.345 -> 0.320, digits-200 equal.
    steps.append((learner, _estimator(learner, seed, threads)))
    return Pipeline(steps)


def _estimator(learner: str, seed: int, threads: int | None) -> ClassifierMixin:
    if learner == "svc":
        return SVC(C=1.0, gamma="scale")  # gamma = 1 / (features * pixel variance): scikit-learn's default
    if learner == "logistic_regression":
        return LogisticRegression(C=1.0, max_iter=1000)  # lbfgs needs more than its default 100 steps on pixels
    if learner == "random_forest":
        # joblib's -1: every core, as torch does by default; the trees are the same for any number of jobs
        return RandomForestClassifier(n_estimators=300, random_state=seed, n_jobs=threads or -1)
    # Boosting's cost is rounds x classes x a pass over samples x features x bins: 32 intensity levels and half
    # the rounds at twice the step (the same total shrinkage) cost a sixth of the defaults on 32 x 32 pixels.
    return HistGradientBoostingClassifier(max_bins=32, learning_rate=0.2, max_iter=50, random_state=seed)


def train_classical(learner: str, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                    x_test: np.ndarray | None = None, y_test: np.ndarray | None = None, *, seed: int = 0,
                    threads: int | None = None, refit: bool = False) -> ClassicalOutcome:
    """Fit `learner` on the training split and measure it on validation (and test, when given). Deterministic
    under `seed`; `threads` caps the learner's threads (joblib workers, OpenMP and BLAS), None: every core.

    refit: once validated, fit the learner again on train + validation, and keep (and test) that model. Its rules
    are fixed, so validation chose nothing the refit could overfit; the extra images are what a user training
    a scikit-learn model by hand would give it (1,000 images: 800 to fit instead of 640)."""
    _check_split("train", x_train, y_train)
    _check_split("val", x_val, y_val, like=x_train)
    if (x_test is None) != (y_test is None):
        raise ValueError("give both x_test and y_test, or neither")
    if x_test is not None:
        _check_split("test", x_test, y_test, like=x_train)
    if np.unique(y_train).size < 2:
        raise ValueError(f"the training split holds a single class ({int(y_train[0])}); a classifier needs "
                         "images of at least two classes")
    def fit(x: np.ndarray, y: np.ndarray) -> Pipeline:
        return learner_pipeline(learner, x_train.shape[1], x_train.shape[2], seed=seed, threads=threads).fit(x, y)

    # BLAS on one thread: the learners' matrices are small (logistic regression's lbfgs does thousands of
    # 3,000-wide products), so extra BLAS threads only spin, and on a busy machine they spin against each other
    # (digits in colour, 3,072 features: 225 s with two threads beside other work, about 20 s on one).
    # OpenMP (gradient boosting) and joblib (the forest) keep `threads`: their work splits well.
    with threadpool_limits(limits=threads), threadpool_limits(limits=1, user_api="blas"):
        started = time.perf_counter()
        model = fit(x_train, y_train)
        seconds = time.perf_counter() - started
        val = accuracy(model, x_val, y_val)
        temperature = fitted_temperature(model, x_val, y_val)
        val_probabilities = model_loader.class_probabilities(model, x_val, temperature)
        if refit:
            model = fit(np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val]))
        test = None if x_test is None else accuracy(model, x_test, y_test)
        test_probabilities = None if x_test is None else model_loader.class_probabilities(model, x_test, temperature)
        fit_images = len(x_train) + (len(x_val) if refit else 0)
        return ClassicalOutcome(val, test, seconds, model, learner, fit_images, val_probabilities, test_probabilities,
                                temperature)


def fitted_temperature(model: Pipeline, images: np.ndarray, labels: np.ndarray) -> float:
    """The temperature whose softmax of the model's decision values has the lowest log-loss on these images (one
    number, so it cannot overfit them); 1 for a learner with probabilities of its own."""
    if hasattr(model, "predict_proba"):
        return 1.0

    def loss(log_temperature: float) -> float:
        picked = model_loader.class_probabilities(model, images, math.exp(log_temperature))[np.arange(len(labels)),
                                                                                            labels]
        return float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0))))

    # bounded: a margin scale between 1/100 and 100, wide enough for any decision values a learner here gives
    return math.exp(minimize_scalar(loss, bounds=(math.log(0.01), math.log(100.0)), method="bounded").x)


def accuracy(model: Pipeline, images: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(model.predict(images) == labels))


def _check_images(name: str, images: Any, like: np.ndarray | None = None) -> None:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 \
            or images.shape[2] != images.shape[3] or images.shape[1] not in (1, 3):
        described = (f"{images.dtype} array of shape {images.shape}" if isinstance(images, np.ndarray)
                     else type(images).__name__)
        raise ValueError(f"{name} must be a uint8 array N x C x S x S (C = 1 or 3, values 0..255, as decoded_images "
                         f"gives), got a {described}")
    if like is not None and images.shape[1:] != like.shape[1:]:
        raise ValueError(f"{name} images are {images.shape[1:]} (C, S, S) but the training images are "
                         f"{like.shape[1:]}; decode every split at the same size and channels")


def _check_split(name: str, images: Any, labels: Any, like: np.ndarray | None = None) -> None:
    _check_images(f"x_{name}", images, like)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != images.shape[0] or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"y_{name} must be one integer class index per image ({images.shape[0]}), got "
                         f"{labels.dtype} of shape {labels.shape}")
    if images.shape[0] == 0:
        raise ValueError(f"the {name} split is empty; every split needs images")


def save_classical(path: Path, outcome: ClassicalOutcome, *, classes: list[str], image_size: int, channels: int,
                   dataset_hash: str, extra: dict[str, Any]) -> None:
    """Write the model and its metadata as one skops file, atomically. `extra` (JSON values: seed, task...) is
    kept and merged into the model card on export."""
    try:
        extra = json.loads(json.dumps(extra))  # plain JSON values only: anything else would load as untrusted
    except (TypeError, ValueError) as error:
        raise ValueError(f"extra must hold JSON values (str, number, bool, None, list, dict): {error}") from None
    bundle = {"format": FORMAT, "model": outcome.model, "learner": outcome.learner, "classes": list(classes),
              "image_size": int(image_size), "channels": int(channels), "dataset_hash": dataset_hash,
              "val_accuracy": outcome.val_accuracy, "test_accuracy": outcome.test_accuracy,
              "train_seconds": outcome.train_seconds, "temperature": outcome.temperature, "versions": versions(),
              "extra": extra}
    import skops.io  # slow: see the note after the imports
    write_atomically(Path(path), lambda out: out.write(skops.io.dumps(bundle, compression=zipfile.ZIP_DEFLATED)))


def load_classical(path: Path) -> ClassicalModel:
    """Read a file save_classical wrote; ValueError for anything else: garbage, truncation, a type no model file
    holds (nothing is built from it), tree nodes pointing outside their tree."""
    bundle = load_bundle(Path(path))  # the checks the exported load_model.py runs for a user
    if bundle["learner"] not in CLASSICAL:
        raise ValueError(f"{path} is a skops file but not an easeml-gui classical model ({FORMAT!r}); export the "
                         "model again")
    return readable(path, lambda: ClassicalModel(**{k: v for k, v in bundle.items() if k != "format"}))


def export_classical(model_file: Path, out_dir: Path, card_extra: dict[str, Any]) -> dict[str, Any]:
    """Copy a saved model to out_dir/model.skops beside out_dir/model_card.json (the torch export's card keys plus
    test_accuracy) and out_dir/load_model.py, the loader the card's usage runs; returns the card."""
    loaded = load_classical(model_file)  # refuses a file that would not load for the user either
    side = min(loaded.image_size, CLASSICAL_MAX_SIZE)
    card = {
        "format": CARD_FORMAT,
        "architecture": loaded.learner,
        "classes": loaded.classes,
        "accuracy": loaded.val_accuracy,
        "test_accuracy": loaded.test_accuracy,
        "pretrained": False,
        "dataset_hash": loaded.dataset_hash,
        "preprocessing": {
            "input": "uint8 numpy array N x C x H x W with values 0..255 (not scaled); the model averages, scales "
                     "and standardises itself and returns class indices",
            "channels": loaded.channels,
            "colour": "grey (one channel)" if loaded.channels == 1 else "RGB",
            "image_size": loaded.image_size,
            "resize": "scale the shorter side to image_size, then centre-crop a square",
            "features": f"area-averaged to {side} x {side} px, scaled to [0, 1], flattened in C, H, W order",
        },
        "usage": usage(),
        "temperature": loaded.temperature,
        "versions": {**loaded.versions, "easeml-gui": __version__},
        **loaded.extra,
        **card_extra,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    data = Path(model_file).read_bytes()
    write_atomically(out_dir / MODEL_NAME, lambda out: out.write(data))
    write_atomically(out_dir / CARD_NAME, lambda out: out.write((json.dumps(card, indent=2) + "\n").encode()))
    shutil.copyfile(model_loader.__file__, out_dir / LOADER_NAME)
    return card


def versions() -> dict[str, str]:
    """What a classical model needs to load: the card's "versions"."""
    return {"scikit-learn": sklearn.__version__, "numpy": np.__version__, "skops": skops.__version__,
            "python": platform.python_version()}
