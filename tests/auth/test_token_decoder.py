"""The cached token decoder: same answers as decode_access_token, expiry kept, bounded."""

from __future__ import annotations

import time

import jwt

from adanalysis.auth.security import ALGORITHM, TokenDecoder, create_access_token
from adanalysis.ids import new_object_id

SECRET = "test-secret-key-not-for-production"


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_a_cached_token_expires_on_time() -> None:
    clock = Clock()
    decoder = TokenDecoder(SECRET, clock=clock)
    user_id = new_object_id()
    token = create_access_token(user_id, secret=SECRET, expires_minutes=1)
    assert decoder.user_id(token) == user_id
    clock.now += 30
    assert decoder.user_id(token) == user_id  # from the cache
    clock.now += 31
    assert decoder.user_id(token) is None  # past exp: refused although it was cached
    assert decoder.user_id(token) is None


def test_invalid_tokens_are_refused_and_not_kept() -> None:
    decoder = TokenDecoder(SECRET, max_entries=2)
    now = int(time.time())
    wrong_key = jwt.encode(
        {"sub": new_object_id(), "iat": now, "exp": now + 60},
        "another-key-that-is-long-enough-0123456789",
        algorithm=ALGORITHM,
    )
    no_id = jwt.encode({"sub": "admin", "iat": now, "exp": now + 60}, SECRET, algorithm=ALGORITHM)
    for token in (wrong_key, no_id, "not-a-jwt"):
        assert decoder.user_id(token) is None
    assert not decoder._valid


def test_the_cache_is_bounded() -> None:
    decoder = TokenDecoder(SECRET, max_entries=2)
    users = [new_object_id() for _ in range(5)]
    tokens = [create_access_token(u, secret=SECRET, expires_minutes=5) for u in users]
    assert [decoder.user_id(t) for t in tokens] == users
    assert len(decoder._valid) == 2
    assert decoder.user_id(tokens[0]) == users[0]  # evicted, decoded again
