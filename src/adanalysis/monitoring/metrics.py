"""Job metrics computed by the database: aggregate queries on indexed columns, never every row."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.db import utcnow
from adanalysis.jobs.models import BackgroundJob, JobStageTiming, JobStatus
from adanalysis.monitoring.schemas import (
    DayActivity,
    DurationBucket,
    Durations,
    ErrorPattern,
    HeatCell,
    JobMetrics,
    MetricsRange,
    Queue,
    StageTime,
    SuccessRate,
    SuccessWindows,
)

RANGES = {
    MetricsRange.DAY: timedelta(days=1),
    MetricsRange.WEEK: timedelta(days=7),
    MetricsRange.MONTH: timedelta(days=30),
    MetricsRange.QUARTER: timedelta(days=90),
}
# Upper bounds (seconds) of the duration histogram's buckets; a last open bucket follows.
DURATION_BUCKETS = (30, 60, 120, 300, 600, 1800, 3600)
# Rows kept of the long-tailed lists.
MAX_STAGES = 30
MAX_ERROR_CODES = 20

J = BackgroundJob
_COMPLETED = JobStatus.COMPLETED.value
_FAILED = JobStatus.FAILED.value
_CANCELLED = JobStatus.CANCELLED.value


class _Calendar:
    """UTC hour and day buckets of a timestamp column, in the session's SQL dialect."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def hour(self, column: Any) -> Any:
        """The hour a timestamp falls in (cheap to group by: no text formatting per row)."""
        if self.sqlite:  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC
            return func.strftime("%Y-%m-%d %H:00:00", column)
        return func.date_trunc("hour", func.timezone("UTC", column))

    def day(self, column: Any) -> Any:
        """The day a timestamp falls in."""
        if self.sqlite:
            return func.strftime("%Y-%m-%d", column)
        return func.date_trunc("day", func.timezone("UTC", column))


def _bucket(value: datetime | str) -> datetime:
    """A bucket as the database returns it (a naive UTC datetime, or SQLite's text)."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _count_if(*conditions: Any) -> Any:
    return func.coalesce(func.sum(case((and_(*conditions), 1), else_=0)), 0)


def _rate(completed: int, failed: int) -> float | None:
    ended = completed + failed
    return completed / ended if ended else None


async def job_metrics(
    factory: async_sessionmaker[AsyncSession],
    *,
    range_: MetricsRange = MetricsRange.WEEK,
    now: datetime | None = None,
) -> JobMetrics:
    """Every figure of the admin page for the range ending now."""
    now = now or utcnow()
    since = now - RANGES[range_]
    async with factory() as session:
        dialect = session.get_bind().dialect.name
    calendar = _Calendar(dialect)
    sections: list[Callable[[AsyncSession], Awaitable[Any]]] = [
        lambda s: _success_windows(s, now),
        lambda s: _durations(s, since),
        lambda s: _stages(s, since),
        lambda s: _created(s, calendar, since),
        lambda s: _daily_users(s, calendar, since),
        lambda s: _ended(s, calendar, since),
        lambda s: _active_users(s, since),
        lambda s: _errors(s, since),
        lambda s: _queue(s, now),
    ]
    if dialect == "sqlite":
        # One connection: SQLite runs one statement at a time anyway. Each section ends its
        # transaction, so job writers wait for one query at most, not the whole page.
        results = []
        async with factory() as session:
            for section in sections:
                results.append(await section(session))
                await session.commit()
    else:
        # Each section on its own connection, so the database works on them side by side
        # (read a few milliseconds apart: figures of a live system, not one snapshot).
        async def run(section: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
            async with factory() as session:
                return await section(session)

        results = list(await asyncio.gather(*(run(section) for section in sections)))
    success, durations, stages, (peak_usage, created), users, ended, active, errors, queue = results
    return JobMetrics(
        range=range_,
        since=since,
        generated_at=now,
        success=success,
        durations=durations,
        stages=stages,
        peak_usage=peak_usage,
        errors=errors,
        engagement=_days(since, now, created, users, ended),
        active_users=active,
        queue=queue,
    )


async def _success_windows(session: AsyncSession, now: datetime) -> SuccessWindows:
    day, week, month = now - timedelta(days=1), now - timedelta(days=7), now - timedelta(days=30)
    done, failed = J.status == _COMPLETED, J.status == _FAILED
    row = (
        await session.execute(
            select(
                _count_if(done, J.completed_at >= day),
                _count_if(failed, J.completed_at >= day),
                _count_if(done, J.completed_at >= week),
                _count_if(failed, J.completed_at >= week),
                _count_if(done),
                _count_if(failed),
            ).where(J.status.in_((_COMPLETED, _FAILED)), J.completed_at >= month)
        )
    ).one()
    c = [int(value) for value in row]
    return SuccessWindows(
        day=SuccessRate(completed=c[0], failed=c[1], rate=_rate(c[0], c[1])),
        week=SuccessRate(completed=c[2], failed=c[3], rate=_rate(c[2], c[3])),
        month=SuccessRate(completed=c[4], failed=c[5], rate=_rate(c[4], c[5])),
    )


async def _durations(session: AsyncSession, since: datetime) -> Durations:
    measured = (
        J.status == _COMPLETED,
        J.completed_at >= since,
        J.actual_duration_seconds.is_not(None),
    )
    seconds = J.actual_duration_seconds
    lowers = (0, *DURATION_BUCKETS)
    bucket_counts = [
        _count_if(seconds >= lower, seconds < upper)
        for lower, upper in zip(lowers, DURATION_BUCKETS, strict=False)
    ]
    bucket_counts.append(_count_if(seconds >= DURATION_BUCKETS[-1]))
    with_videos = J.result_count > 0
    row = (
        await session.execute(
            select(
                func.count(),
                func.avg(seconds),
                func.sum(case((with_videos, seconds), else_=0)),
                func.sum(case((with_videos, J.result_count), else_=0)),
                *bucket_counts,
            ).where(*measured)
        )
    ).one()
    count = int(row[0])
    p95 = None
    if count:
        # Nearest rank: the smallest duration that at least 95 % of the jobs do not exceed.
        rank = math.ceil(0.95 * count)
        p95 = (
            await session.execute(
                select(seconds).where(*measured).order_by(seconds).offset(rank - 1).limit(1)
            )
        ).scalar_one()
    video_seconds, videos = int(row[2] or 0), int(row[3] or 0)
    uppers: list[int | None] = [*DURATION_BUCKETS, None]
    return Durations(
        count=count,
        average_seconds=float(row[1]) if row[1] is not None else None,
        p95_seconds=p95,
        seconds_per_video=video_seconds / videos if videos else None,
        buckets=[
            DurationBucket(le_seconds=u, count=int(c)) for u, c in zip(uppers, row[4:], strict=True)
        ],
    )


async def _stages(session: AsyncSession, since: datetime) -> list[StageTime]:
    T = JobStageTiming
    total = func.sum(T.duration_ms)
    rows = await session.execute(
        select(T.stage, func.count(), func.avg(T.duration_ms), total)
        .where(T.started_at >= since, T.duration_ms.is_not(None))
        .group_by(T.stage)
        .order_by(total.desc(), T.stage)
        .limit(MAX_STAGES)
    )
    return [
        StageTime(stage=stage, count=int(n), average_ms=float(avg), total_ms=int(ms))
        for stage, n, avg, ms in rows
    ]


async def _errors(session: AsyncSession, since: datetime) -> list[ErrorPattern]:
    failed = (J.status == _FAILED, J.completed_at >= since)
    count = func.count()
    rows = (
        await session.execute(
            select(J.error_code, count)
            .where(*failed)
            .group_by(J.error_code)
            .order_by(count.desc(), J.error_code)
            .limit(MAX_ERROR_CODES)
        )
    ).all()
    patterns = []
    for code, n in rows:
        same_code = J.error_code.is_(None) if code is None else J.error_code == code
        example = (
            await session.execute(
                select(J.id, J.error_message, J.completed_at)
                .where(*failed, same_code)
                .order_by(J.completed_at.desc(), J.id.desc())
                .limit(1)
            )
        ).first()
        patterns.append(
            ErrorPattern(
                error_code=code,
                count=int(n),
                last_at=example[2] if example else None,
                example_message=example[1] if example else None,
                example_job_id=example[0] if example else None,
            )
        )
    return patterns


async def _created(
    session: AsyncSession, calendar: _Calendar, since: datetime
) -> tuple[list[HeatCell], dict[str, int]]:
    """Jobs created by hour of weekday (the heat map) and by day, from one scan by hour."""
    hour = calendar.hour(J.created_at)
    rows = await session.execute(
        select(hour, func.count()).where(J.created_at >= since).group_by(hour)
    )
    cells: dict[tuple[int, int], int] = {}
    per_day: dict[str, int] = {}
    for bucket, n in rows:
        at = _bucket(bucket)
        key = (at.weekday(), at.hour)  # Monday = 0
        cells[key] = cells.get(key, 0) + int(n)
        day = at.date().isoformat()
        per_day[day] = per_day.get(day, 0) + int(n)
    heat = [HeatCell(weekday=d, hour=h, count=n) for (d, h), n in sorted(cells.items())]
    return heat, per_day


async def _daily_users(
    session: AsyncSession, calendar: _Calendar, since: datetime
) -> dict[str, int]:
    """Users who started a job, per day."""
    # Distinct (day, user) pairs counted per day: PostgreSQL hashes a DISTINCT, where
    # count(DISTINCT ...) per group sorts (half the time on a million jobs).
    pairs = (
        select(calendar.day(J.created_at).label("day"), J.user_id)
        .where(J.created_at >= since)
        .distinct()
        .subquery()
    )
    rows = await session.execute(select(pairs.c.day, func.count()).group_by(pairs.c.day))
    return {_bucket(day).date().isoformat(): int(n) for day, n in rows}


async def _ended(
    session: AsyncSession, calendar: _Calendar, since: datetime
) -> dict[tuple[str, str], int]:
    """Jobs that ended, per day and end status."""
    ended_day = calendar.day(J.completed_at)
    rows = await session.execute(
        select(ended_day, J.status, func.count())
        .where(J.status.in_((_COMPLETED, _FAILED, _CANCELLED)), J.completed_at >= since)
        .group_by(ended_day, J.status)
    )
    return {(_bucket(day).date().isoformat(), status): int(n) for day, status, n in rows}


async def _active_users(session: AsyncSession, since: datetime) -> int:
    """Users who started a job in the range."""
    active = select(J.user_id).where(J.created_at >= since).distinct().subquery()
    return int((await session.execute(select(func.count()).select_from(active))).scalar_one())


def _days(
    since: datetime,
    now: datetime,
    created: dict[str, int],
    users: dict[str, int],
    ended: dict[tuple[str, str], int],
) -> list[DayActivity]:
    """One entry per UTC day of the range, days without jobs included."""
    days = []
    day = since.date()
    while day <= now.date():
        key = day.isoformat()
        completed, failed = ended.get((key, _COMPLETED), 0), ended.get((key, _FAILED), 0)
        days.append(
            DayActivity(
                day=key,
                created=created.get(key, 0),
                active_users=users.get(key, 0),
                completed=completed,
                failed=failed,
                cancelled=ended.get((key, _CANCELLED), 0),
                success_rate=_rate(completed, failed),
            )
        )
        day += timedelta(days=1)
    return days


async def _queue(session: AsyncSession, now: datetime) -> Queue:
    row = (
        await session.execute(
            select(
                _count_if(J.status == JobStatus.PENDING.value),
                _count_if(J.status == JobStatus.RUNNING.value),
                func.min(case((J.status == JobStatus.PENDING.value, J.created_at))),
            ).where(J.status.in_((JobStatus.PENDING.value, JobStatus.RUNNING.value)))
        )
    ).one()
    oldest = row[2]
    if isinstance(oldest, str):  # SQLite: MIN over a CASE loses the column's type
        oldest = _parse_sqlite_time(oldest)
    return Queue(
        pending=int(row[0]),
        running=int(row[1]),
        oldest_pending_at=oldest,
        oldest_pending_age_seconds=(now - oldest).total_seconds() if oldest else None,
    )


def _parse_sqlite_time(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)
