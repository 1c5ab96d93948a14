"""load_model.py: loads an easeml-gui classical model file (model.skops) safely, with numpy, scikit-learn and skops
alone (no easeml-gui).

Every export ships this file beside its model.skops, and the model card's "usage" runs it; the app checks model files
with it too (easeml_gui/training/classical.py). skops builds only the types it is told to trust, but the tree
learners' node arrays have to be trusted by name, and scikit-learn's predict follows their child and feature indices
without bounds checks: a file whose nodes point outside their tree made predict read foreign memory and crash. So
every node is checked before the model is returned.

    from load_model import load_model      # or from another folder: runpy.run_path('path/to/load_model.py')
    model = load_model('model.skops')      # a scikit-learn Pipeline
    labels = model.predict(images)         # uint8 numpy array N x C x S x S -> class indices
    bundle = runpy.run_path('load_model.py')['load_bundle'](Path('model.skops'))
    probabilities = class_probabilities(bundle['model'], images, bundle.get('temperature', 1.0))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.pipeline import Pipeline

T = TypeVar("T")

FORMAT = "easeml-gui classical model 1"
# The types a file needs beyond what skops trusts already (scikit-learn's estimators, numpy arrays, containers):
# the feature step's two numpy functions, and the tree learners' node storage, which skops leaves untrusted
# because scikit-learn follows its indices unchecked (check_trees checks them).
FEATURE_TYPES = ("numpy.reshape", "numpy.tensordot")
TREE_TYPES = {"random_forest": ("sklearn.tree._tree.Tree",),
              "hist_gradient_boosting": ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",)}
ANY_MODEL_TYPES = frozenset(FEATURE_TYPES).union(*TREE_TYPES.values())


def trusted_types(learner: str) -> list[str]:
    """What skops.io.load must be told to trust for a file of `learner`."""
    return [*FEATURE_TYPES, *TREE_TYPES.get(learner, ())]


def load_model(path: str | Path = "model.skops") -> Pipeline:
    """The checked model of an easeml-gui model file; ValueError for anything else."""
    return load_bundle(Path(path))["model"]


def load_bundle(path: Path) -> dict[str, Any]:
    """The whole file ({"model": the Pipeline, "learner", "classes", ...}); ValueError for garbage, truncation, a
    type no model file holds (nothing is built from it), tree nodes pointing outside their tree."""
    import skops.io  # slow (it lists every estimator it trusts): not before a file is read

    data = path.read_bytes()
    untrusted = readable(path, lambda: skops.io.get_untrusted_types(data=data))
    unknown = sorted(set(untrusted) - ANY_MODEL_TYPES)
    if unknown:
        raise ValueError(f"{path} holds types no easeml-gui model file has ({', '.join(unknown)}); refusing to load "
                         "it: it was not written by easeml-gui or has been tampered with")
    bundle = readable(path, lambda: skops.io.loads(data, trusted=untrusted))
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT or not isinstance(bundle.get("model"), Pipeline) \
            or not isinstance(bundle.get("learner"), str) \
            or not set(untrusted) <= set(trusted_types(bundle["learner"])):
        raise ValueError(f"{path} is a skops file but not an easeml-gui classical model ({FORMAT!r}); export the "
                         "model again")
    check_trees(path, bundle["model"][-1])
    return bundle


def class_probabilities(model: Pipeline, images: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """N x classes probabilities, what an ensemble averages: the learner's own (predict_proba) where it has them;
    for one without (the SVC) a softmax of its one-vs-rest decision values over `temperature`, which easeml-gui fits
    on the validation split (Guo et al., "On calibration of modern neural networks", 2017) and keeps in the file."""
    if hasattr(model, "predict_proba"):  # an SVC trained without probability=True hides it (available_if)
        return np.asarray(model.predict_proba(images), dtype=float)
    scores = np.asarray(model.decision_function(images), dtype=float)
    if scores.ndim == 1:  # two classes: one signed margin, positive for the second class
        scores = np.stack([-scores, scores], axis=1) / 2
    scores = scores / temperature
    scores -= scores.max(axis=1, keepdims=True)
    exponentials = np.exp(scores)
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def readable(path: Path, read: Callable[[], T]) -> T:
    """read(), with any failure reported as an unreadable file."""
    try:
        return read()
    except Exception as error:  # zipfile, json and skops raise many types for a file that is no model file
        raise ValueError(f"{path} is not a readable easeml-gui model file ({type(error).__name__}: {error}); "
                         "export the model again") from None


def check_trees(path: Path, estimator: ClassifierMixin) -> None:
    """Every inner node's children come after it (so no cycles) and inside its tree, and its feature exists."""
    if isinstance(estimator, RandomForestClassifier):
        trees = [(t.tree_.children_left, t.tree_.children_right, t.tree_.feature, t.tree_.children_left == -1)
                 for t in estimator.estimators_]
    elif isinstance(estimator, HistGradientBoostingClassifier):
        nodes = [p.nodes for round_ in estimator._predictors for p in round_]
        if any(n["is_categorical"].any() for n in nodes):  # easeml-gui trains none; their bitsets go unchecked
            raise ValueError(f"{path} holds categorical tree nodes, which no easeml-gui model has; refusing it")
        trees = [(n["left"], n["right"], n["feature_idx"], n["is_leaf"].astype(bool)) for n in nodes]
    else:
        return
    for left, right, feature, leaf in trees:
        inner, size = np.flatnonzero(~leaf), len(leaf)
        if size == 0 or not all(((child[inner] > inner) & (child[inner] < size)).all() for child in (left, right)) \
                or not ((feature[inner] >= 0) & (feature[inner] < estimator.n_features_in_)).all():
            raise ValueError(f"{path} holds a tree whose nodes point outside it; the file was tampered with or "
                             "is damaged: export the model again")
