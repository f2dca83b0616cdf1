"""ObjectId-style identifiers: 24 hex characters, time-ordered."""

from __future__ import annotations

import os
import re
import time

OBJECT_ID_PATTERN = r"^[0-9a-f]{24}$"
_OBJECT_ID = re.compile(OBJECT_ID_PATTERN)


def new_object_id() -> str:
    """A new id: 4 bytes of Unix time then 8 random bytes, as in MongoDB's ObjectId."""
    return f"{int(time.time()):08x}{os.urandom(8).hex()}"


def is_object_id(value: str) -> bool:
    """Whether value is a well-formed id (malformed ids are answered 404, never 500)."""
    return bool(_OBJECT_ID.fullmatch(value))


def require_object_id(value: str) -> str:
    """value if it is a well-formed id; ValueError with what one looks like otherwise."""
    if not is_object_id(value):
        raise ValueError("an id is 24 lowercase hexadecimal characters, as the API returns them")
    return value
