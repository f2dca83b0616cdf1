"""Password hashing (Argon2) and JWT bearer tokens."""

from __future__ import annotations

from datetime import timedelta

import jwt
from pwdlib import PasswordHash

from adanalysis.db import utcnow
from adanalysis.ids import is_object_id

_hasher = PasswordHash.recommended()
ALGORITHM = "HS256"
# Verifying against this keeps unknown-email logins as slow as wrong-password ones.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    """Argon2id hash of a password."""
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether password matches; constant work when there is no hash."""
    if password_hash is None:
        _hasher.verify(password, _DUMMY_HASH)
        return False
    return _hasher.verify(password, password_hash)


def create_access_token(user_id: str, *, secret: str, expires_minutes: int) -> str:
    """A signed JWT naming the user."""
    now = utcnow()
    claims = {"sub": user_id, "iat": now, "exp": now + timedelta(minutes=expires_minutes)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_access_token(token: str, *, secret: str) -> str | None:
    """The user id in a valid token, or None (also for a well-signed token naming no valid id)."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "iat", "sub"]}
        )
    except jwt.PyJWTError:
        return None
    sub = claims.get("sub")
    # Checked before it reaches a query: a forged or buggy id must be a 401, never a 500.
    return sub if isinstance(sub, str) and is_object_id(sub) else None
