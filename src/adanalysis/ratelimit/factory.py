"""The rate-limit store the settings choose."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.config import Settings
from adanalysis.ratelimit.limiter import Limiter


def make_limiter(settings: Settings, session_factory: async_sessionmaker[AsyncSession]) -> Limiter:
    """The store the settings choose: the database by default, Redis when configured."""
    if settings.resolved_rate_limit_backend == "redis":
        if not settings.redis_url:
            raise RuntimeError("ADANALYSIS_RATE_LIMIT_BACKEND=redis needs ADANALYSIS_REDIS_URL.")
        from adanalysis.ratelimit.redis_store import RedisLimiter

        return RedisLimiter(settings.redis_url, prefix=f"{settings.redis_key_prefix}ratelimit:")
    from adanalysis.ratelimit.database_store import DatabaseLimiter

    return DatabaseLimiter(session_factory)
