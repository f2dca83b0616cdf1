"""BackgroundJobService: start, inspect, list, cancel and clean up jobs."""

from __future__ import annotations

import logging
import statistics
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adanalysis.crypto import mask_secret
from adanalysis.db import utcnow
from adanalysis.ids import is_object_id
from adanalysis.jobs.executors import Executor
from adanalysis.jobs.models import ACTIVE_STATUSES, FINAL_STATUSES, BackgroundJob, JobStatus
from adanalysis.paging import newest_first, older_than

log = logging.getLogger(__name__)

AD_ANALYSIS = "ad_analysis"
# How many recent completed jobs the duration estimate looks at.
ESTIMATE_WINDOW = 10


class ActiveJobExistsError(Exception):
    """The user already has a pending or running job of this type."""

    def __init__(self, job: BackgroundJob) -> None:
        super().__init__(job.id)
        self.job = job


class JobNotFoundError(Exception):
    """No such job for this user (another user's job is 'not found' too)."""


class JobAlreadyFinishedError(Exception):
    """The job already ended; there is nothing to cancel."""

    def __init__(self, job: BackgroundJob) -> None:
        super().__init__(job.id)
        self.job = job


class BackgroundJobService:
    """The job operations the API and CLI use; every method takes an explicit session."""

    def __init__(
        self, *, executor: Executor, default_estimate_seconds: int = 300, max_attempts: int = 3
    ):
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
        message: str = "Job queued.",
        estimated_duration_seconds: int | None = None,
    ) -> BackgroundJob:
        """Create a pending job and hand it to the executor once committed."""
        estimate = estimated_duration_seconds or await self.estimate_duration(
            session, user_id=user_id, job_type=job_type
        )
        job = BackgroundJob(
            user_id=user_id,
            job_type=job_type,
            status=JobStatus.PENDING,
            progress=0,
            message=message,
            parameters=parameters,
            priority=priority,
            max_attempts=self.max_attempts,
            estimated_duration_seconds=estimate,
        )
        session.add(job)
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
            active = await self.active_job(session, user_id=user_id, job_type=job_type)
            if active is None:  # the other job ended between our insert and this read
                raise
            raise ActiveJobExistsError(active) from None
        await self.executor.submit(job.id, priority=priority)
        return job

    async def start_ad_analysis_job(
        self,
        session: AsyncSession,
        *,
        user_id: str,
        access_token: str,
        account_id: str,
        account_ids: list[str] | None = None,
        priority: int = 0,
        estimated_duration_seconds: int | None = None,
    ) -> str:
        """Start an ad analysis; the job keeps only the token's mask, never the token."""
        parameters: dict[str, Any] = {
            "access_token": mask_secret(access_token),
            "account_id": account_id,
        }
        if account_ids:
            parameters["account_ids"] = account_ids
        job = await self.start_job(
            session,
            user_id=user_id,
            job_type=AD_ANALYSIS,
            parameters=parameters,
            priority=priority,
            estimated_duration_seconds=estimated_duration_seconds,
        )
        return job.id

    async def active_job(
        self, session: AsyncSession, *, user_id: str, job_type: str
    ) -> BackgroundJob | None:
        """The user's pending or running job of this type, if any."""
        result = await session.execute(
            select(BackgroundJob).where(
                BackgroundJob.user_id == user_id,
                BackgroundJob.job_type == job_type,
                BackgroundJob.status.in_(ACTIVE_STATUSES),
            )
        )
        return result.scalar_one_or_none()

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

    async def get_job_status(
        self, session: AsyncSession, *, job_id: str, user_id: str
    ) -> BackgroundJob | None:
        """The job if it exists and belongs to user_id, else None."""
        if not is_object_id(job_id):
            return None
        job = await session.get(BackgroundJob, job_id, populate_existing=True)
        if job is None or job.user_id != user_id:
            return None
        return job

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
            anchor = await self.get_job_status(session, job_id=before, user_id=user_id)
            if anchor is None:
                raise JobNotFoundError(before)
            query = query.where(older_than(BackgroundJob, anchor))
        query = query.order_by(*newest_first(BackgroundJob)).limit(limit)
        return list((await session.execute(query)).scalars())

    async def cancel_job(self, session: AsyncSession, *, job_id: str, user_id: str) -> bool:
        """Cancel a pending job at once, or ask a running one to stop; True when accepted."""
        if not is_object_id(job_id):
            raise JobNotFoundError(job_id)
        now = utcnow()
        owned = (BackgroundJob.id == job_id) & (BackgroundJob.user_id == user_id)
        pending = await session.execute(
            update(BackgroundJob)
            .where(owned, BackgroundJob.status == JobStatus.PENDING)
            .values(
                status=JobStatus.CANCELLED,
                cancel_requested_at=now,
                completed_at=now,
                message="Job cancelled by user before it started.",
                updated_at=now,
            )
        )
        if pending.rowcount == 0:  # type: ignore[attr-defined]
            running = await session.execute(
                update(BackgroundJob)
                .where(owned, BackgroundJob.status == JobStatus.RUNNING)
                .values(cancel_requested_at=now, message="Cancelling...", updated_at=now)
            )
            if running.rowcount == 0:  # type: ignore[attr-defined]
                await session.rollback()
                job = await self.get_job_status(session, job_id=job_id, user_id=user_id)
                if job is None:
                    raise JobNotFoundError(job_id)
                raise JobAlreadyFinishedError(job)
        await session.commit()
        await self.executor.cancel(job_id)
        return True

    async def cleanup_old_jobs(self, session: AsyncSession, *, days_old: int = 7) -> int:
        """Delete jobs that ended more than days_old days ago; active jobs are never touched."""
        return await delete_old_jobs(session, days_old=days_old)


async def delete_old_jobs(session: AsyncSession, *, days_old: int) -> int:
    """Delete jobs in a final state that ended more than days_old days ago; the count removed."""
    cutoff: datetime = utcnow() - timedelta(days=days_old)
    result = await session.execute(
        delete(BackgroundJob).where(
            BackgroundJob.status.in_(FINAL_STATUSES),
            func.coalesce(BackgroundJob.completed_at, BackgroundJob.created_at) < cutoff,
        )
    )
    await session.commit()
    removed = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if removed:
        log.info("cleanup removed %d jobs older than %d days", removed, days_old)
    return removed
