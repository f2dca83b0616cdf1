"""Password hashing (Argon2) and JWT bearer tokens."""

from __future__ import annotations

import time
from collections.abc import Callable
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
    decoded = _decode(token, secret)
    return decoded[0] if decoded else None


def _decode(token: str, secret: str) -> tuple[str, float] | None:
    """The user id and expiry (epoch seconds) of a valid token, or None."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "iat", "sub"]}
        )
    except jwt.PyJWTError:
        return None
    sub, exp = claims.get("sub"), claims.get("exp")
    # Checked before it reaches a query: a forged or buggy id must be a 401, never a 500.
    if not (isinstance(sub, str) and is_object_id(sub)) or not isinstance(exp, int | float):
        return None
    return sub, float(exp)


class TokenDecoder:
    """decode_access_token with a bounded per-process cache of valid tokens, expiry respected.

    A page polling every 2 s sends the same token each time; verifying its signature again cost
    6 % of a status read. Only valid tokens are kept (forgeries cannot fill the cache), and a kept
    token stops working at its `exp` as an uncached one would. Revocation is unchanged: tokens
    name a user, and every request still checks in the database that the user exists and is
    active.
    """

    def __init__(
        self, secret: str, *, max_entries: int = 10_000, clock: Callable[[], float] = time.time
    ) -> None:
        self._secret = secret
        self._max_entries = max_entries
        self._clock = clock
        self._valid: dict[str, tuple[str, float]] = {}

    def user_id(self, token: str) -> str | None:
        """The user id in a valid, unexpired token, or None."""
        cached = self._valid.get(token)
        if cached is not None:
            if self._clock() < cached[1]:
                return cached[0]
            del self._valid[token]
            return None
        decoded = _decode(token, self._secret)
        if decoded is None or self._clock() >= decoded[1]:
            return None
        if len(self._valid) >= self._max_entries:
            # The oldest entry goes (dicts keep insertion order): tokens are reissued at sign-in.
            del self._valid[next(iter(self._valid))]
        self._valid[token] = decoded
        return decoded[0]
