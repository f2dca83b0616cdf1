"""BackgroundJobService and the runtime, without HTTP: the seed's unit test and runner semantics."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.ads.jobs import start_ad_analysis_job
from adanalysis.config import Settings
from adanalysis.db import utcnow
from adanalysis.jobs.context import JobContext, stage_of
from adanalysis.jobs.errors import ActiveJobExistsError
from adanalysis.jobs.executors.local import LocalExecutor
from adanalysis.jobs.models import BackgroundJob, JobStatus
from tests.jobs import jobtypes
from tests.jobs.support import RecordingExecutor, new_user_id, service_for, services_for


async def test_job_creation(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """The seed's unit test: a started job exists, is pending, and holds only the token's mask."""
    executor = RecordingExecutor()
    service = service_for(services_for(session_factory, settings), executor)
    user_id = await new_user_id(session_factory)
    async with session_factory() as session:
        started = await start_ad_analysis_job(
            service,
            session,
            user_id=user_id,
            access_token="EAABsecretsecretsecret",
            account_id="act_1",
        )
    job_id = started.id
    assert job_id is not None and len(job_id) == 24
    async with session_factory() as session:
        job = await service.get_job_status(session, job_id=job_id, user_id=user_id)
        assert job is not None
        assert job.status == JobStatus.PENDING
        assert job.parameters == {"access_token": "EAABsec...", "account_id": "act_1"}
        assert await service.get_job_status(session, job_id=job_id, user_id="0" * 24) is None
    assert executor.submitted == [(job_id, 0)]


async def test_second_active_job_is_refused_by_the_database(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """The partial unique index answers the conflict and names the active job."""
    service = service_for(services_for(session_factory, settings))
    user_id = await new_user_id(session_factory)
    async with session_factory() as session:
        first = await service.start_job(session, user_id=user_id, job_type="t", parameters={})
    async with session_factory() as session:
        with pytest.raises(ActiveJobExistsError) as err:
            await service.start_job(session, user_id=user_id, job_type="t", parameters={})
    assert err.value.job.id == first.id
    async with session_factory() as session:
        await service.cancel_job(session, job_id=first.id, user_id=user_id)
        again = await service.start_job(session, user_id=user_id, job_type="t", parameters={})
    assert again.id != first.id


async def test_estimate_is_median_of_recent_completed(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """300 s without history, then the median of completed durations."""
    service = service_for(services_for(session_factory, settings))
    user_id = await new_user_id(session_factory)
    async with session_factory() as session:
        assert await service.estimate_duration(session, user_id=user_id, job_type="t") == 300
        now = utcnow()
        for i, seconds in enumerate([100, 40, 70]):
            session.add(
                BackgroundJob(
                    user_id=user_id,
                    job_type="t",
                    status=JobStatus.COMPLETED,
                    actual_duration_seconds=seconds,
                    created_at=now - timedelta(minutes=i),
                )
            )
        session.add(
            BackgroundJob(
                user_id=user_id, job_type="t", status=JobStatus.FAILED, actual_duration_seconds=5
            )
        )
        await session.commit()
        assert await service.estimate_duration(session, user_id=user_id, job_type="t") == 70


async def test_cleanup_removes_only_old_finished_jobs(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """Old finished jobs go; active jobs and recent ones stay."""
    service = service_for(services_for(session_factory, settings))
    user_id = await new_user_id(session_factory)
    old = utcnow() - timedelta(days=10)
    async with session_factory() as session:
        rows = {
            "old_done": BackgroundJob(
                user_id=user_id, job_type="a", status="completed", created_at=old, completed_at=old
            ),
            "old_failed": BackgroundJob(
                user_id=user_id, job_type="b", status="failed", created_at=old
            ),
            "old_running": BackgroundJob(
                user_id=user_id, job_type="c", status="running", created_at=old
            ),
            "old_pending": BackgroundJob(
                user_id=user_id, job_type="d", status="pending", created_at=old
            ),
            "new_done": BackgroundJob(user_id=user_id, job_type="e", status="cancelled"),
        }
        session.add_all(rows.values())
        await session.commit()
        ids = {name: job.id for name, job in rows.items()}
        assert await service.cleanup_old_jobs(session, days_old=7) == 2
        left = set((await session.execute(select(BackgroundJob.id))).scalars())
    assert left == {ids["old_running"], ids["old_pending"], ids["new_done"]}


async def test_progress_never_goes_backwards_and_is_throttled(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """Lower percentages keep the higher one; same-stage writes within the interval are skipped."""
    settings = settings.model_copy(update={"progress_min_interval_seconds": 60.0})
    services = services_for(session_factory, settings)
    user_id = await new_user_id(session_factory)
    async with session_factory() as session:
        job = BackgroundJob(
            user_id=user_id, job_type="t", status="running", worker_id=services.worker_id
        )
        session.add(job)
        await session.commit()
    ctx = JobContext(job, services)

    async def stored() -> tuple[int, str | None]:
        async with session_factory() as session:
            row = await session.get(BackgroundJob, job.id, populate_existing=True)
            assert row is not None
            return row.progress, row.message

    await ctx.progress(50, "Transcribing videos (1/4)...")
    assert await stored() == (50, "Transcribing videos (1/4)...")
    await ctx.progress(55, "Transcribing videos (2/4)...")  # same stage, inside the interval
    assert await stored() == (50, "Transcribing videos (1/4)...")
    await ctx.progress(20, "Analyzing content...")  # new stage: written, but not backwards
    assert await stored() == (55, "Analyzing content...")
    assert stage_of("Transcribing videos (3/8)...") == stage_of("Transcribing videos (4/8)...")


async def test_priority_order_when_saturated(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """With one slot busy, queued jobs start highest priority first."""
    services = services_for(session_factory, settings)
    executor = LocalExecutor(services, concurrency=1, maintenance=False)
    service = service_for(services, executor)
    jobtypes.STARTED.clear()
    users = [await new_user_id(session_factory) for _ in range(4)]
    await executor.start()
    try:
        async with session_factory() as session:
            blocker = await service.start_job(
                session,
                user_id=users[0],
                job_type=jobtypes.STEPS,
                parameters={"steps": 1, "delay": 0.5},
            )
            await asyncio.sleep(0.1)  # let it occupy the only slot
            low = await service.start_job(
                session, user_id=users[1], job_type=jobtypes.STEPS, parameters={"steps": 1}
            )
            high = await service.start_job(
                session,
                user_id=users[2],
                job_type=jobtypes.STEPS,
                parameters={"steps": 1},
                priority=10,
            )
            mid = await service.start_job(
                session,
                user_id=users[3],
                job_type=jobtypes.STEPS,
                parameters={"steps": 1},
                priority=5,
            )
        for _ in range(100):
            if len(jobtypes.STARTED) == 4:
                break
            await asyncio.sleep(0.05)
    finally:
        await executor.stop()
    assert jobtypes.STARTED == [blocker.id, high.id, mid.id, low.id]
