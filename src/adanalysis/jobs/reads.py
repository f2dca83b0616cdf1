"""Fast reads of jobs for the API's hot paths: job-status, the history and the live stream.

Pages poll job-status every 2 s, so each read is Core SQL on the read engine (autocommit, no
BEGIN, never SQLite's write lock), with the user check in the same statement as the job.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, false, literal, select, true, tuple_
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adanalysis.auth.models import User
from adanalysis.ids import is_object_id
from adanalysis.jobs.errors import JobNotFoundError
from adanalysis.jobs.models import BackgroundJob, JobStatus
from adanalysis.jobs.schemas import JobDocument, JobSummary

T = TypeVar("T")

_J = BackgroundJob
# The columns of the job-status document, in JobDocument's order.
DOCUMENT_COLUMNS = tuple(getattr(_J, name) for name in JobDocument.model_fields)
# The history's columns: never `results`, which can be large and the list never shows.
SUMMARY_COLUMNS = tuple(getattr(_J, name) for name in JobSummary.model_fields)


@dataclass(frozen=True)
class StatusRead:
    """The answer to one status read: whether the user may read at all, and the job if theirs."""

    user_ok: bool  # the token's user exists and is active
    job: JobDocument | None  # None: no such job for this user


class JobReader:
    """Job-status documents and history pages, one or two statements each."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def status(self, *, job_id: str, user_id: str) -> StatusRead:
        """The user check and user_id's job job_id, in one statement."""
        # The join's condition carries the job: a user without that job still yields their row.
        on = and_(_J.id == job_id, _J.user_id == User.id) if is_object_id(job_id) else false()
        query = (
            select(User.id.label("__user"), *DOCUMENT_COLUMNS)
            .select_from(User)
            .outerjoin(_J, on)
            .where(User.id == user_id, User.is_active.is_(true()))
        )

        async def read(conn: AsyncConnection) -> StatusRead:
            row = (await conn.execute(query)).mappings().first()
            if row is None:
                return StatusRead(user_ok=False, job=None)
            if row["id"] is None:
                return StatusRead(user_ok=True, job=None)
            return StatusRead(user_ok=True, job=JobDocument.model_validate(dict(row)))

        return await self._with_connection(read)

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

        async def read(conn: AsyncConnection) -> list[JobSummary] | None:
            anchor = await _user_and_anchor(conn, user_id=user_id, before=before)
            if anchor is None:
                return None
            query = history_query(
                user_id=user_id,
                limit=limit,
                status=status,
                job_type=job_type,
                after=anchor if before is not None else None,
            )
            rows = (await conn.execute(query)).mappings().all()
            return [_summary(row) for row in rows]

        return await self._with_connection(read)

    async def _with_connection(self, read: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run read on a pooled connection; once more on a fresh one if that one had dropped."""
        # No pre-ping on checkout (db.py): a connection the server closed fails here once, is
        # invalidated by SQLAlchemy, and the read is repeated on a new connection.
        try:
            async with self.engine.connect() as conn:
                return await read(conn)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        async with self.engine.connect() as conn:
            return await read(conn)


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


async def _user_and_anchor(
    conn: AsyncConnection, *, user_id: str, before: str | None
) -> tuple[datetime, str] | None:
    """The cursor job's (created_at, id), or (epoch, '') with no cursor; None: no such user.

    One statement checks the user and finds the cursor among their jobs.
    """
    wanted = before is not None and is_object_id(before)
    on = and_(_J.id == before, _J.user_id == User.id) if wanted else false()
    row = (
        await conn.execute(
            select(User.id, _J.created_at, _J.id.label("anchor_id"))
            .select_from(User)
            .outerjoin(_J, on)
            .where(User.id == user_id, User.is_active.is_(true()))
        )
    ).first()
    if row is None:
        return None
    if before is None:
        return datetime.min, ""
    if row.anchor_id is None:
        raise JobNotFoundError(before)
    return row.created_at, row.anchor_id


def _summary(row: Any) -> JobSummary:
    values = dict(row)
    # Jobs that never wrote results have no summary (NULL): an empty count.
    values["result_summary"] = values["result_summary"] or {}
    return JobSummary.model_validate(values)
