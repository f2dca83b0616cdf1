"""Saving and reading a user's analyses and ads: filters, sorts, keyset pages, performance."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, and_, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.ads.models import AdAnalysis, AdPerformance
from adanalysis.ids import is_object_id
from adanalysis.paging import after_in_order, in_order

# Rows per database round trip while an export streams.
EXPORT_BATCH = 200


class AnalysisNotFoundError(Exception):
    """No such analysis (or ad) for this user."""


class Sort(StrEnum):
    """What a list is ordered by."""

    DATE = "date"  # when the video was analysed
    SCORE = "score"  # the analysis score, 0-100
    SPEND = "spend"  # money spent in the performance period
    HOOK_RATE = "hook_rate"  # 3-second plays / impressions


@dataclass(frozen=True)
class Filters:
    """What a user narrows a list of analyses or ads to; None means no constraint."""

    account_id: str | None = None
    job_id: str | None = None
    hook_type: str | None = None
    min_score: int | None = None
    max_score: int | None = None
    has_offer: bool | None = None
    q: str | None = None  # words in the transcript or title


@dataclass(frozen=True)
class Performance:
    """Delivery figures of one ad, or summed over the ads that use one video."""

    spend: float | None
    impressions: int | None
    clicks: int | None
    video_3s_plays: int | None
    thruplays: int | None
    currency: str | None = None
    date_start: str | None = None
    date_stop: str | None = None

    @property
    def ctr(self) -> float | None:
        """Clicks per 100 impressions."""
        return _ratio(self.clicks, self.impressions, 100)

    @property
    def hook_rate(self) -> float | None:
        """3-second plays per impression (0-1)."""
        return _ratio(self.video_3s_plays, self.impressions)

    @property
    def hold_rate(self) -> float | None:
        """ThruPlays per impression (0-1)."""
        return _ratio(self.thruplays, self.impressions)


@dataclass(frozen=True)
class AnalysisRow:
    """An analysis and the summed performance of the ads that use its video."""

    analysis: AdAnalysis
    performance: Performance | None


@dataclass(frozen=True)
class AdRow:
    """An ad with its performance and the analysis of its (first) video."""

    ad: AdPerformance
    analysis: AdAnalysis | None


def _ratio(part: float | None, whole: float | None, scale: float = 1) -> float | None:
    if part is None or not whole:
        return None
    return part * scale / whole


async def save_analysis(session: AsyncSession, *, analysis: AdAnalysis) -> bool:
    """Store a new analysis; False when this user's video was analysed already."""
    session.add(analysis)
    try:
        await session.commit()
    except IntegrityError:  # unique per user and video
        await session.rollback()
        return False
    return True


async def analysed_videos(
    session: AsyncSession, *, user_id: str
) -> dict[str, tuple[str, str | None]]:
    """video id -> (analysis id, job id) of every video user_id has analysed so far."""
    rows = await session.execute(
        select(AdAnalysis.video_id, AdAnalysis.id, AdAnalysis.job_id).where(
            AdAnalysis.user_id == user_id
        )
    )
    return {video_id: (analysis_id, job_id) for video_id, analysis_id, job_id in rows}


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


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(query: Select[Any], filters: Filters, *, ads: bool) -> Select[Any]:
    """query narrowed by filters; analysis fields are on AdAnalysis, the account on the ad."""
    f = filters
    if f.account_id is not None:
        account = AdPerformance.account_id if ads else AdAnalysis.account_id
        query = query.where(account == f.account_id)
    if f.job_id is not None:
        query = query.where(AdAnalysis.job_id == f.job_id)
    if f.hook_type is not None:
        query = query.where(AdAnalysis.hook_type == f.hook_type)
    if f.min_score is not None:
        query = query.where(AdAnalysis.score >= f.min_score)
    if f.max_score is not None:
        query = query.where(AdAnalysis.score <= f.max_score)
    if f.has_offer is not None:
        query = query.where(AdAnalysis.has_offer.is_(f.has_offer))
    if f.q:
        pattern = f"%{_escape_like(f.q.strip())}%"
        query = query.where(
            AdAnalysis.transcript.ilike(pattern, escape="\\")
            | AdAnalysis.title.ilike(pattern, escape="\\")
        )
    return query


def _video_performance(user_id: str, period: str) -> Any:
    """Per video: the performance of the user's ads whose first video it is, summed."""
    p = AdPerformance
    return (
        select(
            p.video_id.label("video_id"),
            func.sum(p.spend).label("spend"),
            func.sum(p.impressions).label("impressions"),
            func.sum(p.clicks).label("clicks"),
            func.sum(p.video_3s_plays).label("plays"),
            func.sum(p.thruplays).label("thruplays"),
            func.max(p.currency).label("currency"),
            func.min(p.date_start).label("date_start"),
            func.max(p.date_stop).label("date_stop"),
            (func.sum(p.video_3s_plays) * 1.0 / func.nullif(func.sum(p.impressions), 0)).label(
                "hook_rate"
            ),
        )
        .where(p.user_id == user_id, p.period == period, p.video_id.is_not(None))
        .group_by(p.video_id)
        .subquery("video_performance")
    )


async def list_analyses(
    session: AsyncSession,
    *,
    user_id: str,
    period: str,
    limit: int = 20,
    filters: Filters | None = None,
    sort: Sort = Sort.DATE,
    descending: bool = True,
    before: str | None = None,
) -> list[AnalysisRow]:
    """The user's analyses in the given order, keyset-paged by (sort value, id)."""
    perf = _video_performance(user_id, period)
    query: Select[Any] = (
        select(AdAnalysis, perf)
        .outerjoin(perf, perf.c.video_id == AdAnalysis.video_id)
        .where(AdAnalysis.user_id == user_id)
    )
    query = _filtered(query, filters or Filters(), ads=False)
    value = {
        Sort.DATE: AdAnalysis.created_at,
        Sort.SCORE: AdAnalysis.score,
        Sort.SPEND: perf.c.spend,
        Sort.HOOK_RATE: perf.c.hook_rate,
    }[sort]
    rows = await _keyset_page(
        session, query, value, AdAnalysis.id, before=before, descending=descending, limit=limit
    )
    return [AnalysisRow(analysis, _summed(figures)) for analysis, *figures in rows]


def _summed(figures: Sequence[Any] | None) -> Performance | None:
    """A row of _video_performance as Performance; None when the video's ads have no figures."""
    if not figures or figures[0] is None:
        return None
    _video, spend, impressions, clicks, plays, thruplays, currency, start, stop, _rate = figures
    return Performance(spend, impressions, clicks, plays, thruplays, currency, start, stop)


async def get_analysis_row(
    session: AsyncSession, *, analysis_id: str, user_id: str, period: str
) -> AnalysisRow | None:
    """One analysis of user_id with the summed performance of its ads, or None."""
    analysis = await get_analysis(session, analysis_id=analysis_id, user_id=user_id)
    if analysis is None:
        return None
    perf = _video_performance(user_id, period)
    figures = (
        await session.execute(select(perf).where(perf.c.video_id == analysis.video_id))
    ).one_or_none()
    return AnalysisRow(analysis, _summed(figures))


async def list_ads(
    session: AsyncSession,
    *,
    user_id: str,
    period: str,
    limit: int = 20,
    filters: Filters | None = None,
    sort: Sort = Sort.DATE,
    descending: bool = True,
    before: str | None = None,
) -> list[AdRow]:
    """The user's ads with performance over period and their video's analysis, keyset-paged."""
    query: Any = (
        select(AdPerformance, AdAnalysis)
        .outerjoin(
            AdAnalysis,
            and_(
                AdAnalysis.user_id == AdPerformance.user_id,
                AdAnalysis.video_id == AdPerformance.video_id,
            ),
        )
        .where(AdPerformance.user_id == user_id, AdPerformance.period == period)
    )
    query = _filtered(query, filters or Filters(), ads=True)
    value = {
        Sort.DATE: AdAnalysis.created_at,
        Sort.SCORE: AdAnalysis.score,
        Sort.SPEND: AdPerformance.spend,
        Sort.HOOK_RATE: AdPerformance.hook_rate,
    }[sort]
    rows = await _keyset_page(
        session, query, value, AdPerformance.id, before=before, descending=descending, limit=limit
    )
    return [AdRow(ad, analysis) for ad, analysis in rows]


async def _keyset_page(
    session: AsyncSession,
    query: Any,
    value: Any,
    row_id: Any,
    *,
    before: str | None,
    descending: bool,
    limit: int,
) -> Sequence[Any]:
    """The rows of query after the row `before`, ordered by (value, id) nulls last.

    The anchor's sort value is read through the same query, so an id outside the user's rows
    (or outside the filters) is an unknown cursor.
    """
    if before is not None:
        if not is_object_id(before):
            raise AnalysisNotFoundError(before)
        anchor = (
            await session.execute(query.with_only_columns(value).where(row_id == before))
        ).one_or_none()
        if anchor is None:
            raise AnalysisNotFoundError(before)
        query = query.where(after_in_order(value, row_id, anchor[0], before, descending=descending))
    query = query.order_by(*in_order(value, row_id, descending=descending)).limit(limit)
    return (await session.execute(query)).all()


async def iter_all(
    session_factory: async_sessionmaker[AsyncSession], lister: Any, **kwargs: Any
) -> AsyncIterator[Any]:
    """Every row a lister (list_analyses or list_ads) returns, fetched a batch per session.

    A short session per batch: a long export must not hold a transaction (and, on SQLite,
    the write lock that BEGIN IMMEDIATE takes) while the client reads slowly.
    """
    before: str | None = None
    while True:
        async with session_factory() as session:
            rows = await lister(session, limit=EXPORT_BATCH, before=before, **kwargs)
        for row in rows:
            yield row
        if len(rows) < EXPORT_BATCH:
            return
        last = rows[-1]
        before = last.analysis.id if isinstance(last, AnalysisRow) else last.ad.id


def ad_performance(ad: AdPerformance) -> Performance | None:
    """The performance of one stored ad row; None when it did not deliver in the period."""
    if ad.impressions is None and ad.spend is None:
        return None
    return Performance(
        ad.spend,
        ad.impressions,
        ad.clicks,
        ad.video_3s_plays,
        ad.thruplays,
        ad.currency,
        ad.date_start,
        ad.date_stop,
    )


# The comparison view draws every ad; a cap keeps one request bounded.
COMPARISON_LIMIT = 2000


@dataclass(frozen=True)
class HookTypeGroup:
    """Ads of one hook type taken together; rates are weighted by impressions."""

    hook_type: str
    ads: int
    impressions: int
    spend: float
    plays: int
    thruplays: int
    clicks: int
    scores: tuple[int, ...]

    @property
    def hook_rate(self) -> float | None:
        """3-second plays per impression over the group."""
        return _ratio(self.plays, self.impressions)

    @property
    def hold_rate(self) -> float | None:
        """ThruPlays per impression over the group."""
        return _ratio(self.thruplays, self.impressions)

    @property
    def ctr(self) -> float | None:
        """Clicks per 100 impressions over the group."""
        return _ratio(self.clicks, self.impressions, 100)

    @property
    def average_score(self) -> float | None:
        """Mean analysis score of the group's ads."""
        return sum(self.scores) / len(self.scores) if self.scores else None


async def compare(
    session: AsyncSession, *, user_id: str, period: str, filters: Filters | None = None
) -> tuple[list[AdRow], list[HookTypeGroup]]:
    """The user's analysed ads with delivery in period, and their totals per hook type."""
    rows = [
        row
        for row in await list_ads(
            session,
            user_id=user_id,
            period=period,
            limit=COMPARISON_LIMIT,
            filters=filters,
            sort=Sort.HOOK_RATE,
        )
        if row.analysis is not None and row.ad.impressions
    ]
    groups: dict[str, list[AdRow]] = {}
    for row in rows:
        assert row.analysis is not None
        groups.setdefault(row.analysis.hook_type or "unknown", []).append(row)
    summaries = [
        HookTypeGroup(
            hook_type=hook_type,
            ads=len(members),
            impressions=sum(r.ad.impressions or 0 for r in members),
            spend=round(sum(r.ad.spend or 0.0 for r in members), 2),
            plays=sum(r.ad.video_3s_plays or 0 for r in members),
            thruplays=sum(r.ad.thruplays or 0 for r in members),
            clicks=sum(r.ad.clicks or 0 for r in members),
            scores=tuple(
                r.analysis.score
                for r in members
                if r.analysis is not None and r.analysis.score is not None
            ),
        )
        for hook_type, members in groups.items()
    ]
    summaries.sort(key=lambda g: g.hook_rate or 0.0, reverse=True)
    return rows, summaries


async def delete_analyses(
    session: AsyncSession, *, user_id: str, analysis_id: str | None = None
) -> int:
    """Delete one of the user's analyses, or all of them with their ads' figures; how many."""
    query = delete(AdAnalysis).where(AdAnalysis.user_id == user_id)
    if analysis_id is not None:
        if not is_object_id(analysis_id):
            return 0
        query = query.where(AdAnalysis.id == analysis_id)
    result = await session.execute(query.execution_options(synchronize_session=False))
    removed = result.rowcount  # type: ignore[attr-defined]
    if analysis_id is None:
        # The performance rows only describe the analysed ads: they go with them.
        await session.execute(delete(AdPerformance).where(AdPerformance.user_id == user_id))
    await session.commit()
    return int(removed or 0)
