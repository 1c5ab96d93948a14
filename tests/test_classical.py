"""Classical scikit-learn arms on real images (scikit-learn's digits as PNG folders): fit, save, export, load."""

from __future__ import annotations

import dataclasses

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from training_fixtures import digits_dataset, digits_dir, small_digits  # noqa: F401 (fixtures)

from easeml_gui.training.arms import CLASSICAL
from easeml_gui.training.classical import (CARD_NAME, FORMAT, MODEL_NAME, ClassicalOutcome, area_matrix,
                                           export_classical, features, load_classical, save_classical,
                                           train_classical)
from easeml_gui.training.model_loader import class_probabilities, trusted_types
from easeml_gui.training.datasets import load_dataset
from easeml_gui.training.decoded import decoded_images

Split = tuple[np.ndarray, np.ndarray]
# The torch export's card keys (training/export.py): a classical card has them all, plus test_accuracy.
CARD_KEYS = {"format", "architecture", "classes", "accuracy", "pretrained", "dataset_hash", "preprocessing", "usage",
             "versions", "test_accuracy"}


def splits(folder: Path, size: int) -> dict[str, Split]:
    """(images, labels) of the train, val and test splits, rows picked from the decoded array as the worker does."""
    info = load_dataset(folder)
    images = decoded_images(info, size)
    row = {entry.path: i for i, entry in enumerate(info.manifest)}
    val, test = info.val, info.test
    if not test:  # a dataset registered before test splits existed: hold out every other validation image
        val, test = val[::2], val[1::2]
    return {name: (images[[row[p] for p in paths]], np.array(info.labels(paths), dtype=np.int64))
            for name, paths in (("train", info.train), ("val", val), ("test", test))}


def fit(learner: str, data: dict[str, Split], seed: int = 0, threads: int | None = 1) -> ClassicalOutcome:
    return train_classical(learner, *data["train"], *data["val"], *data["test"], seed=seed, threads=threads)


@pytest.fixture(scope="module")
def digits_32(digits_dataset: Path) -> dict[str, Split]:  # noqa: F811 (the fixture)
    return splits(digits_dataset, 32)


@pytest.fixture(scope="module")
def trained(digits_32: dict[str, Split]) -> dict[str, ClassicalOutcome]:
    """Every learner fitted once on the full digits at 32 px, on one thread."""
    return {learner: fit(learner, digits_32) for learner in CLASSICAL}


@pytest.fixture(scope="module")
def small(small_digits: Path) -> dict[str, Split]:  # noqa: F811 (the fixture)
    return splits(small_digits, 16)


def save(path: Path, outcome: ClassicalOutcome, data: dict[str, Split], extra: dict | None = None) -> Path:
    _, channels, size, _ = data["train"][0].shape
    save_classical(path, outcome, classes=[str(i) for i in range(10)], image_size=size, channels=channels,
                   dataset_hash="digits-hash", extra=extra or {})
    return path


# --- features -------------------------------------------------------------------------------------------------

def test_small_images_are_only_scaled_and_flattened_in_c_h_w_order() -> None:
    images = np.random.default_rng(0).integers(0, 256, (5, 3, 8, 8), dtype=np.uint8)
    out = features(images)
    assert out.shape == (5, 3 * 8 * 8) and out.dtype == np.float32
    np.testing.assert_allclose(out, images.reshape(5, -1) / 255, atol=1e-6)


def test_large_images_are_area_averaged_to_the_classical_size() -> None:
    checkerboard = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)[None, None]
    np.testing.assert_allclose(features(checkerboard), 0.5, atol=1e-6)  # each 2 x 2 block averages to grey
    images = np.random.default_rng(1).integers(0, 256, (4, 1, 48, 48), dtype=np.uint8)
    out = features(images)
    assert out.shape == (4, 32 * 32)
    # area averaging keeps each image's mean brightness at any ratio, and a stripe stays where it was
    np.testing.assert_allclose(out.mean(axis=1), images.reshape(4, -1).mean(axis=1) / 255, atol=1e-5)
    stripe = np.zeros((1, 1, 48, 48), dtype=np.uint8)
    stripe[..., :24, :] = 255
    assert (features(stripe).reshape(32, 32)[:16] == 1).all() and (features(stripe).reshape(32, 32)[16:] == 0).all()


def test_area_matrix_rows_average_to_one() -> None:
    for size, out in ((48, 32), (224, 32), (33, 32), (32, 32)):
        weights = area_matrix(size, out)
        np.testing.assert_allclose(weights.sum(axis=1), 1.0)
        np.testing.assert_allclose(weights.sum(axis=0), out / size)  # every input pixel counts equally


# --- training -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("learner", list(CLASSICAL))
def test_each_learner_beats_chance_by_far(learner: str, trained: dict[str, ClassicalOutcome]) -> None:
    outcome = trained[learner]
    assert outcome.learner == learner and outcome.train_seconds > 0
    assert outcome.val_accuracy > 0.85 and outcome.test_accuracy > 0.85  # chance is 0.10
    print(f"{learner}: val {outcome.val_accuracy:.4f}, test {outcome.test_accuracy:.4f}, "
          f"fit {outcome.train_seconds:.2f} s")


def test_svc_is_competitive(trained: dict[str, ClassicalOutcome]) -> None:
    assert trained["svc"].val_accuracy >= 0.95
    assert trained["svc"].val_accuracy >= max(o.val_accuracy for o in trained.values()) - 0.02


def test_the_model_predicts_from_images_with_the_feature_step_first(trained: dict[str, ClassicalOutcome],
                                                                    digits_32: dict[str, Split]) -> None:
    images, labels = digits_32["test"]
    model = trained["svc"].model
    np.testing.assert_array_equal(model[0].transform(images), features(images))
    assert np.mean(model.predict(images) == labels) == trained["svc"].test_accuracy


def test_no_test_split_gives_no_test_accuracy(small: dict[str, Split]) -> None:
    outcome = train_classical("logistic_regression", *small["train"], *small["val"], threads=1)
    assert outcome.test_accuracy is None and outcome.val_accuracy > 0.5


@pytest.mark.parametrize("learner", list(CLASSICAL))
def test_same_seed_same_model(learner: str, small: dict[str, Split]) -> None:
    first, second = fit(learner, small, seed=3), fit(learner, small, seed=3)
    images = small["test"][0]
    scores = "decision_function" if learner == "svc" else "predict_proba"
    np.testing.assert_array_equal(getattr(first.model, scores)(images), getattr(second.model, scores)(images))
    assert first.val_accuracy == second.val_accuracy and first.test_accuracy == second.test_accuracy


def test_a_forest_depends_on_its_seed_not_on_its_threads(small: dict[str, Split]) -> None:
    images = small["test"][0]
    first = fit("random_forest", small, seed=0).model.predict_proba(images)
    np.testing.assert_array_equal(fit("random_forest", small, seed=0, threads=2).model.predict_proba(images), first)
    assert not np.array_equal(fit("random_forest", small, seed=1).model.predict_proba(images), first)


# --- clear errors ---------------------------------------------------------------------------------------------

def test_unknown_learner_names_the_known_ones(small: dict[str, Split]) -> None:
    with pytest.raises(ValueError, match="unknown classical learner 'knn'.*svc, logistic_regression"):
        train_classical("knn", *small["train"], *small["val"])


def test_bad_inputs_say_what_is_wrong(small: dict[str, Split]) -> None:
    (x, y), (xv, yv) = small["train"], small["val"]
    cases = [
        ((x.astype(np.float32) / 255, y, xv, yv), "x_train must be a uint8 array N x C x S x S"),
        ((x[:, 0], y, xv, yv), "x_train must be a uint8 array"),
        ((x, y, xv[..., :8, :8], yv), r"x_val images are \(1, 8, 8\).*training images are \(1, 16, 16\)"),
        ((x, y[:-1], xv, yv), "y_train must be one integer class index per image"),
        ((x, y.astype(float), xv, yv), "y_train must be one integer class index per image"),
        ((x, y, xv[:0], yv[:0]), "the val split is empty"),
        ((x[y == 3], y[y == 3], xv, yv), "single class"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=message):
            train_classical("svc", *args)
    with pytest.raises(ValueError, match="both x_test and y_test"):
        train_classical("svc", x, y, xv, yv, xv)


# --- save, load, export ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("learner", list(CLASSICAL))
def test_save_load_predicts_identically(learner: str, trained: dict[str, ClassicalOutcome],
                                        digits_32: dict[str, Split], tmp_path: Path) -> None:
    outcome = trained[learner]
    loaded = load_classical(save(tmp_path / MODEL_NAME, outcome, digits_32, extra={"seed": 0}))
    images = np.concatenate([digits_32["val"][0], digits_32["test"][0]])
    np.testing.assert_array_equal(loaded.model.predict(images), outcome.model.predict(images))
    assert (loaded.learner, loaded.image_size, loaded.channels, loaded.dataset_hash) == (learner, 32, 1, "digits-hash")
    assert (loaded.val_accuracy, loaded.test_accuracy) == (outcome.val_accuracy, outcome.test_accuracy)
    assert loaded.classes == [str(i) for i in range(10)] and loaded.extra == {"seed": 0}
    assert not list(tmp_path.glob("*.tmp"))  # the atomic writer left no temporary file


def test_extra_must_be_json(trained: dict[str, ClassicalOutcome], digits_32: dict[str, Split],
                            tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="extra must hold JSON values"):
        save(tmp_path / MODEL_NAME, trained["svc"], digits_32, extra={"path": tmp_path})
    assert not (tmp_path / MODEL_NAME).exists()


def test_each_cards_one_liner_reproduces_its_test_accuracy_in_plain_python(
        trained: dict[str, ClassicalOutcome], digits_32: dict[str, Split], tmp_path: Path) -> None:
    images, labels = digits_32["test"]
    cards = {}
    for learner, outcome in trained.items():
        out = tmp_path / "export" / learner
        cards[learner] = export_classical(save(tmp_path / f"{learner}.skops", outcome, digits_32, extra={"seed": 0}),
                                          out, {"task": "t1", "host": "local"})
        np.save(out / "images.npy", images)
    # One fresh interpreter runs each card's usage line as written there, in the export folder, on the test images.
    script = "\n".join(["import json, os, sys", "import numpy as np", "for folder in sys.argv[1:]:",
                        "    os.chdir(folder)", "    images = np.load('images.npy')",
                        "    exec(json.load(open('model_card.json'))['usage'])", "    np.save('labels.npy', labels)",
                        "assert not any(name.startswith('easeml_gui') for name in sys.modules)"])
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    subprocess.run([sys.executable, "-I", "-c", script, *(str(tmp_path / "export" / name) for name in cards)],
                   env=env, check=True, timeout=300)
    for learner, card in cards.items():
        out, outcome = tmp_path / "export" / learner, trained[learner]
        assert json.loads((out / CARD_NAME).read_text()) == card
        assert CARD_KEYS <= set(card) and (card["task"], card["host"], card["seed"]) == ("t1", "local", 0)
        assert (card["architecture"], card["pretrained"], card["accuracy"]) == (learner, False, outcome.val_accuracy)
        assert card["preprocessing"]["image_size"] == 32 and card["preprocessing"]["channels"] == 1
        assert np.mean(np.load(out / "labels.npy") == labels) == card["test_accuracy"] == outcome.test_accuracy


def test_garbage_truncated_and_foreign_files_fail_clearly(trained: dict[str, ClassicalOutcome],
                                                          digits_32: dict[str, Split], tmp_path: Path) -> None:
    good = save(tmp_path / MODEL_NAME, trained["logistic_regression"], digits_32).read_bytes()
    files = {"garbage": b"\x89PNG not a model", "truncated": good[:len(good) // 2],
             "foreign": skops.io.dumps({"format": "something else", "model": [1, 2]}),
             "no pipeline": skops.io.dumps({"format": FORMAT, "model": "a string"})}
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ValueError, match="not a readable easeml-gui model file|not an easeml-gui classical model"):
            load_classical(path)
    with pytest.raises(FileNotFoundError):
        load_classical(tmp_path / "missing.skops")


def test_untrusted_types_are_refused_by_the_loader_and_the_one_liner(tmp_path: Path) -> None:
    evil = Pipeline([("features", FunctionTransformer(os.system, kw_args={}))])
    path = tmp_path / MODEL_NAME
    path.write_bytes(skops.io.dumps({"format": FORMAT, "model": evil, "learner": "svc"}))
    with pytest.raises(ValueError, match=r"holds types no easeml-gui model file has \(posix.system\)"):
        load_classical(path)
    with pytest.raises(skops.io.exceptions.UntrustedTypesFoundException):
        skops.io.load(path, trusted=trusted_types("svc"))


@pytest.mark.parametrize("learner", ["random_forest", "hist_gradient_boosting"])
def test_tree_nodes_pointing_outside_their_tree_are_refused(learner: str, small: dict[str, Split],
                                                            tmp_path: Path) -> None:
    outcome = fit(learner, small)
    estimator = outcome.model[-1]
    if learner == "random_forest":
        estimator.estimators_[5].tree_.children_left[0] = 10**9  # a child far past the tree's end
    else:
        estimator._predictors[3][2].nodes["feature_idx"][0] = 10**6  # a pixel the images do not have
    with pytest.raises(ValueError, match="holds a tree whose nodes point outside it"):
        load_classical(save(tmp_path / MODEL_NAME, outcome, small))


def test_a_file_cannot_claim_a_learner_whose_types_it_does_not_match(trained: dict[str, ClassicalOutcome],
                                                                     digits_32: dict[str, Split],
                                                                     tmp_path: Path) -> None:
    forest = trained["random_forest"]
    relabelled = dataclasses.replace(forest, learner="svc")
    with pytest.raises(ValueError, match="not an easeml-gui classical model"):
        load_classical(save(tmp_path / MODEL_NAME, relabelled, digits_32))


@pytest.mark.parametrize("learner", sorted(CLASSICAL))
def test_every_learner_gives_probabilities_the_saved_model_reproduces(trained: dict[str, ClassicalOutcome],
                                                                     digits_32: dict[str, Split], learner: str,
                                                                     tmp_path: Path) -> None:
    """What an ensemble averages: rows summing to 1 that agree with predict, and the same numbers again from the
    saved file through the shipped loader (the SVC's through its fitted temperature)."""
    outcome = trained[learner]
    x_val, y_val = digits_32["val"]
    assert outcome.val_probabilities.shape == (len(y_val), 10)
    assert np.allclose(outcome.val_probabilities.sum(axis=1), 1.0)
    assert np.mean(outcome.val_probabilities.argmax(1) == y_val) == pytest.approx(outcome.val_accuracy, abs=0.02)
    loaded = load_classical(save(tmp_path / MODEL_NAME, outcome, digits_32))
    x_test = digits_32["test"][0]
    again = class_probabilities(loaded.model, x_test, loaded.temperature)
    assert np.allclose(again, outcome.test_probabilities)
    assert (loaded.temperature != 1.0) == (learner == "svc")
