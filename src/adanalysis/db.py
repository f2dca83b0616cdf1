"""Async engine, session factory and the declarative base shared by every domain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import DateTime, Engine, MetaData, event, text
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (alembic needs them)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on both SQLite (which drops tzinfo) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Store UTC."""
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Read back as aware UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, aware, UTC."""
    return datetime.now(UTC)


def is_sqlite(url: str) -> bool:
    """Whether a database URL points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


# The PostgreSQL read pool: enough connections to keep the database busy, and no overflow: under
# 50 polling connections (bench/polling.py) overflow connections were opened and closed again for
# nearly every request (a TLS attempt and a login each, 14 % of the time); a read waiting a moment
# for a pooled connection costs far less.
PG_READ_POOL_SIZE = 20
PG_READ_MAX_OVERFLOW = 0
# Read connections older than this are replaced when checked out: cheaper than a ping on every
# checkout, and shorter than any server-side idle timeout we know of.
PG_POOL_RECYCLE_SECONDS = 1800
# How long an inline SQLite read may hold the event loop waiting for a lock (milliseconds).
INLINE_BUSY_TIMEOUT_MS = 20


def create_engine(url: str) -> AsyncEngine:
    """An engine for writes; SQLite gets WAL, foreign keys, a busy timeout, BEGIN IMMEDIATE."""
    # hide_parameters: a database error's text (and so its logged traceback) never carries the
    # statement's values, which can be emails, tokens or whatever a client sent.
    if not is_sqlite(url):
        # Writers keep the pre-ping: a job task cancelled in the middle of a statement can leave
        # its connection unusable, and a write must not be the one to find out.
        return create_async_engine(
            url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True
        )
    engine = _sqlite_engine(url, query_only=False)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred transaction that reads then writes fails with SQLITE_BUSY without waiting
        # when another writer got in between; taking the write lock up front makes it wait
        # (busy_timeout), so conflicting writes queue instead of failing.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def create_read_engine(url: str) -> AsyncEngine:
    """An engine for single-statement reads in autocommit: no BEGIN, never the write lock."""
    if not is_sqlite(url):
        # Its own pool, in autocommit (no BEGIN and ROLLBACK round trips around each read) and
        # without pool_pre_ping, which cost a round trip per request (12 % of a status read): a
        # dropped connection fails its read once, is invalidated, and JobReader reads again.
        return create_async_engine(
            url,
            isolation_level="AUTOCOMMIT",
            pool_size=PG_READ_POOL_SIZE,
            max_overflow=PG_READ_MAX_OVERFLOW,
            pool_recycle=PG_POOL_RECYCLE_SECONDS,
            hide_parameters=True,
        )
    # Its own connections: without a BEGIN each statement is its own read transaction on a WAL
    # snapshot, so a reader never queues behind a writer (the write engine's BEGIN IMMEDIATE).
    return _sqlite_engine(url, query_only=True)


def create_inline_engine(url: str) -> Engine | None:
    """SQLite only: a synchronous engine for reads run in the event loop's own thread.

    A status read by primary key takes tens of microseconds in SQLite, far less than handing it
    to aiosqlite's thread and back (the hops, wake-ups and GIL hand-overs were most of a read's
    CPU). A short busy timeout bounds how long the loop can wait; JobReader then reads through
    the thread-backed engine instead.
    """
    if not is_sqlite(url):
        return None
    engine = sa_create_engine(make_url(url).set(drivername="sqlite"), hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # no BEGIN: each read is its own snapshot
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={INLINE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    return engine


def _sqlite_engine(url: str, *, query_only: bool) -> AsyncEngine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN (the write engine's _on_begin); on the read
        # engine nobody does, so each statement autocommits.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not query_only:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if query_only:
            # A write sent here by mistake fails loudly instead of autocommitting unguarded.
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    return engine


@asynccontextmanager
async def open_database(
    url: str,
) -> AsyncIterator[tuple[AsyncEngine, async_sessionmaker[AsyncSession]]]:
    """An engine and its session factory, disposed of when the block ends."""
    engine = create_engine(url)
    try:
        yield engine, create_session_factory(engine)
    finally:
        await engine.dispose()


async def execute_autocommit(url: str, statement: str) -> None:
    """Run one statement outside a transaction (CREATE or DROP DATABASE need that)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep attributes loaded after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, from the app's factory."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    async with factory() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
