"""The one exception type a user of the store sees."""

from __future__ import annotations


class StoreError(Exception):
    """Something the user can fix: the message says what is wrong and what to do."""
