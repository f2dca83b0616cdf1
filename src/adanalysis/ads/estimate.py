"""How long an ad analysis will take, from the user's own past jobs, per video and per engine.

A job's time is a fixed part (listing ads, looking up videos) plus a part per video it really
works on (download, transcribe, analyse); videos analysed before are skipped and cost nothing.
From the user's recent completed jobs:
- the fixed part is the median duration of jobs that had no video to work on (else 5 s);
- the per-video part is the median of (duration - fixed part) / videos worked on, over jobs whose
  analyses used the same transcription engine (local Whisper on the CPU is ~10x slower than the
  OpenAI API, so one engine's history says nothing about the other);
- the videos to work on are those the user's last job on the same accounts listed, minus those
  analysed since (failed videos are tried again).
With no history for the engine, the job service's generic estimate is used instead (None).
"""

from __future__ import annotations

import statistics
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from adanalysis.ads.jobs import AD_ANALYSIS
from adanalysis.ads.models import AdAnalysis
from adanalysis.config import Settings
from adanalysis.jobs.models import BackgroundJob, JobStatus

# How many recent completed jobs the estimate looks at.
WINDOW = 20
DEFAULT_FIXED_SECONDS = 5.0
WORKED = ("analyzed", "failed")


def engine_of(settings: Settings) -> str:
    """The transcription engine a job started now would use (the analyses' `transcriber`)."""
    return "openai" if settings.openai_api_key is not None else "local"


def _accounts(parameters: dict[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(parameters.get("account_ids") or [parameters.get("account_id") or ""]))


async def estimate_seconds(
    session: AsyncSession, *, user_id: str, engine: str, account_ids: list[str]
) -> int | None:
    """Seconds the next job will likely take; None when the user's history cannot say."""
    jobs = list(
        (
            await session.execute(
                select(BackgroundJob)
                .where(
                    BackgroundJob.user_id == user_id,
                    BackgroundJob.job_type == AD_ANALYSIS,
                    BackgroundJob.status == JobStatus.COMPLETED,
                    BackgroundJob.actual_duration_seconds.is_not(None),
                )
                .order_by(BackgroundJob.created_at.desc())
                .limit(WINDOW)
            )
        ).scalars()
    )
    if not jobs:
        return None
    engines = dict(
        (
            await session.execute(
                select(AdAnalysis.job_id, func.max(AdAnalysis.transcriber))
                .where(
                    AdAnalysis.user_id == user_id,
                    AdAnalysis.job_id.in_([j.id for j in jobs]),
                )
                .group_by(AdAnalysis.job_id)
            )
        ).all()
    )
    worked = {j.id: sum(1 for r in j.results or [] if r.get("status") in WORKED) for j in jobs}
    idle = [float(j.actual_duration_seconds or 0) for j in jobs if worked[j.id] == 0]
    fixed = statistics.median(idle) if idle else DEFAULT_FIXED_SECONDS
    per_video = [
        max(0.0, (j.actual_duration_seconds or 0) - fixed) / worked[j.id]
        for j in jobs
        if worked[j.id] and engines.get(j.id) == engine
    ]
    wanted = tuple(sorted(account_ids))
    last = next((j for j in jobs if _accounts(j.parameters or {}) == wanted), None)
    if last is None:
        return None
    analysed = await session.scalar(
        select(func.count())
        .select_from(AdAnalysis)
        .where(AdAnalysis.user_id == user_id, AdAnalysis.account_id.in_(account_ids))
    )
    to_do = max(0, len(last.results or []) - int(analysed or 0))
    if to_do and not per_video:
        return None
    per = statistics.median(per_video) if per_video else 0.0
    return max(1, round(fixed + per * to_do))
