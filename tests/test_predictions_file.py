"""predictions.npz (training/predictions.py): what a task's class probabilities look like on disk and in the store,
read back as data only."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from easeml_gui.training.predictions import MAX_BYTES, PREDICTIONS_FILE, BadPredictions, Predictions


def sample(classes: int = 3) -> Predictions:
    rng = np.random.default_rng(0)
    return Predictions.of(np.array([5, 2, 9]), np.array([0, 2, 1]), rng.random((3, classes)),
                          np.array([1, 1]), rng.random((2, classes)))


def test_a_round_trip_through_the_folder_keeps_every_number(tmp_path):
    original = sample()
    assert original.save(tmp_path) == PREDICTIONS_FILE
    loaded = Predictions.load(tmp_path / PREDICTIONS_FILE)
    for name in ("val_rows", "val_labels", "val_probabilities", "test_labels", "test_probabilities"):
        assert np.array_equal(getattr(loaded, name), getattr(original, name))
    assert np.allclose(loaded.val_probabilities.sum(axis=1), 1.0)
    assert loaded.classes == 3


def test_no_test_split_gives_empty_test_arrays():
    predictions = Predictions.of(np.arange(2), np.array([0, 1]), np.eye(2), None, None)
    assert predictions.test_probabilities.shape == (0, 2)
    assert Predictions.from_bytes(predictions.to_bytes()).test_labels.size == 0


def test_a_pickled_object_array_is_refused_without_running_it():
    buffer = io.BytesIO()
    arrays = {name: getattr(sample(), name) for name in
              ("val_rows", "val_labels", "test_labels", "test_probabilities")}
    np.savez(buffer, val_probabilities=np.array([object()], dtype=object), **arrays)
    with pytest.raises(BadPredictions, match="not a predictions file"):
        Predictions.from_bytes(buffer.getvalue())


@pytest.mark.parametrize("change, message", [
    (dict(val_rows=np.array([1, 1, 2])), "distinct"),
    (dict(val_labels=np.array([0, 5, 1])), "class indices"),
    (dict(test_probabilities=np.ones((2, 4), dtype=np.float32)), "test probabilities"),
    (dict(val_probabilities=np.full((3, 3), np.nan, dtype=np.float32)), "finite"),
])
def test_inconsistent_arrays_are_refused(change, message):
    good = sample()
    fields = {name: getattr(good, name) for name in
              ("val_rows", "val_labels", "val_probabilities", "test_labels", "test_probabilities")}
    with pytest.raises(BadPredictions, match=message):
        Predictions(**{**fields, **change})


def test_garbage_a_huge_file_and_a_zip_bomb_are_refused():
    with pytest.raises(BadPredictions, match="not a predictions file"):
        Predictions.from_bytes(b"not a zip at all")
    with pytest.raises(BadPredictions, match="MiB"):
        Predictions.from_bytes(b"\0" * (MAX_BYTES + 1))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("val_rows.npy", b"\0" * (5 * MAX_BYTES))  # compresses to a few hundred KB
    with pytest.raises(BadPredictions, match="expands"):
        Predictions.from_bytes(buffer.getvalue())
