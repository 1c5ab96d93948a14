"""Suite-wide set-up: nothing a test does reaches the user's own caches."""

from __future__ import annotations

import os
from typing import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def private_torch_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """An empty torch hub cache (ImageNet weights, the weights registry) for the whole session, inherited by the
    workers tests start: a weight file in the user's cache must not change what a test trains."""
    previous = os.environ.get("TORCH_HOME")
    os.environ["TORCH_HOME"] = str(tmp_path_factory.mktemp("torch-home"))
    yield
    if previous is None:
        os.environ.pop("TORCH_HOME", None)
    else:
        os.environ["TORCH_HOME"] = previous


@pytest.fixture(autouse=True, scope="session")
def private_config_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The window's remembered choices (QSettings, under $XDG_CONFIG_HOME) go to a session folder, never the
    user's ~/.config; set before Qt reads it."""
    previous = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config-home"))
    yield
    if previous is None:
        os.environ.pop("XDG_CONFIG_HOME", None)
    else:
        os.environ["XDG_CONFIG_HOME"] = previous
