"""Brute-force protection of sign-in and registration, on the database store and on Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.config import Settings
from adanalysis.main import create_app
from adanalysis.ratelimit import database_store
from adanalysis.ratelimit.database_store import DatabaseLimiter
from adanalysis.ratelimit.models import RateLimitCounter
from adanalysis.ratelimit.redis_store import RedisLimiter
from tests.conftest import make_settings

AUTH = "/api/v1/auth"
REDIS_URL = "redis://127.0.0.1:6379/0"
PASSWORD = "correct-horse-9"


@pytest.fixture(params=["database", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def throttle_settings(
    database_url: str, data_dir: Path, backend: str, **overrides: Any
) -> Settings:
    """Test settings on the chosen store; Redis keys under a prefix of their own."""
    return make_settings(
        database_url,
        data_dir,
        rate_limit_backend=backend,
        redis_url=REDIS_URL,
        redis_key_prefix=f"adanalysis-test-{uuid.uuid4().hex}:",
        **overrides,
    )


class Client:
    """An app on given settings and a client whose requests can claim to come from anywhere."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings, start_executor=False)
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://t"
        )

    async def register(self, email: str, *, via: str | None = None) -> httpx.Response:
        return await self.http.post(
            f"{AUTH}/register",
            json={"email": email, "password": PASSWORD},
            headers=_from(via),
        )

    async def sign_in(
        self, email: str, password: str = "wrong-password-1", *, via: str | None = None
    ) -> httpx.Response:
        return await self.http.post(
            f"{AUTH}/token", data={"username": email, "password": password}, headers=_from(via)
        )


def _from(address: str | None) -> dict[str, str]:
    return {"X-Forwarded-For": address} if address else {}


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Client]:
    """The app's lifespan (and so its limiter) around a client."""
    client = Client(settings)
    async with LifespanManager(client.app), client.http:
        yield client


# The test client connects from 127.0.0.1: as a proxy, it can say whom it forwards.
BEHIND_PROXY: dict[str, Any] = {"trusted_proxies": ["127.0.0.1"]}
# Most tests lower the per-account limit: each failure costs a real (slow) Argon2 check.
SMALL = 3


@pytest.fixture
async def app_client(database_url: str, tmp_path: Path, backend: str) -> AsyncIterator[Client]:
    """The test's store, SMALL failures allowed per account and address."""
    settings = throttle_settings(database_url, tmp_path, backend, login_max_failures=SMALL)
    async with running(settings) as client:
        yield client


def _email() -> str:
    return f"owner-{uuid.uuid4().hex[:8]}@example.com"


async def test_eleventh_wrong_password_in_a_minute_is_429(
    database_url: str, tmp_path: Path, backend: str
) -> None:
    """Default limits: 10 failures are 401; the 11th attempt, even the right password, is 429."""
    async with running(throttle_settings(database_url, tmp_path, backend)) as client:
        email = _email()
        assert (await client.register(email)).status_code == 201
        for _ in range(10):
            assert (await client.sign_in(email)).status_code == 401
        refused = await client.sign_in(email)
        assert refused.status_code == 429, refused.text
        assert 0 < int(refused.headers["Retry-After"]) <= 60
        assert "Too many sign-in attempts" in refused.json()["detail"]
        assert (await client.sign_in(email, PASSWORD)).status_code == 429


async def test_owner_signs_in_after_the_window(
    database_url: str, tmp_path: Path, backend: str
) -> None:
    """The lock is short and decays by itself: after Retry-After seconds the password works."""
    settings = throttle_settings(
        database_url, tmp_path, backend, auth_window_seconds=5.0, login_max_failures=2
    )
    async with running(settings) as client:
        email = _email()
        await client.register(email)
        # At once: every attempt is counted before the slow password checks start.
        burst = await asyncio.gather(*(client.sign_in(email) for _ in range(4)))
        refused = [r for r in burst if r.status_code == 429]
        assert len(refused) == 2, [r.status_code for r in burst]
        await asyncio.sleep(int(refused[0].headers["Retry-After"]) + 0.2)
        assert (await client.sign_in(email, PASSWORD)).status_code == 200


async def test_guessing_from_one_address_does_not_lock_the_owner_out(
    database_url: str, tmp_path: Path, backend: str
) -> None:
    """Behind a trusted proxy: the attacker's address is locked, the owner's is not.

    The attacker keeps hammering after the lock; refused attempts count nowhere, so they never
    add up to the account-wide limit.
    """
    settings = throttle_settings(
        database_url,
        tmp_path,
        backend,
        **BEHIND_PROXY,
        login_max_failures=SMALL,
        login_max_failures_per_account=2 * SMALL,
    )
    async with running(settings) as client:
        email = _email()
        await client.register(email, via="198.51.100.7")
        statuses = [(await client.sign_in(email, via="203.0.113.5")).status_code for _ in range(20)]
        assert statuses == [401] * SMALL + [429] * (20 - SMALL)
        owner = await client.sign_in(email, PASSWORD, via="198.51.100.7")
        assert owner.status_code == 200, owner.text


async def test_distributed_guessing_hits_the_account_limit(
    database_url: str, tmp_path: Path, backend: str
) -> None:
    """One failure from each of many addresses still adds up for the account."""
    settings = throttle_settings(
        database_url,
        tmp_path,
        backend,
        **BEHIND_PROXY,
        login_max_failures_per_account=5,
    )
    async with running(settings) as client:
        email = _email()
        await client.register(email)
        statuses = [
            (await client.sign_in(email, via=f"203.0.113.{i}")).status_code for i in range(1, 8)
        ]
        assert statuses == [401] * 5 + [429] * 2


async def test_one_address_guessing_many_accounts_hits_the_address_limit(
    database_url: str, tmp_path: Path, backend: str
) -> None:
    """Credential stuffing: one address, a new account each time."""
    settings = throttle_settings(
        database_url,
        tmp_path,
        backend,
        **BEHIND_PROXY,
        login_max_failures_per_address=5,
    )
    async with running(settings) as client:
        statuses = [
            (await client.sign_in(_email(), via="203.0.113.9")).status_code for _ in range(7)
        ]
        assert statuses == [401] * 5 + [429] * 2
        assert (await client.sign_in(_email(), via="203.0.113.10")).status_code == 401


@pytest.mark.parametrize(
    ("proxy", "address"),
    [({}, "203.0.113.{i}"), (BEHIND_PROXY, "2001:db8:1:2::{i:x}")],
    ids=["forwarded-for from an untrusted peer", "one IPv6 /64 behind a trusted proxy"],
)
async def test_rotating_addresses_that_are_one_client_count_as_one(
    database_url: str, tmp_path: Path, backend: str, proxy: dict[str, Any], address: str
) -> None:
    """Without trusted proxies X-Forwarded-For is the client's own word; a /64 is one client.

    The account does not exist: it is counted all the same (no way to tell which exist).
    """
    settings = throttle_settings(database_url, tmp_path, backend, **proxy, login_max_failures=SMALL)
    async with running(settings) as client:
        email = _email()
        statuses = [
            (await client.sign_in(email, via=address.format(i=i))).status_code
            for i in range(1, SMALL + 3)
        ]
        assert statuses == [401] * SMALL + [429] * 2


async def test_a_successful_sign_in_forgives_earlier_typos(app_client: Client) -> None:
    email = _email()
    await app_client.register(email)
    for _ in range(SMALL - 1):
        assert (await app_client.sign_in(email)).status_code == 401
    assert (await app_client.sign_in(email, PASSWORD)).status_code == 200
    statuses = [(await app_client.sign_in(email)).status_code for _ in range(SMALL + 1)]
    assert statuses == [401] * SMALL + [429]


async def test_concurrent_guesses_cannot_slip_past_the_limit(app_client: Client) -> None:
    """Attempts are counted before the (slow) password check, atomically."""
    email = _email()
    await app_client.register(email)
    statuses = await asyncio.gather(*(app_client.sign_in(email) for _ in range(3 * SMALL)))
    codes = [r.status_code for r in statuses]
    assert codes.count(401) == SMALL and codes.count(429) == 2 * SMALL


async def test_registration_is_limited_per_address_and_per_email(
    database_url: str, tmp_path: Path, backend: str
) -> None:
    settings = throttle_settings(
        database_url,
        tmp_path,
        backend,
        **BEHIND_PROXY,
        registrations_per_address=3,
        registrations_per_email=2,
    )
    async with running(settings) as client:
        statuses = [
            (await client.register(_email(), via="203.0.113.1")).status_code for _ in range(4)
        ]
        assert statuses == [201, 201, 201, 429]
        taken = _email()
        statuses = [
            (await client.register(taken, via=f"203.0.113.{i}")).status_code for i in (2, 3, 4)
        ]
        assert statuses == [201, 409, 429]
        r = await client.register(_email(), via="203.0.113.5")
        assert r.status_code == 201 and "Retry-After" not in r.headers


async def test_unreachable_redis_is_503_not_500(database_url: str, tmp_path: Path) -> None:
    """The limiter failing closed: sign-in waits for the store rather than going unprotected."""
    settings = make_settings(
        database_url, tmp_path, rate_limit_backend="redis", redis_url="redis://127.0.0.1:1/0"
    )
    async with running(settings) as client:
        r = await client.sign_in(_email())
        assert r.status_code == 503 and r.headers["Retry-After"] == "5"
        assert "try again" in r.json()["detail"]


def test_backend_follows_the_redis_url(tmp_path: Path) -> None:
    """`auto` picks Redis exactly when a Redis URL is configured."""
    assert make_settings("sqlite://", tmp_path).resolved_rate_limit_backend == "database"
    with_redis = make_settings("sqlite://", tmp_path, redis_url=REDIS_URL)
    assert with_redis.resolved_rate_limit_backend == "redis"
    forced = make_settings(
        "sqlite://", tmp_path, redis_url=REDIS_URL, rate_limit_backend="database"
    )
    assert forced.resolved_rate_limit_backend == "database"
    with pytest.raises(ValueError, match="not-a-network"):
        make_settings("sqlite://", tmp_path, trusted_proxies=["not-a-network"])


async def test_database_store_counts_windows_and_prunes_expired_rows(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    limiter = DatabaseLimiter(session_factory)
    first = await limiter.hit("k1", window_seconds=0.3)
    second = await limiter.hit("k1", window_seconds=0.3)
    assert (first.count, second.count) == (1, 2) and 0 < second.retry_after <= 0.3
    await limiter.undo("k1")
    await limiter.undo("k1")
    await limiter.undo("k1")  # never below zero
    assert (await limiter.hit("k1", window_seconds=0.3)).count == 1
    await limiter.hit("k2", window_seconds=0.3)
    await asyncio.sleep(0.4)
    assert (await limiter.hit("k1", window_seconds=60)).count == 1, "a new window starts over"
    limiter._next_prune = 0.0
    await limiter.hit("k3", window_seconds=60)
    async with session_factory() as session:
        keys = set((await session.execute(select(RateLimitCounter.key))).scalars())
    assert keys == {"k1", "k3"}, "k2's window ended and was pruned"
    assert database_store.PRUNE_EVERY_SECONDS > 0
    await limiter.reset("k1")
    async with session_factory() as session:
        total = await session.scalar(select(func.count()).select_from(RateLimitCounter))
    assert total == 1


async def test_redis_store_counts_windows_and_expires_keys() -> None:
    prefix = f"adanalysis-test-{uuid.uuid4().hex}:"
    limiter = RedisLimiter(REDIS_URL, prefix=prefix)
    try:
        assert (await limiter.hit("k", window_seconds=0.3)).count == 1
        hit = await limiter.hit("k", window_seconds=0.3)
        assert hit.count == 2 and 0 < hit.retry_after <= 0.3
        await limiter.undo("k")
        await limiter.undo("k")
        await limiter.undo("k")
        await limiter.undo("missing")  # must not create a key without an expiry
        assert await limiter.redis.exists(prefix + "missing") == 0
        assert await limiter.redis.pttl(prefix + "k") > 0
        await asyncio.sleep(0.4)
        assert await limiter.redis.exists(prefix + "k") == 0
        await limiter.hit("k", window_seconds=60)
        await limiter.reset("k")
        assert await limiter.redis.exists(prefix + "k") == 0
    finally:
        await limiter.close()
