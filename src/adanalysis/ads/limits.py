"""External limits shared by every job: Graph API pauses per ad account, and a cap on OpenAI
calls in flight. Embedded they live in this process; at scale (executor celery) in Redis, so
all workers on all machines honour one budget."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import redis.asyncio as aioredis

from adanalysis.config import Settings
from adanalysis.redis_options import reconnecting

log = logging.getLogger(__name__)
RedisClient = Callable[[], aioredis.Redis]  # the client of the running event loop

_ACCOUNT_IN_PATH = re.compile(r"act_\d+")
APP_BUDGET = "app"  # calls that name no ad account share the app's budget
# How often a caller waiting for an OpenAI slot asks again, in seconds (jittered).
SLOT_POLL_SECONDS = 0.05

# Take a slot if fewer than cap are held; slots of holders that died expire after ttl_ms.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return 1
end
return 0
"""
# Extend a pause, never shorten it.
_PAUSE = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
"""


def budget_key(path: str) -> str:
    """The Graph budget a request spends: its ad account (act_<digits>), else the app's."""
    match = _ACCOUNT_IN_PATH.search(path)
    return match.group(0) if match else APP_BUDGET


class GraphPauses(Protocol):
    """When the next Graph call on a budget may go, as Facebook's usage headers asked."""

    async def pause(self, key: str, seconds: float) -> None:
        """No call on key for the next seconds (a longer pause already set is kept)."""

    async def pause_left(self, key: str) -> float:
        """Seconds until calls on key may go again (0 when they may go now)."""
        ...


class CallSlots(Protocol):
    """A cap on calls in flight."""

    def slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold one slot for the duration of a call."""
        ...


class LocalGraphPauses:
    """Pauses in this process's memory (embedded mode), per event loop (tests run one each)."""

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, float]] = (
            weakref.WeakKeyDictionary()
        )

    def _until(self) -> dict[str, float]:
        return self._by_loop.setdefault(asyncio.get_running_loop(), {})

    async def pause(self, key: str, seconds: float) -> None:
        """Pause key for seconds, keeping a longer pause."""
        until = self._until()
        until[key] = max(until.get(key, 0.0), time.monotonic() + seconds)

    async def pause_left(self, key: str) -> float:
        """Seconds left of key's pause."""
        return max(0.0, self._until().get(key, 0.0) - time.monotonic())


class RedisGraphPauses:
    """Pauses in Redis, seen by every worker (a key per ad account that expires with it)."""

    def __init__(self, client: RedisClient, *, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    async def pause(self, key: str, seconds: float) -> None:
        """Pause key for seconds everywhere (a longer pause already set is kept)."""
        try:
            ms = max(1, int(seconds * 1000))
            await self._client().eval(_PAUSE, 1, self._prefix + key, ms)
        except Exception as exc:
            log.warning("could not share a Graph API pause (%s); pausing here only", exc)

    async def pause_left(self, key: str) -> float:
        """Seconds left of key's pause; 0 if Redis does not answer (the local pause still holds)."""
        try:
            ms = int(await self._client().pttl(self._prefix + key))
        except Exception:
            return 0.0
        return ms / 1000 if ms > 0 else 0.0


class LocalCallSlots:
    """A semaphore of this process (one per event loop, as tests run several loops)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of cap slots."""
        loop = asyncio.get_running_loop()
        semaphore = self._by_loop.get(loop)
        if semaphore is None:
            semaphore = self._by_loop[loop] = asyncio.Semaphore(self.cap)
        async with semaphore:
            yield


class RedisCallSlots:
    """A semaphore in Redis shared by every worker; a dead holder's slot expires after ttl."""

    def __init__(self, client: RedisClient, *, key: str, cap: int, ttl_seconds: float) -> None:
        self._client = client
        self.key = key
        self.cap = cap
        self.ttl_ms = int(ttl_seconds * 1000)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a free slot, hold it during the call, free it after."""
        token = uuid.uuid4().hex
        held = await self._acquire(token)
        try:
            yield
        finally:
            if held:
                with contextlib.suppress(Exception):
                    await self._client().zrem(self.key, token)

    async def _acquire(self, token: str) -> bool:
        while True:
            try:
                args = (self.key, self.ttl_ms, self.cap, token)
                if await self._client().eval(_ACQUIRE, 1, *args):
                    return True
            except Exception as exc:
                # The cap protects a quota, not correctness: without Redis, calls go ahead.
                log.warning("OpenAI call cap unavailable (%s); calling without it", exc)
                return False
            await asyncio.sleep(SLOT_POLL_SECONDS * (1 + random.random()))


class _Limits:
    """The limits of one process, made on first use."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, int], aioredis.Redis] = {}
        self._local_pauses = LocalGraphPauses()
        self._local_slots: dict[int, LocalCallSlots] = {}

    def _client(self, url: str) -> aioredis.Redis:
        # A client per event loop: redis-py connections belong to the loop that opened them.
        key = (url, id(asyncio.get_running_loop()))
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = aioredis.Redis.from_url(
                url, socket_connect_timeout=2, socket_timeout=5, **reconnecting()
            )
        return client

    def graph_pauses(self, settings: Settings) -> GraphPauses:
        url = _shared_url(settings)
        if url is None:
            return self._local_pauses
        return RedisGraphPauses(
            lambda: self._client(url), prefix=f"{settings.redis_key_prefix}graph:"
        )

    def openai_slots(self, settings: Settings) -> CallSlots:
        url = _shared_url(settings)
        if url is None:
            cap = settings.openai_max_concurrency
            if cap not in self._local_slots:
                self._local_slots[cap] = LocalCallSlots(cap)
            return self._local_slots[cap]
        return RedisCallSlots(
            lambda: self._client(url),
            key=f"{settings.redis_key_prefix}openai-slots",
            cap=settings.openai_max_concurrency,
            ttl_seconds=settings.openai_timeout_seconds + 30,
        )


def _shared_url(settings: Settings) -> str | None:
    """Redis for limits shared across processes: at scale only."""
    return settings.events_redis_url if settings.executor == "celery" else None


_LIMITS = _Limits()


def graph_pauses(settings: Settings) -> GraphPauses:
    """This process's view of the Graph API pauses (shared through Redis at scale)."""
    return _LIMITS.graph_pauses(settings)


def openai_slots(settings: Settings) -> CallSlots:
    """The cap on OpenAI calls in flight (across every worker at scale)."""
    return _LIMITS.openai_slots(settings)
