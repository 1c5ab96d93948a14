"""Fixtures for the training tests; test modules import them (`from training_fixtures import digits_dir`).

scikit-learn's bundled digits exported as PNG class folders: real images, generated per session, never committed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from easeml_gui.training.datasets import register_dataset
from easeml_gui.training.digits import export_digits


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits as an image-folder dataset (a source to register; do not modify it)."""
    return export_digits(tmp_path_factory.mktemp("digits-source") / "digits")


@pytest.fixture(scope="session")
def digits_dataset(digits_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits registered (manifest.json, split seed 0) in a managed data folder, shared by training tests."""
    dest = tmp_path_factory.mktemp("data") / "digits"
    register_dataset(digits_dir, dest)
    return dest


@pytest.fixture(scope="session")
def small_digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registered 300-image subset (30 per class) for tests that need a worker run, not a good model."""
    source = export_digits(tmp_path_factory.mktemp("small-digits-source") / "digits", per_class=30)
    dest = tmp_path_factory.mktemp("data") / "small-digits"
    register_dataset(source, dest)
    return dest
