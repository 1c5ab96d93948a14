"""The one error a user sees when a dataset is bad: its message says what is wrong and what to do."""

from __future__ import annotations


class DatasetError(Exception):
    """A dataset or archive that cannot be registered or used; str(error) is meant for the user."""
