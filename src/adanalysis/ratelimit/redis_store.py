"""Rate-limit counters in Redis, for several servers sharing one view of the attempts."""

from __future__ import annotations

from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from adanalysis.ratelimit.limiter import Hit, LimiterUnavailableError
from adanalysis.redis_options import reconnecting

# INCR, and start the window (PEXPIRE) on the first hit; one round trip, atomic.
_HIT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""
# DECR only an existing counter: a missing one must not come back without an expiry.
_UNDO = """
if redis.call('EXISTS', KEYS[1]) == 1 and tonumber(redis.call('GET', KEYS[1])) > 0 then
  return redis.call('DECR', KEYS[1])
end
return 0
"""


class RedisLimiter:
    """Counters as Redis keys that expire with their window."""

    def __init__(self, url: str, *, prefix: str) -> None:
        self.prefix = prefix
        self.redis: Any = aioredis.from_url(
            url, socket_timeout=5, socket_connect_timeout=5, **reconnecting()
        )
        self._hit = self.redis.register_script(_HIT)
        self._undo = self.redis.register_script(_UNDO)

    async def hit(self, key: str, *, window_seconds: float) -> Hit:
        """Count one attempt."""
        window_ms = max(1, int(window_seconds * 1000))
        try:
            count, ttl_ms = await self._hit(keys=[self.prefix + key], args=[window_ms])
        except RedisError as exc:
            raise LimiterUnavailableError(type(exc).__name__) from None
        return Hit(count=int(count), retry_after=max(0.0, int(ttl_ms) / 1000))

    async def undo(self, key: str) -> None:
        """One attempt less, never below zero."""
        try:
            await self._undo(keys=[self.prefix + key])
        except RedisError as exc:
            raise LimiterUnavailableError(type(exc).__name__) from None

    async def reset(self, key: str) -> None:
        """Forget the key."""
        try:
            await self.redis.delete(self.prefix + key)
        except RedisError as exc:
            raise LimiterUnavailableError(type(exc).__name__) from None

    async def close(self) -> None:
        """Close the connection pool."""
        await self.redis.aclose()
