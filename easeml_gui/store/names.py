"""Names of tenants, datasets and hosts: they become directory names and appear in remote shell commands."""

from __future__ import annotations

import re

from .errors import StoreError

# Allow-list, not deny-list: a name that passes is safe as a path component and as a shell word.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

ALLOWED = "1 to 64 characters from A-Z a-z 0-9 . _ -, starting with a letter or a digit"


def validate_name(kind: str, name: str) -> str:
    """Return `name` unchanged when it is a valid `kind` name (tenant, dataset, host); raise StoreError otherwise."""
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise StoreError(f"invalid {kind} name {name!r}: use {ALLOWED}")
    return name
