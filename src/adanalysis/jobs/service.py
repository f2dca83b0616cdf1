"""BackgroundJobService: start, read, list, cancel and clean up jobs, for the API and the CLI."""

from __future__ import annotations

import contextlib
import logging
import statistics
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adanalysis.db import utcnow
from adanalysis.ids import is_object_id
from adanalysis.jobs.errors import (
    InvalidTransitionError,
    JobAlreadyFinishedError,
    JobNotFoundError,
    JobQueueUnavailableError,
)
from adanalysis.jobs.executors import Executor
from adanalysis.jobs.lifecycle import JobLifecycle, active_job
from adanalysis.jobs.models import ACTIVE_STATUSES, BackgroundJob, JobStatus
from adanalysis.jobs.registry import JobRegistry
from adanalysis.jobs.schemas import JobDocument
from adanalysis.paging import newest_first, older_than

log = logging.getLogger(__name__)

# How many recent completed jobs the duration estimate looks at.
ESTIMATE_WINDOW = 10


class BackgroundJobService:
    """The job operations the API and CLI use; every method takes an explicit session."""

    def __init__(
        self,
        *,
        lifecycle: JobLifecycle,
        registry: JobRegistry,
        executor: Executor,
        default_estimate_seconds: int = 300,
        max_attempts: int = 3,
    ) -> None:
        self.lifecycle = lifecycle
        self.registry = registry
        self.executor = executor
        self.default_estimate_seconds = default_estimate_seconds
        self.max_attempts = max_attempts

    async def start_job(
        self,
        session: AsyncSession,
        *,
        user_id: str,
        job_type: str,
        parameters: dict[str, Any],
        priority: int = 0,
        estimated_duration_seconds: int | None = None,
    ) -> BackgroundJob:
        """Create a pending job and hand it to the executor once committed."""
        if estimated_duration_seconds is None:
            estimated_duration_seconds = await self.estimate_duration(
                session, user_id=user_id, job_type=job_type
            )
        job = await self.lifecycle.create(
            session,
            user_id=user_id,
            job_type=job_type,
            parameters=parameters,
            message=self.registry.wording(job_type).queued(),
            priority=priority,
            max_attempts=self.max_attempts,
            estimated_duration_seconds=estimated_duration_seconds,
        )
        try:
            await self.executor.submit(job.id, priority=priority, user_id=user_id)
        except JobQueueUnavailableError:
            # Never leave a pending job no runner will hear of: it would block the user's
            # next start (409) until a sweep found it.
            wording = self.registry.wording(job_type)
            with contextlib.suppress(InvalidTransitionError):
                await self.lifecycle.discard(
                    session,
                    job_id=job.id,
                    error_message=wording.not_queued(),
                    message=wording.failed(),
                )
            raise
        return job

    async def active_job(
        self, session: AsyncSession, *, user_id: str, job_type: str
    ) -> BackgroundJob | None:
        """The user's pending or running job of this type, if any."""
        return await active_job(session, user_id=user_id, job_type=job_type)

    async def list_active_jobs(self, session: AsyncSession, *, user_id: str) -> list[BackgroundJob]:
        """The user's pending and running jobs, of every type."""
        result = await session.execute(
            select(BackgroundJob).where(
                BackgroundJob.user_id == user_id, BackgroundJob.status.in_(ACTIVE_STATUSES)
            )
        )
        return list(result.scalars())

    async def estimate_duration(self, session: AsyncSession, *, user_id: str, job_type: str) -> int:
        """Median duration of the user's recent completed jobs of this type, or the default."""
        result = await session.execute(
            select(BackgroundJob.actual_duration_seconds)
            .where(
                BackgroundJob.user_id == user_id,
                BackgroundJob.job_type == job_type,
                BackgroundJob.status == JobStatus.COMPLETED,
                BackgroundJob.actual_duration_seconds.is_not(None),
            )
            .order_by(BackgroundJob.created_at.desc())
            .limit(ESTIMATE_WINDOW)
        )
        durations = [d for d in result.scalars() if d is not None]
        if not durations:
            return self.default_estimate_seconds
        return max(1, round(statistics.median(durations)))

    async def get_job(
        self, session: AsyncSession, *, job_id: str, user_id: str
    ) -> BackgroundJob | None:
        """The job row if it exists and belongs to user_id, else None."""
        if not is_object_id(job_id):
            return None
        job = await session.get(BackgroundJob, job_id, populate_existing=True)
        if job is None or job.user_id != user_id:
            return None
        return job

    async def get_job_status(
        self, session: AsyncSession, *, job_id: str, user_id: str
    ) -> JobDocument | None:
        """The job-status document of user_id's job, or None."""
        job = await self.get_job(session, job_id=job_id, user_id=user_id)
        return None if job is None else JobDocument.model_validate(job)

    async def list_jobs(
        self,
        session: AsyncSession,
        *,
        user_id: str,
        limit: int = 20,
        status: JobStatus | None = None,
        before: str | None = None,
        job_type: str | None = None,
    ) -> list[BackgroundJob]:
        """The user's jobs, newest first; `before` is the last id of the previous page."""
        query = select(BackgroundJob).where(BackgroundJob.user_id == user_id)
        if status is not None:
            query = query.where(BackgroundJob.status == status)
        if job_type is not None:
            query = query.where(BackgroundJob.job_type == job_type)
        if before is not None:
            anchor = await self.get_job(session, job_id=before, user_id=user_id)
            if anchor is None:
                raise JobNotFoundError(before)
            query = query.where(older_than(BackgroundJob, anchor))
        query = query.order_by(*newest_first(BackgroundJob)).limit(limit)
        return list((await session.execute(query)).scalars())

    async def cancel_job(
        self, session: AsyncSession, *, job_id: str, user_id: str
    ) -> BackgroundJob:
        """End a pending job at once, or ask a running one to stop; the job after the change."""
        if not is_object_id(job_id):
            raise JobNotFoundError(job_id)
        job = await session.get(BackgroundJob, job_id)
        if job is None or job.user_id != user_id:
            raise JobNotFoundError(job_id)
        wording = self.registry.wording(job.job_type)
        try:
            job = await self.lifecycle.cancel_pending(
                session, job_id=job_id, user_id=user_id, message=wording.cancelled_before_start()
            )
        except InvalidTransitionError:
            try:
                job = await self.lifecycle.request_cancel(
                    session, job_id=job_id, user_id=user_id, message=wording.cancelling()
                )
            except InvalidTransitionError as refused:
                if refused.status is None or refused.owner_id != user_id:
                    raise JobNotFoundError(job_id) from None
                raise JobAlreadyFinishedError(job_id, refused.status) from None
        await self.executor.cancel(job_id)
        return job

    async def cleanup_old_jobs(self, session: AsyncSession, *, days_old: int = 7) -> int:
        """Delete jobs that ended more than days_old days ago; active jobs are never touched."""
        return await self.lifecycle.delete_ended_before(
            session, cutoff=utcnow() - timedelta(days=days_old)
        )
