"""The job state machine: each change of a job's state is one guarded write plus one event.

Nothing else writes a job's status. Every write names the states it may start from (and, for a
runner's writes, the worker that must own the job); when the row does not match, nothing changes
and InvalidTransitionError says why. On PostgreSQL a runner's claim and end run as prepared
statements straight on asyncpg (jobs/runner_writes.py), built from this module's guards and
values and announced through emit() like every write here. Ends (completed, failed, cancelled)
also run the on_job_end hooks, in the background, so a slow hook never delays a job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from adanalysis.db import utcnow
from adanalysis.jobs.errors import (
    ActiveJobExistsError,
    InvalidTransitionError,
    JobDeferredError,
    JobStartContendedError,
)
from adanalysis.jobs.events import JobEvent, JobEventKind, JobEvents
from adanalysis.jobs.models import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    ONE_ACTIVE_INDEX,
    BackgroundJob,
    JobStatus,
)
from adanalysis.jobs.schemas import JobDocument, summarise_results
from adanalysis.jobs.stages import enter_stage, leave_stage, stage_of

log = logging.getLogger(__name__)

EndHook = Callable[[JobEvent], Awaitable[None]]
EventListener = Callable[[JobEvent], None]
# A start that collides with a job ending at that very moment is retried this many times.
CREATE_ATTEMPTS = 5


class Transition(StrEnum):
    """Every way a job's state can change."""

    CLAIM = "claim"  # pending -> running, for one worker
    PROGRESS = "progress"  # running -> running: progress, message, results
    HEARTBEAT = "heartbeat"  # running -> running: the worker is alive (no event)
    REQUEST_CANCEL = "request_cancel"  # running -> running with cancel_requested_at
    CANCEL_PENDING = "cancel_pending"  # pending -> cancelled, by its user
    DISCARD = "discard"  # pending -> failed: it could not be queued (the broker is down)
    CANCEL_RUNNING = "cancel_running"  # running -> cancelled, confirmed by its worker or reaper
    COMPLETE = "complete"  # running -> completed
    FAIL = "fail"  # running -> failed
    REQUEUE = "requeue"  # running -> pending: graceful stop, the attempt is given back
    RECOVER = "recover"  # running -> pending: its worker died, the attempt counts
    DELETE = "delete"  # an ended job is removed


_RUNNING = frozenset({JobStatus.RUNNING})
ALLOWED: dict[Transition, frozenset[JobStatus]] = {
    Transition.CLAIM: frozenset({JobStatus.PENDING}),
    Transition.PROGRESS: _RUNNING,
    Transition.HEARTBEAT: _RUNNING,
    Transition.REQUEST_CANCEL: _RUNNING,
    Transition.CANCEL_PENDING: frozenset({JobStatus.PENDING}),
    Transition.DISCARD: frozenset({JobStatus.PENDING}),
    Transition.CANCEL_RUNNING: _RUNNING,
    Transition.COMPLETE: _RUNNING,
    Transition.FAIL: _RUNNING,
    Transition.REQUEUE: _RUNNING,
    Transition.RECOVER: _RUNNING,
    Transition.DELETE: frozenset(FINAL_STATUSES),
}


class JobLifecycle:
    """Writes every state change of jobs and tells the events channel and end hooks."""

    def __init__(self, *, events: JobEvents) -> None:
        self.events = events
        self._end_hooks: list[EndHook] = []
        self._listeners: list[EventListener] = []
        self._hook_tasks: set[asyncio.Task[None]] = set()

    def on_job_end(self, hook: EndHook) -> None:
        """Call hook(event) after every job ends, whichever path ended it."""
        self._end_hooks.append(hook)

    def on_event(self, listener: EventListener) -> None:
        """Call listener(event) for every event, at once; it must be quick and not block."""
        self._listeners.append(listener)

    async def drain_hooks(self) -> None:
        """Wait for end hooks still running (shutdown, tests)."""
        while self._hook_tasks:
            await asyncio.gather(*list(self._hook_tasks), return_exceptions=True)

    async def create(
        self,
        session: AsyncSession,
        *,
        user_id: str,
        job_type: str,
        parameters: dict[str, Any],
        message: str,
        priority: int = 0,
        max_attempts: int = 3,
        estimated_duration_seconds: int | None = None,
    ) -> BackgroundJob:
        """Insert a pending job; ActiveJobExistsError when the user has one of this type."""
        for _ in range(CREATE_ATTEMPTS):
            job = BackgroundJob(
                user_id=user_id,
                job_type=job_type,
                status=JobStatus.PENDING,
                progress=0,
                message=message,
                parameters=parameters,
                priority=priority,
                max_attempts=max_attempts,
                estimated_duration_seconds=estimated_duration_seconds,
            )
            session.add(job)
            try:
                await session.commit()
            except IntegrityError as exc:
                await session.rollback()
                if not _is_one_active_violation(exc):
                    raise
                active = await active_job(session, user_id=user_id, job_type=job_type)
                if active is not None:
                    raise ActiveJobExistsError(active) from None
                continue  # the active job ended between our insert and that read: try again
            await self.emit(JobEventKind.CREATED, job)
            return job
        raise JobStartContendedError(job_type)

    async def claim(
        self,
        session: AsyncSession,
        *,
        job_id: str,
        worker_id: str,
        max_running_per_user: int | None = None,
    ) -> BackgroundJob:
        """pending -> running for worker_id; a job with a cancel request is not claimed.

        With max_running_per_user, the job is claimed only while its user runs fewer jobs
        (counted under a per-user lock on PostgreSQL, so workers on many machines agree);
        otherwise it stays pending and JobDeferredError says so.
        """
        guards: list[Any] = [BackgroundJob.cancel_requested_at.is_(None)]
        user_id: str | None = None
        if max_running_per_user is not None:
            user_id = await self._lock_user_of(session, job_id)
            if user_id is not None:
                # The count is part of the claim's own statement: one round trip, not three.
                guards.append(running_jobs_of(user_id) < max_running_per_user)
        try:
            return await self._apply(
                session,
                Transition.CLAIM,
                JobEventKind.CLAIMED,
                job_id,
                tuple(guards),
                **claim_values(worker_id, utcnow()),
            )
        except InvalidTransitionError as refused:
            if user_id is None or refused.status != JobStatus.PENDING:
                raise
            assert max_running_per_user is not None
            # Pending, yet not claimed: its user's cap, or a cancel request (refused as is).
            running = (await session.execute(select(running_jobs_of(user_id)))).scalar_one()
            await session.rollback()
            if running >= max_running_per_user:
                raise JobDeferredError(job_id) from None
            raise

    async def _lock_user_of(self, session: AsyncSession, job_id: str) -> str | None:
        """job_id's user, with that user's claims serialised until commit on PostgreSQL.

        Held while the claim counts the user's running jobs, so workers on many machines agree
        on the count. SQLite's writers are serialised by the database itself.
        """
        if session.get_bind().dialect.name == "postgresql":
            query = lock_user_of(job_id)
        else:
            query = select(BackgroundJob.user_id).where(BackgroundJob.id == job_id)
        row = (await session.execute(query)).first()
        return None if row is None else str(row[0])

    async def discard(
        self, session: AsyncSession, *, job_id: str, error_message: str, message: str
    ) -> BackgroundJob:
        """pending -> failed for a job that could not be handed to any runner."""
        now = utcnow()
        return await self._apply(
            session,
            Transition.DISCARD,
            JobEventKind.FAILED,
            job_id,
            (),
            status=JobStatus.FAILED,
            error_code="queue_unavailable",
            error_message=error_message,
            message=message,
            completed_at=now,
            updated_at=now,
        )

    async def progress(
        self,
        session: AsyncSession,
        *,
        job_id: str,
        worker_id: str,
        progress: int,
        message: str,
        results: list[Any],
        result_count: int,
    ) -> BackgroundJob:
        """Record progress of a job worker_id runs, and when its stage changes."""
        now = utcnow()
        # In the same transaction as the progress write: refused together, kept together.
        await enter_stage(session, job_id=job_id, stage=stage_of(message), now=now)
        return await self._apply(
            session,
            Transition.PROGRESS,
            JobEventKind.PROGRESS,
            job_id,
            _owned_by(worker_id),
            progress=progress,
            message=message,
            results=results,
            result_count=result_count,
            heartbeat_at=now,
            updated_at=now,
        )

    async def heartbeat(
        self, session: AsyncSession, *, job_id: str, worker_id: str
    ) -> datetime | None:
        """Mark worker_id's job alive; returns when a cancel was requested (None if not)."""
        row = (
            await session.execute(
                update(BackgroundJob)
                .where(*guard(Transition.HEARTBEAT, job_id), *_owned_by(worker_id))
                .values(heartbeat_at=utcnow())
                .returning(BackgroundJob.cancel_requested_at)
            )
        ).first()
        if row is None:
            await session.rollback()
            raise await _refused(session, job_id, Transition.HEARTBEAT)
        await session.commit()
        return row[0]

    async def request_cancel(
        self, session: AsyncSession, *, job_id: str, user_id: str, message: str
    ) -> BackgroundJob:
        """Ask user_id's running job to stop; its runner confirms with cancel_running."""
        now = utcnow()
        return await self._apply(
            session,
            Transition.REQUEST_CANCEL,
            JobEventKind.CANCEL_REQUESTED,
            job_id,
            (BackgroundJob.user_id == user_id,),
            cancel_requested_at=func.coalesce(BackgroundJob.cancel_requested_at, now),
            message=message,
            updated_at=now,
        )

    async def cancel_pending(
        self, session: AsyncSession, *, job_id: str, user_id: str, message: str
    ) -> BackgroundJob:
        """End user_id's pending job at once; it never runs."""
        now = utcnow()
        return await self._apply(
            session,
            Transition.CANCEL_PENDING,
            JobEventKind.CANCELLED,
            job_id,
            (BackgroundJob.user_id == user_id,),
            status=JobStatus.CANCELLED,
            cancel_requested_at=now,
            completed_at=now,
            message=message,
            updated_at=now,
        )

    async def cancel_running(
        self, session: AsyncSession, *, job_id: str, worker_id: str, **final: Any
    ) -> BackgroundJob:
        """running -> cancelled, written by the worker that ran it (or the reaper in its name)."""
        return await self._end(
            session, Transition.CANCEL_RUNNING, JobStatus.CANCELLED, job_id, worker_id, final
        )

    async def complete(
        self, session: AsyncSession, *, job_id: str, worker_id: str, **final: Any
    ) -> BackgroundJob:
        """running -> completed (progress 100 unless given)."""
        return await self._end(
            session, Transition.COMPLETE, JobStatus.COMPLETED, job_id, worker_id, final
        )

    async def fail(
        self, session: AsyncSession, *, job_id: str, worker_id: str, **final: Any
    ) -> BackgroundJob:
        """running -> failed; final carries error_message and error_code."""
        return await self._end(session, Transition.FAIL, JobStatus.FAILED, job_id, worker_id, final)

    async def requeue(
        self, session: AsyncSession, *, job_id: str, worker_id: str, **values: Any
    ) -> BackgroundJob:
        """running -> pending after a graceful stop, giving the attempt back."""
        await leave_stage(session, job_id=job_id, now=utcnow())
        return await self._apply(
            session,
            Transition.REQUEUE,
            JobEventKind.REQUEUED,
            job_id,
            _owned_by(worker_id),
            status=JobStatus.PENDING,
            worker_id=None,
            attempts=BackgroundJob.attempts - 1,
            updated_at=utcnow(),
            **values,
        )

    async def recover(
        self, session: AsyncSession, *, job_id: str, worker_id: str, message: str
    ) -> BackgroundJob:
        """running -> pending for a job whose worker (worker_id) died; the attempt counts."""
        await leave_stage(session, job_id=job_id, now=utcnow())
        return await self._apply(
            session,
            Transition.RECOVER,
            JobEventKind.RECOVERED,
            job_id,
            _owned_by(worker_id),
            status=JobStatus.PENDING,
            worker_id=None,
            message=message,
            updated_at=utcnow(),
        )

    async def delete(self, session: AsyncSession, *, job_id: str) -> None:
        """Remove an ended job."""
        rows = await self._delete_where(session, *guard(Transition.DELETE, job_id))
        if not rows:
            raise await _refused(session, job_id, Transition.DELETE)

    async def delete_ended_before(self, session: AsyncSession, *, cutoff: datetime) -> int:
        """Remove every job that ended before cutoff; active jobs are never touched."""
        ended = func.coalesce(BackgroundJob.completed_at, BackgroundJob.created_at)
        rows = await self._delete_where(
            session, BackgroundJob.status.in_(FINAL_STATUSES), ended < cutoff
        )
        return len(rows)

    async def _delete_where(self, session: AsyncSession, *where: Any) -> list[tuple[str, str]]:
        result = await session.execute(
            delete(BackgroundJob)
            .where(*where)
            .returning(BackgroundJob.id, BackgroundJob.user_id)
            .execution_options(synchronize_session=False)
        )
        rows = [(row[0], row[1]) for row in result]
        await session.commit()
        for job_id, user_id in rows:
            await self.events.publish(JobEvent(JobEventKind.DELETED, job_id, user_id, {}))
        return rows

    async def _end(
        self,
        session: AsyncSession,
        transition: Transition,
        status: JobStatus,
        job_id: str,
        worker_id: str,
        final: dict[str, Any],
    ) -> BackgroundJob:
        """One of the three ends, with completion time and duration."""
        now = utcnow()
        await leave_stage(session, job_id=job_id, now=now)
        return await self._apply(
            session,
            transition,
            JobEventKind(status.value),
            job_id,
            _owned_by(worker_id),
            **end_values(status, final, now),
        )

    async def _apply(
        self,
        session: AsyncSession,
        transition: Transition,
        kind: JobEventKind,
        job_id: str,
        extra: tuple[Any, ...],
        **values: Any,
    ) -> BackgroundJob:
        """The guarded UPDATE ... RETURNING, then the event; refused when no row matched."""
        if "results" in values and "result_summary" not in values:
            values["result_summary"] = summarise_results(values["results"])
        statement = (
            update(BackgroundJob)
            .where(*guard(transition, job_id), *extra)
            .values(**values)
            .returning(BackgroundJob)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        job = (await session.execute(statement)).scalar_one_or_none()
        if job is None:
            await session.rollback()
            raise await _refused(session, job_id, transition)
        await session.commit()
        await self.emit(kind, job)
        return job

    async def emit(self, kind: JobEventKind, job: BackgroundJob | JobDocument) -> None:
        """Publish the job's new document; after an end, start the end hooks.

        Called once for each committed write of a job's state: here, and by the runner's
        direct writes on PostgreSQL (jobs/runner_writes.py).
        """
        document = JobDocument.model_validate(job).model_dump(mode="json", by_alias=True)
        event = JobEvent(kind, job.id, job.user_id, document)
        try:
            await self.events.publish(event)
        except Exception:
            # The row is the truth and is committed; watchers re-read it when they reconnect.
            log.exception("could not publish the %s event of job %s", kind, job.id)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("an event listener failed for job %s", job.id)
        if event.is_final:
            for hook in self._end_hooks:
                task = asyncio.create_task(_run_hook(hook, event))
                self._hook_tasks.add(task)
                task.add_done_callback(self._hook_tasks.discard)


async def _run_hook(hook: EndHook, event: JobEvent) -> None:
    try:
        await hook(event)
    except Exception:
        log.exception("an on_job_end hook failed for job %s", event.job_id)


# The other jobs of a user, counted by the claim (built once: an alias per claim cost 13 % of it).
_OTHERS = aliased(BackgroundJob)


def running_jobs_of(user_id: Any) -> Any:
    """How many jobs user_id (a value or a bind) runs now, as a scalar subquery for a claim."""
    return (
        select(func.count())
        .select_from(_OTHERS)
        .where(_OTHERS.user_id == user_id, _OTHERS.status == JobStatus.RUNNING)
        .scalar_subquery()
    )


def lock_user_of(job_id: Any) -> Any:
    """PostgreSQL: the user of job job_id (a value or a bind), with that user's claims
    serialised until the transaction ends (pg_advisory_xact_lock)."""
    return select(
        BackgroundJob.user_id, func.pg_advisory_xact_lock(func.hashtext(BackgroundJob.user_id))
    ).where(BackgroundJob.id == job_id)


def claim_values(worker_id: Any, now: Any) -> dict[str, Any]:
    """What a claim writes (values or binds): running for worker_id, one more attempt."""
    return {
        "status": JobStatus.RUNNING,
        "worker_id": worker_id,
        "attempts": BackgroundJob.attempts + 1,
        "started_at": func.coalesce(BackgroundJob.started_at, now),
        "heartbeat_at": now,
        "updated_at": now,
    }


def end_values(status: JobStatus, final: dict[str, Any], now: datetime) -> dict[str, Any]:
    """What an end writes: final's columns, the end state and time, the run's duration.

    final may carry started_at (not written): the duration is counted from it. A completed job
    is at 100 % unless final says otherwise.
    """
    values = dict(final)
    if status == JobStatus.COMPLETED:
        values.setdefault("progress", 100)
    started_at: datetime | None = values.pop("started_at", None)
    if started_at is not None:
        values["actual_duration_seconds"] = max(0, round((now - started_at).total_seconds()))
    if "results" in values:
        values["result_summary"] = summarise_results(values["results"])
    return {**values, "status": status, "completed_at": now, "heartbeat_at": now, "updated_at": now}


def guard(transition: Transition, job_id: Any) -> tuple[Any, ...]:
    """The job (an id or a bind) and the states transition may start from."""
    allowed = ALLOWED[transition]
    if len(allowed) == 1:
        # `=`, not IN: a statement compiled once (runner_writes) cannot expand an IN list.
        (state,) = allowed
        return BackgroundJob.id == job_id, BackgroundJob.status == state
    return BackgroundJob.id == job_id, BackgroundJob.status.in_(allowed)


def _owned_by(worker_id: str) -> tuple[Any, ...]:
    return (BackgroundJob.worker_id == worker_id,)


async def _refused(
    session: AsyncSession, job_id: str, transition: Transition
) -> InvalidTransitionError:
    """The error for a transition that matched no row, naming the job's actual state."""
    row = (
        await session.execute(
            select(BackgroundJob.status, BackgroundJob.user_id).where(BackgroundJob.id == job_id)
        )
    ).first()
    await session.rollback()
    if row is None:
        return InvalidTransitionError(job_id, transition, None)
    return InvalidTransitionError(job_id, transition, row[0], owner_id=row[1])


async def active_job(session: AsyncSession, *, user_id: str, job_type: str) -> BackgroundJob | None:
    """The user's pending or running job of this type, if any."""
    result = await session.execute(
        select(BackgroundJob).where(
            BackgroundJob.user_id == user_id,
            BackgroundJob.job_type == job_type,
            BackgroundJob.status.in_(ACTIVE_STATUSES),
        )
    )
    return result.scalar_one_or_none()


def _is_one_active_violation(exc: IntegrityError) -> bool:
    """Whether exc is the one-active-job-per-type index (not some other constraint)."""
    text = str(exc.orig)
    # PostgreSQL names the index; SQLite names its columns.
    return ONE_ACTIVE_INDEX in text or "background_jobs.user_id, background_jobs.job_type" in text
