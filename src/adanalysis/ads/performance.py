"""Fetching the ads' delivery figures from the Graph API and storing them, dated, per ad."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.ads.facebook import Ad, AdInsightsRow, GraphClient, Period
from adanalysis.ads.models import AdPerformance
from adanalysis.config import Settings
from adanalysis.db import utcnow

log = logging.getLogger(__name__)


def period_of(settings: Settings) -> Period:
    """The insights period the settings ask for."""
    if settings.insights_since and settings.insights_until:
        return Period(
            since=settings.insights_since.isoformat(), until=settings.insights_until.isoformat()
        )
    return Period(date_preset=settings.insights_date_preset)


async def refresh_performance(
    session_factory: async_sessionmaker[AsyncSession],
    graph: GraphClient,
    *,
    settings: Settings,
    user_id: str,
    ads: Sequence[tuple[str, Ad]],
) -> int:
    """Fetch every listed ad's figures (one insights call per account) and store them; the count.

    An ad that did not deliver in the period is stored too, without figures, so the ads view
    still lists it with its status.
    """
    period = period_of(settings)
    figures: dict[str, AdInsightsRow] = {}
    for account in dict.fromkeys(account for account, _ad in ads):
        for row in await graph.ad_insights(account, period=period):
            figures[row.ad_id] = row
    async with session_factory() as session:
        await _store(
            session, user_id=user_id, key=settings.insights_period, ads=ads, figures=figures
        )
    log.info("stored performance of %d ads (%d with delivery)", len(ads), len(figures))
    return len(ads)


async def _store(
    session: AsyncSession,
    *,
    user_id: str,
    key: str,
    ads: Sequence[tuple[str, Ad]],
    figures: dict[str, AdInsightsRow],
) -> None:
    existing = {
        row.ad_id: row
        for row in (
            await session.execute(
                select(AdPerformance).where(
                    AdPerformance.user_id == user_id,
                    AdPerformance.period == key,
                    AdPerformance.ad_id.in_([ad.id for _account, ad in ads]),
                )
            )
        ).scalars()
    }
    now = utcnow()
    for account, ad in ads:
        row = existing.get(ad.id)
        if row is None:
            row = AdPerformance(user_id=user_id, ad_id=ad.id, period=key)
            session.add(row)
            existing[ad.id] = row
        found = figures.get(ad.id)
        row.account_id = account
        row.ad_name = ad.name
        row.effective_status = ad.effective_status or None
        row.video_ids = list(ad.video_ids)
        row.video_id = ad.video_ids[0] if ad.video_ids else None
        row.fetched_at = now
        row.date_start = found.date_start if found else None
        row.date_stop = found.date_stop if found else None
        row.currency = found.currency if found else None
        row.spend = found.spend if found else None
        row.impressions = found.impressions if found else None
        row.clicks = found.clicks if found else None
        row.ctr = found.ctr if found else None
        row.video_3s_plays = found.video_3s_plays if found else None
        row.thruplays = found.thruplays if found else None
        row.hook_rate = found.hook_rate if found else None
        row.hold_rate = found.hold_rate if found else None
    await session.commit()
