"""Hot-path statements straight on asyncpg: SQLAlchemy Core compiled once, a plain asyncpg pool.

SQLAlchemy's session, pool checkout and result layers cost several times a primary-key read or a
one-row update on PostgreSQL. The few statements run for every job or every poll are written in
Core (so they name the models' columns), compiled once to SQL text, and run here.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import Executable

from adanalysis.db import PG_POOL_RECYCLE_SECONDS

log = logging.getLogger(__name__)
T = TypeVar("T")

# What a statement on a connection the server closed raises before any of it ran.
CONNECTION_LOST = (
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    ConnectionError,
)


@dataclass(frozen=True)
class Compiled:
    """A statement's SQL text for one dialect and its parameters' order."""

    sql: str
    order: tuple[str, ...]
    defaults: dict[str, Any]  # binds the dialect adds itself (SQLite's OFFSET 0)

    def args(self, params: dict[str, Any]) -> tuple[Any, ...]:
        """The positional arguments for params, in the statement's order."""
        return tuple(params[key] if key in params else self.defaults[key] for key in self.order)


def compile_statement(statement: Any, dialect: Any) -> Compiled:
    """statement's SQL for dialect, with its binds' order (positional drivers need it)."""
    compiled = statement.compile(dialect=dialect)
    return Compiled(str(compiled), tuple(compiled.positiontup or ()), dict(compiled.params))


# The dialect the statements run here are compiled for.
PG_DIALECT = asyncpg_dialect()


class Prepared:
    """A Core read with named binds: straight on asyncpg given a DirectPool, else on a session."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self.compiled = compile_statement(statement, PG_DIALECT)

    async def rows(
        self,
        params: dict[str, Any],
        *,
        direct: DirectPool | None,
        sessions: async_sessionmaker[AsyncSession],
    ) -> list[dict[str, Any]]:
        """The statement's rows for params."""
        if direct is not None:
            return await direct.fetch(self.compiled, params)
        async with sessions() as session:
            result = await session.execute(self.statement, params)
            return [dict(row) for row in result.mappings()]


def is_postgres(url: str | URL) -> bool:
    """Whether url names a PostgreSQL database."""
    return make_url(url).get_backend_name() == "postgresql"


class DirectPool:
    """A plain asyncpg pool on a PostgreSQL database, opened on first use."""

    def __init__(self, url: str | URL, *, max_size: int, min_size: int = 1) -> None:
        self.url = make_url(url).set(drivername="postgresql")
        self.max_size = max_size
        self.min_size = min(min_size, max_size)
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        """The pool, opened now if it is not yet."""
        if self._pool is not None:
            return self._pool
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self.url.render_as_string(hide_password=False),
                    min_size=self.min_size,
                    max_size=self.max_size,
                    # Idle connections close before any server-side idle timeout we know of.
                    max_inactive_connection_lifetime=PG_POOL_RECYCLE_SECONDS,
                    init=_json_codecs,
                    reset=_rollback_only,
                )
        return self._pool

    async def warm(self) -> None:
        """Open the pool's first connections now, not during the first jobs; later if down."""
        try:
            await self.pool()
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            log.warning("database not reachable yet (%s); connecting on first use", exc)

    async def fetch(self, compiled: Compiled, params: dict[str, Any]) -> list[dict[str, Any]]:
        """The rows of one statement, on a connection that is alive.

        A connection the server closed (a restart, an idle timeout) fails before its statement
        runs; the pool drops it and the statement runs once more on a fresh one.
        """
        pool = await self.pool()
        args = compiled.args(params)
        try:
            records = await pool.fetch(compiled.sql, *args)
        except CONNECTION_LOST as exc:
            await _forget_connections(pool, exc)
            records = await pool.fetch(compiled.sql, *args)
        return [dict(record) for record in records]

    async def in_transaction(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """work(connection) inside one transaction, committed when it returns.

        Retried once, like fetch(), when the connection turns out to be closed.
        """
        pool = await self.pool()
        try:
            return await _transaction(pool, work)
        except CONNECTION_LOST as exc:
            await _forget_connections(pool, exc)
            return await _transaction(pool, work)

    async def aclose(self) -> None:
        """Close the pool's connections."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


async def fetch_on(
    conn: asyncpg.Connection, compiled: Compiled, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """The rows of one statement on conn (inside DirectPool.in_transaction)."""
    return [dict(record) for record in await conn.fetch(compiled.sql, *compiled.args(params))]


async def _transaction(pool: asyncpg.Pool, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    async with pool.acquire() as conn, conn.transaction():
        return await work(conn)


async def _forget_connections(pool: asyncpg.Pool, exc: BaseException) -> None:
    log.info("a pooled database connection was closed (%s); retrying", type(exc).__name__)
    # Every idle connection of the pool is as old as this one: after a restart all are gone.
    await pool.expire_connections()


async def _json_codecs(conn: asyncpg.Connection) -> None:
    # JSON columns arrive decoded and are sent encoded, as SQLAlchemy's JSON type does.
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, schema="pg_catalog", encoder=json.dumps, decoder=json.loads)


async def _rollback_only(conn: asyncpg.Connection) -> None:
    # Only self-contained statements and transactions run here, leaving no session state:
    # asyncpg's default reset (RESET ALL, UNLISTEN...) would cost a round trip per use.
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")
