"""Rate-limit counters in the app's database: one upsert per hit, expired rows pruned."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlalchemy import case, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.db import utcnow
from adanalysis.ratelimit.limiter import Hit
from adanalysis.ratelimit.models import RateLimitCounter

# Expired counters are deleted at most this often (seconds), by whichever hit comes next.
PRUNE_EVERY_SECONDS = 60.0


class DatabaseLimiter:
    """Counters in the rate_limit_counters table; atomic on SQLite and PostgreSQL alike."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory
        self._next_prune = 0.0

    async def hit(self, key: str, *, window_seconds: float) -> Hit:
        """Count one attempt: a new window when there is none or it ended, else count + 1."""
        now = utcnow()
        table = RateLimitCounter
        async with self.session_factory() as session:
            insert = _insert_for(session)
            stmt = insert(table).values(
                key=key, count=1, window_ends_at=now + timedelta(seconds=window_seconds)
            )
            ended = table.window_ends_at <= now
            stmt = stmt.on_conflict_do_update(
                index_elements=[table.key],
                set_={
                    "count": case((ended, 1), else_=table.count + 1),
                    "window_ends_at": case(
                        (ended, stmt.excluded.window_ends_at), else_=table.window_ends_at
                    ),
                },
            ).returning(table.count, table.window_ends_at)
            count, ends_at = (await session.execute(stmt)).one()
            if time.monotonic() >= self._next_prune:
                self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                await session.execute(delete(table).where(table.window_ends_at <= now))
            await session.commit()
        return Hit(count=count, retry_after=max(0.0, (ends_at - now).total_seconds()))

    async def undo(self, key: str) -> None:
        """One attempt less, never below zero."""
        table = RateLimitCounter
        async with self.session_factory() as session:
            await session.execute(
                update(table).where(table.key == key, table.count > 0).values(count=table.count - 1)
            )
            await session.commit()

    async def reset(self, key: str) -> None:
        """Forget the key."""
        async with self.session_factory() as session:
            await session.execute(delete(RateLimitCounter).where(RateLimitCounter.key == key))
            await session.commit()

    async def close(self) -> None:
        """Nothing to release: sessions are per call."""


def _insert_for(session: AsyncSession) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT DO UPDATE."""
    bind = session.get_bind()
    return postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert
