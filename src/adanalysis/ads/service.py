"""Saving and reading a user's analyses."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adanalysis.ads.models import AdAnalysis
from adanalysis.ids import is_object_id
from adanalysis.paging import newest_first, older_than


class AnalysisNotFoundError(Exception):
    """No such analysis for this user."""


async def save_analysis(session: AsyncSession, *, analysis: AdAnalysis) -> bool:
    """Store a new analysis; False when this user's video was analysed already."""
    session.add(analysis)
    try:
        await session.commit()
    except IntegrityError:  # unique per user and video
        await session.rollback()
        return False
    return True


async def analysed_video_ids(session: AsyncSession, *, user_id: str) -> set[str]:
    """The ids of every video of user_id analysed so far."""
    rows = await session.execute(select(AdAnalysis.video_id).where(AdAnalysis.user_id == user_id))
    return set(rows.scalars())


async def analyses_of_job(session: AsyncSession, *, user_id: str, job_id: str) -> list[AdAnalysis]:
    """The analyses job_id saved, oldest first."""
    rows = await session.execute(
        select(AdAnalysis)
        .where(AdAnalysis.user_id == user_id, AdAnalysis.job_id == job_id)
        .order_by(AdAnalysis.created_at, AdAnalysis.id)
    )
    return list(rows.scalars())


async def get_analysis(
    session: AsyncSession, *, analysis_id: str, user_id: str
) -> AdAnalysis | None:
    """The analysis if it exists and belongs to user_id."""
    if not is_object_id(analysis_id):
        return None
    row = await session.get(AdAnalysis, analysis_id)
    return row if row is not None and row.user_id == user_id else None


async def list_analyses(
    session: AsyncSession,
    *,
    user_id: str,
    limit: int = 20,
    account_id: str | None = None,
    job_id: str | None = None,
    before: str | None = None,
) -> list[AdAnalysis]:
    """The user's analyses, newest first, keyset-paged by (created_at, id)."""
    query = select(AdAnalysis).where(AdAnalysis.user_id == user_id)
    if account_id is not None:
        query = query.where(AdAnalysis.account_id == account_id)
    if job_id is not None:
        query = query.where(AdAnalysis.job_id == job_id)
    if before is not None:
        anchor = await get_analysis(session, analysis_id=before, user_id=user_id)
        if anchor is None:
            raise AnalysisNotFoundError(before)
        query = query.where(older_than(AdAnalysis, anchor))
    query = query.order_by(*newest_first(AdAnalysis)).limit(limit)
    return list((await session.execute(query)).scalars())
