"""Fast reads of jobs for the API's hot paths: job-status, the history and the live stream.

Pages poll job-status every 2 s, so each read is Core SQL on the read engine (autocommit, no
BEGIN, never SQLite's write lock), with the user check in the same statement as the job.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    RowMapping,
    Select,
    and_,
    bindparam,
    literal,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Executable

from adanalysis.auth.models import User
from adanalysis.db import PG_READ_POOL_SIZE, UTCDateTime
from adanalysis.db_direct import Compiled, DirectPool, compile_statement
from adanalysis.ids import is_object_id
from adanalysis.jobs.errors import JobNotFoundError
from adanalysis.jobs.models import BackgroundJob, JobStatus
from adanalysis.jobs.schemas import JobDocument, JobSummary

log = logging.getLogger(__name__)
_J = BackgroundJob
# The columns of the job-status document, in JobDocument's order.
DOCUMENT_COLUMNS = tuple(getattr(_J, name) for name in JobDocument.model_fields)
# The history's columns: never `results`, which can be large and the list never shows.
SUMMARY_COLUMNS = tuple(getattr(_J, name) for name in JobSummary.model_fields)


def _user_with_job(*columns: Any) -> Select[Any]:
    """The active user `user_id`, outer-joined to their job `job_id` (NULLs if not theirs)."""
    return (
        select(*columns)
        .select_from(User)
        .outerjoin(_J, and_(_J.id == bindparam("job_id"), _J.user_id == User.id))
        .where(User.id == bindparam("user_id"), User.is_active.is_(true()))
    )


# Built once: composing a statement per request cost more than running it.
_STATUS = _user_with_job(User.id.label("__user"), *DOCUMENT_COLUMNS)
_USER_AND_CURSOR = _user_with_job(User.id, _J.created_at, _J.id.label("anchor_id"))
_NEWEST_FIRST = (_J.created_at.desc(), _J.id.desc())
_PAGE_FIRST = (
    select(*SUMMARY_COLUMNS)
    .where(_J.user_id == bindparam("user_id"))
    .order_by(*_NEWEST_FIRST)
    .limit(bindparam("limit", type_=Integer))
)
_PAGE_AFTER = (
    select(*SUMMARY_COLUMNS)
    .where(
        _J.user_id == bindparam("user_id"),
        tuple_(_J.created_at, _J.id)
        < tuple_(bindparam("after_created", type_=UTCDateTime), bindparam("after_id")),
    )
    .order_by(*_NEWEST_FIRST)
    .limit(bindparam("limit", type_=Integer))
)
# A page and the user check in one statement: rows prove the user active and the cursor theirs.
# No rows is ambiguous (no such user, an unknown cursor, or an empty page): then the two-step
# reads above tell which, so the common case costs one round trip instead of two.
_ACTIVE_USER = (
    select(User.id).where(User.id == bindparam("user_id"), User.is_active.is_(true())).exists()
)
_ANCHOR = aliased(BackgroundJob)
_ANCHOR_OF_USER = (_ANCHOR.id == bindparam("job_id"), _ANCHOR.user_id == bindparam("user_id"))
_ANCHOR_CREATED = select(_ANCHOR.created_at).where(*_ANCHOR_OF_USER).scalar_subquery()
_ANCHOR_ID = select(_ANCHOR.id).where(*_ANCHOR_OF_USER).scalar_subquery()
_CHECKED_FIRST = _PAGE_FIRST.where(_ACTIVE_USER)
_CHECKED_AFTER = (
    select(*SUMMARY_COLUMNS)
    .where(
        _J.user_id == bindparam("user_id"),
        _ACTIVE_USER,
        # The first bound lets PostgreSQL seek the index; the row comparison breaks ties.
        _J.created_at <= _ANCHOR_CREATED,
        tuple_(_J.created_at, _J.id) < tuple_(_ANCHOR_CREATED, _ANCHOR_ID),
    )
    .order_by(*_NEWEST_FIRST)
    .limit(bindparam("limit", type_=Integer))
)
# The statements the hot paths run on the driver's connection, compiled once per dialect.
PREPARED = {
    "status": _STATUS,
    "cursor": _USER_AND_CURSOR,
    "first": _PAGE_FIRST,
    "after": _PAGE_AFTER,
    "checked first": _CHECKED_FIRST,
    "checked after": _CHECKED_AFTER,
}
# What SQLite hands back as text and the ORM would have decoded.
_JSON_COLUMNS = frozenset({"parameters", "results", "result_summary"})
_TIME_COLUMNS = frozenset(c.key for c in _J.__table__.columns if isinstance(c.type, UTCDateTime))


def _as_time(value: Any) -> Any:
    """A time column's value as SQLite's text holds it, or already decoded."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value


@dataclass(frozen=True)
class StatusRead:
    """The answer to one status read: whether the user may read at all, and the job if theirs."""

    user_ok: bool  # the token's user exists and is active
    job: JobDocument | None  # None: no such job for this user


class JobReader:
    """Job-status documents and history pages, one or two statements each."""

    def __init__(self, engine: AsyncEngine, *, inline: Engine | None = None) -> None:
        self.engine = engine
        # SQLite only: the same reads, run in the event loop's thread (db.create_inline_engine),
        # on one connection kept open: a pool checkout and its reset cost more than the read.
        self.inline = inline
        self._inline_conn: Connection | None = None
        # The prepared statements for the driver's connection: sqlite3 (inline) or asyncpg.
        dialect = sqlite.dialect() if inline is not None else engine.dialect
        self._prepared: dict[str, Compiled] | None = None
        if inline is not None or engine.dialect.name == "postgresql":
            self._prepared = {k: compile_statement(v, dialect) for k, v in PREPARED.items()}
        # PostgreSQL only: the prepared reads run on a plain asyncpg pool, opened on first use.
        self._pg_pool: DirectPool | None = None
        if engine.dialect.name == "postgresql":
            self._pg_pool = DirectPool(engine.url, max_size=PG_READ_POOL_SIZE)

    async def status(self, *, job_id: str, user_id: str) -> StatusRead:
        """The user check and user_id's job job_id, in one statement."""
        # An id that cannot exist matches no job (and never reaches the query as typed).
        job_id = job_id if is_object_id(job_id) else ""
        params = {"job_id": job_id, "user_id": user_id}
        rows: Sequence[Mapping[Any, Any]] | None = await self._fetch("status", params)
        if rows is None:
            rows = await self._rows(_STATUS, params)
        if not rows:
            return StatusRead(user_ok=False, job=None)
        if rows[0]["id"] is None:
            return StatusRead(user_ok=True, job=None)
        return StatusRead(user_ok=True, job=JobDocument.model_validate(dict(rows[0])))

    async def history(
        self,
        *,
        user_id: str,
        limit: int,
        status: JobStatus | None = None,
        before: str | None = None,
        job_type: str | None = None,
    ) -> list[JobSummary] | None:
        """user_id's jobs, newest first, after the job `before`; None when the user may not read.

        JobNotFoundError when `before` is not one of the user's jobs.
        """
        cursor = before if before is not None and is_object_id(before) else ""
        params: dict[str, Any] = {"job_id": cursor, "user_id": user_id}
        # Filtered pages are rarer: they take the general query.
        fast = status is None and job_type is None
        if fast:
            checked = "checked first" if before is None else "checked after"
            page_rows = await self._fetch(checked, {**params, "limit": limit})
            if page_rows:
                return [_summary(row) for row in page_rows]
        found: Sequence[Mapping[Any, Any]] | None = None
        if fast:
            found = await self._fetch("cursor", params, decode=False)
        if found is None:
            found = await self._rows(_USER_AND_CURSOR, params)
        if not found:
            return None
        after = None
        if before is not None:
            if found[0]["anchor_id"] is None:
                raise JobNotFoundError(before)
            after = (found[0]["created_at"], found[0]["anchor_id"])
        rows: Sequence[Mapping[Any, Any]] | None = None
        if fast:
            page = {"user_id": user_id, "limit": limit}
            if after is not None:
                # As the cursor row held it (SQLite's text): compared as stored, not re-encoded.
                page.update(after_created=after[0], after_id=after[1])
            rows = await self._fetch("first" if after is None else "after", page)
        if rows is None:
            if after is not None:
                after = (_as_time(after[0]), after[1])
            rows = await self._rows(
                history_query(
                    user_id=user_id, limit=limit, status=status, job_type=job_type, after=after
                )
            )
        return [_summary(row) for row in rows]

    async def _fetch(
        self, name: str, params: dict[str, Any], *, decode: bool = True
    ) -> list[dict[str, Any]] | None:
        """A prepared statement's rows on the driver's connection; None: use the general path.

        SQLAlchemy's execution and result layers cost several times these reads (primary-key and
        index lookups); the few typed columns are decoded here as UTCDateTime and JSON decode them
        (tests compare with the ORM's documents on both databases).
        """
        if self._prepared is None:
            return None
        prepared = self._prepared[name]
        if self.inline is not None:
            return self._sqlite_fetch(prepared.sql, prepared.args(params), decode=decode)
        return await self._postgres_fetch(prepared, params)

    def _sqlite_fetch(
        self, sql: str, args: tuple[Any, ...], *, decode: bool
    ) -> list[dict[str, Any]] | None:
        """Rows from the inline connection's sqlite3 handle; None when the file is busy."""
        try:
            if self._inline_conn is None:
                assert self.inline is not None
                self._inline_conn = self.inline.connect()
            driver = self._inline_conn.connection.driver_connection
            assert driver is not None
            cursor = driver.execute(sql, args)
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        except (OperationalError, sqlite3.OperationalError):
            self.close()  # busy (rare in WAL): the caller reads through the pool instead
            return None
        if decode:
            for row in rows:
                for name, value in row.items():
                    if value is None:
                        continue
                    if name in _JSON_COLUMNS:
                        row[name] = json.loads(value)
                    elif name in _TIME_COLUMNS:
                        row[name] = _as_time(value)
        return rows

    async def _postgres_fetch(
        self, prepared: Compiled, params: dict[str, Any]
    ) -> list[dict[str, Any]] | None:
        """Rows from the asyncpg pool; None when PostgreSQL could not be read that way.

        asyncpg decodes timestamptz (aware, UTC) itself, and JSON with DirectPool's codecs. A
        read that still fails after DirectPool's retry goes the general way once.
        """
        assert self._pg_pool is not None
        try:
            return await self._pg_pool.fetch(prepared, params)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("fast read failed (%s); reading the general way", type(exc).__name__)
            return None

    async def aclose(self) -> None:
        """Close the inline connection and the asyncpg pool."""
        self.close()
        if self._pg_pool is not None:
            await self._pg_pool.aclose()

    def close(self) -> None:
        """Close the inline connection (it is opened again on the next read)."""
        if self._inline_conn is not None:
            self._inline_conn.close()
            self._inline_conn = None

    async def _rows(
        self, query: Executable, params: dict[str, Any] | None = None
    ) -> Sequence[RowMapping]:
        """The rows of one read: inline on SQLite when the file lets us, else on the pool."""
        if self.inline is not None:
            try:
                if self._inline_conn is None:
                    self._inline_conn = self.inline.connect()
                # No await between the statement and its rows: nothing else uses the connection
                # meanwhile, and without a BEGIN each statement is its own snapshot.
                return self._inline_conn.execute(query, params).mappings().all()
            except OperationalError:
                # Busy (rare in WAL: a recovery, a checkpoint): read off the loop this time.
                self.close()
        try:
            async with self.engine.connect() as conn:
                return (await conn.execute(query, params)).mappings().all()
        except DBAPIError as exc:
            # No pre-ping on checkout (db.py): a connection the server closed fails here once,
            # is invalidated by SQLAlchemy, and the read is repeated on a new connection.
            if not exc.connection_invalidated:
                raise
        async with self.engine.connect() as conn:
            return (await conn.execute(query, params)).mappings().all()


def history_query(
    *,
    user_id: str,
    limit: int,
    status: JobStatus | None = None,
    job_type: str | None = None,
    after: tuple[datetime, str] | None = None,
) -> Select[Any]:
    """The history page: newest first by (created_at, id), seeking past `after` (a keyset)."""
    query = select(*SUMMARY_COLUMNS).where(_J.user_id == user_id)
    if status is not None:
        query = query.where(_J.status == status)
    if job_type is not None:
        query = query.where(_J.job_type == job_type)
    if after is not None:
        # A row comparison, not `a < x OR (a = x AND b < y)`: the planner turns it into one
        # index range on (user_id, created_at, id) and seeks instead of filtering.
        query = query.where(tuple_(_J.created_at, _J.id) < tuple_(*_bound(after)))
    return query.order_by(_J.created_at.desc(), _J.id.desc()).limit(limit)


def _bound(after: tuple[datetime, str]) -> tuple[Any, Any]:
    """The keyset's values as binds typed like their columns (UTC datetimes on SQLite too)."""
    return literal(after[0], _J.created_at.type), literal(after[1], _J.id.type)


def _summary(row: Any) -> JobSummary:
    values = dict(row)
    # Jobs that never wrote results have no summary (NULL): an empty count.
    values["result_summary"] = values["result_summary"] or {}
    return JobSummary.model_validate(values)
