"""Fast reads of jobs for the API's hot paths: job-status, the history and the live stream.

Pages poll job-status every 2 s, so each read is Core SQL on the read engine (autocommit, no
BEGIN, never SQLite's write lock), with the user check in the same statement as the job.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
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
from sqlalchemy.sql import Executable

from adanalysis.auth.models import User
from adanalysis.db import UTCDateTime
from adanalysis.ids import is_object_id
from adanalysis.jobs.errors import JobNotFoundError
from adanalysis.jobs.models import BackgroundJob, JobStatus
from adanalysis.jobs.schemas import JobDocument, JobSummary

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
# The status statement as SQLite text, its parameters in (job_id, user_id) order.
_STATUS_SQLITE = str(_STATUS.compile(dialect=sqlite.dialect()))
_JSON_COLUMNS = ("parameters", "results")
_TIME_COLUMNS = tuple(c.key for c in DOCUMENT_COLUMNS if isinstance(c.type, UTCDateTime))
_USER_AND_CURSOR = _user_with_job(User.id, _J.created_at, _J.id.label("anchor_id"))


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
        # PostgreSQL: the status statement compiled once for asyncpg ($1, $2: job_id, user_id).
        self._status_pg = (
            str(_STATUS.compile(dialect=engine.dialect))
            if engine.dialect.name == "postgresql"
            else None
        )

    async def status(self, *, job_id: str, user_id: str) -> StatusRead:
        """The user check and user_id's job job_id, in one statement."""
        # An id that cannot exist matches no job (and never reaches the query as typed).
        job_id = job_id if is_object_id(job_id) else ""
        rows: Sequence[Mapping[Any, Any]] | None = None
        if self.inline is not None:
            rows = self._sqlite_status(job_id, user_id)
        elif self._status_pg is not None:
            rows = await self._postgres_status(self._status_pg, job_id, user_id)
        if rows is None:
            rows = await self._rows(_STATUS, {"job_id": job_id, "user_id": user_id})
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
        found = await self._rows(_USER_AND_CURSOR, {"job_id": cursor, "user_id": user_id})
        if not found:
            return None
        after = None
        if before is not None:
            if found[0]["anchor_id"] is None:
                raise JobNotFoundError(before)
            after = (found[0]["created_at"], found[0]["anchor_id"])
        rows = await self._rows(
            history_query(
                user_id=user_id, limit=limit, status=status, job_type=job_type, after=after
            )
        )
        return [_summary(row) for row in rows]

    def _sqlite_status(self, job_id: str, user_id: str) -> list[dict[str, Any]] | None:
        """The status statement on the driver's own connection; None when the file is busy.

        SQLAlchemy's execution and result machinery cost several times the SQLite read itself
        (a primary-key lookup); the statement is compiled once and its few typed columns are
        decoded here the way UTCDateTime and JSON decode them (tests compare with the ORM).
        """
        try:
            if self._inline_conn is None:
                assert self.inline is not None
                self._inline_conn = self.inline.connect()
            driver = self._inline_conn.connection.driver_connection
            assert driver is not None
            cursor = driver.execute(_STATUS_SQLITE, (job_id, user_id))
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        except (OperationalError, sqlite3.OperationalError):
            self.close()  # busy (rare in WAL): the caller reads through the pool instead
            return None
        for row in rows:
            for name in _JSON_COLUMNS:
                if row[name] is not None:
                    row[name] = json.loads(row[name])
            for name in _TIME_COLUMNS:
                if row[name] is not None:
                    row[name] = datetime.fromisoformat(row[name]).replace(tzinfo=UTC)
        return rows

    async def _postgres_status(
        self, sql: str, job_id: str, user_id: str
    ) -> list[dict[str, Any]] | None:
        """The status statement on a pooled asyncpg connection; None when that connection failed.

        asyncpg already decodes timestamptz (aware, UTC) and JSON (SQLAlchemy's codec), so the
        record is the document's values; SQLAlchemy's execution layer would add more than the
        read costs. A failed connection is invalidated and the caller reads the usual way.
        """
        async with self.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            try:
                records = await raw.driver_connection.fetch(sql, job_id, user_id)  # type: ignore[union-attr]
            except Exception:
                await conn.invalidate()
                return None
        return [dict(record) for record in records]

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
