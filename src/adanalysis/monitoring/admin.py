"""Admin endpoints: job metrics, the live list of active jobs, and cancelling any job."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from adanalysis.auth.deps import AdminUser
from adanalysis.auth.models import User
from adanalysis.db import SessionDep, utcnow
from adanalysis.ids import is_object_id
from adanalysis.jobs.deps import JobServiceDep
from adanalysis.jobs.errors import JobNotFoundError
from adanalysis.jobs.models import ACTIVE_STATUSES, BackgroundJob
from adanalysis.jobs.schemas import JobDocument, error_responses
from adanalysis.monitoring.metrics import job_metrics
from adanalysis.monitoring.schemas import JobMetrics, MetricsRange, RunningJob

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])
_ADMIN_ONLY = error_responses(e401="Not signed in", e403="Not an admin")
# The live list shows at most this many active jobs, oldest first.
ACTIVE_LIMIT = 200


@router.get("/job-metrics", response_model=JobMetrics, responses=_ADMIN_ONLY)
async def get_job_metrics(
    _admin: AdminUser,
    request: Request,
    session: SessionDep,
    range_: MetricsRange = Query(MetricsRange.WEEK, alias="range"),  # noqa: B008
) -> JobMetrics:
    """Success rates, durations, stages, peak hours, errors, engagement and the queue."""
    # End the sign-in read first: on SQLite an open transaction holds the write lock.
    await session.commit()
    return await job_metrics(request.app.state.session_factory, range_=range_)


@router.get("/jobs/active", response_model=list[RunningJob], responses=_ADMIN_ONLY)
async def active_jobs(_admin: AdminUser, session: SessionDep) -> list[RunningJob]:
    """Every pending and running job, oldest first, with its stage and heartbeat age."""
    now = utcnow()
    rows = await session.execute(
        select(BackgroundJob, User.email)
        .join(User, User.id == BackgroundJob.user_id, isouter=True)
        .where(BackgroundJob.status.in_(ACTIVE_STATUSES))
        .order_by(BackgroundJob.created_at, BackgroundJob.id)
        .limit(ACTIVE_LIMIT)
    )
    return [
        RunningJob(
            id=job.id,
            user_id=job.user_id,
            user_email=email,
            job_type=job.job_type,
            status=job.status,
            progress=job.progress,
            message=job.message,
            worker_id=job.worker_id,
            created_at=job.created_at,
            started_at=job.started_at,
            heartbeat_age_seconds=(
                (now - job.heartbeat_at).total_seconds() if job.heartbeat_at else None
            ),
            cancel_requested=job.cancel_requested_at is not None,
        )
        for job, email in rows
    ]


@router.delete(
    "/jobs/{job_id}",
    response_model=JobDocument,
    responses={**_ADMIN_ONLY, **error_responses(e404="No such job", e409="Already ended")},
)
async def cancel_any_job(
    job_id: str, _admin: AdminUser, session: SessionDep, jobs: JobServiceDep
) -> JobDocument:
    """Cancel any user's job: a pending one at once, a running one at its next check."""
    job = await session.get(BackgroundJob, job_id) if is_object_id(job_id) else None
    if job is None:
        raise JobNotFoundError(job_id)
    # The job's owner stands in: the same transitions as the owner's own cancel.
    job = await jobs.cancel_job(session, job_id=job_id, user_id=job.user_id)
    return JobDocument.model_validate(job)
