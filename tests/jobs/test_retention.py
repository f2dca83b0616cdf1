"""Retention: finished jobs older than CLEANUP_DAYS go with their stage timings; live ones stay."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.db import utcnow
from adanalysis.jobs.maintenance import Maintenance, PendingJob
from adanalysis.jobs.models import BackgroundJob, JobStageTiming
from tests.conftest import make_settings
from tests.jobs.support import new_user_id, services_for


async def _no_dispatch(_job: PendingJob) -> None:
    """Cleanup dispatches nothing."""


async def test_cleanup_keeps_the_setting_s_days_and_every_live_job(
    session_factory: async_sessionmaker[AsyncSession], database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path / "data", cleanup_days=3)
    user_id = await new_user_id(session_factory)
    now = utcnow()
    old, recent = now - timedelta(days=4), now - timedelta(days=2)
    rows = {
        "old_completed": BackgroundJob(
            user_id=user_id, job_type="a", status="completed", created_at=old, completed_at=old
        ),
        "old_cancelled": BackgroundJob(
            user_id=user_id, job_type="b", status="cancelled", created_at=old, completed_at=old
        ),
        "recent_failed": BackgroundJob(
            user_id=user_id, job_type="c", status="failed", created_at=old, completed_at=recent
        ),
        "old_running": BackgroundJob(
            user_id=user_id, job_type="d", status="running", created_at=now - timedelta(days=30)
        ),
        "old_pending": BackgroundJob(
            user_id=user_id, job_type="e", status="pending", created_at=now - timedelta(days=30)
        ),
    }
    async with session_factory() as session:
        session.add_all(rows.values())
        await session.flush()
        for job in rows.values():
            session.add(JobStageTiming(job_id=job.id, stage="Step", started_at=old))
        await session.commit()
    ids = {name: job.id for name, job in rows.items()}

    removed = await Maintenance(
        services_for(session_factory, settings), dispatch=_no_dispatch
    ).cleanup()

    assert removed == 2
    async with session_factory() as session:
        left = set((await session.execute(select(BackgroundJob.id))).scalars())
        timed = set((await session.execute(select(JobStageTiming.job_id))).scalars())
    kept = {ids["recent_failed"], ids["old_running"], ids["old_pending"]}
    assert left == kept
    assert timed == kept, "stage timings go with their job"
