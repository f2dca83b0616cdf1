"""Stage timings: when each stage of a job starts and ends, recorded by the progress path."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from adanalysis.jobs.models import JobStageTiming

_DIGITS = re.compile(r"\d+")
# Longest stage name kept (the column's size).
STAGE_MAX = 255


def stage_of(message: str) -> str:
    """The stage a progress message names: 'Transcribing videos (3/8)' and '(4/8)' are one stage."""
    return _DIGITS.sub("#", message)[:STAGE_MAX]


async def enter_stage(session: AsyncSession, *, job_id: str, stage: str, now: datetime) -> None:
    """Close the job's open stage and open `stage`, unless `stage` is the one already open."""
    row = (
        await session.execute(
            select(JobStageTiming.id, JobStageTiming.stage, JobStageTiming.started_at).where(
                JobStageTiming.job_id == job_id, JobStageTiming.ended_at.is_(None)
            )
        )
    ).first()
    if row is not None and row.stage == stage:
        return
    if row is not None:
        await _close(session, row.id, row.started_at, now)
    session.add(JobStageTiming(job_id=job_id, stage=stage, started_at=now))


async def leave_stage(session: AsyncSession, *, job_id: str, now: datetime) -> None:
    """Close the job's open stage, if any (the job ended or stopped)."""
    rows = (
        await session.execute(
            select(JobStageTiming.id, JobStageTiming.started_at).where(
                JobStageTiming.job_id == job_id, JobStageTiming.ended_at.is_(None)
            )
        )
    ).all()
    for row in rows:
        await _close(session, row.id, row.started_at, now)


async def _close(session: AsyncSession, row_id: int, started_at: datetime, now: datetime) -> None:
    # Milliseconds computed here, not in SQL: date arithmetic differs between the databases.
    duration_ms = max(0, round((now - started_at).total_seconds() * 1000))
    await session.execute(
        update(JobStageTiming)
        .where(JobStageTiming.id == row_id)
        .values(ended_at=now, duration_ms=duration_ms)
        .execution_options(synchronize_session=False)
    )
