"""The errors a user sees from training: each message says what is wrong and what to do (torch-free)."""

from __future__ import annotations


class DatasetError(Exception):
    """A dataset or archive that cannot be registered or used; str(error) is meant for the user."""


class TrainingError(Exception):
    """Training could not produce a model (diverged, too small an image, ...); str(error) says why and what to try."""


class OutOfMemory(TrainingError):
    """The device ran out of memory even at the smallest batch tried."""
