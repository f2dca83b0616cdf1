"""Reading a user's analyses."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adanalysis.ads.models import AdAnalysis
from adanalysis.ids import is_object_id
from adanalysis.paging import newest_first, older_than


class AnalysisNotFoundError(Exception):
    """No such analysis for this user."""


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
    if job_id is not None and not is_object_id(job_id):
        return []  # no job has that id; never let a malformed one reach the query
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
