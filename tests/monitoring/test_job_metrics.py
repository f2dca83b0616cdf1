"""Job metrics against a seeded history whose figures are known, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.auth.models import User
from adanalysis.config import Settings
from adanalysis.jobs.models import BackgroundJob, JobStageTiming
from adanalysis.jobs.runtime import run_job
from adanalysis.monitoring.metrics import job_metrics
from adanalysis.monitoring.schemas import MetricsRange
from tests.conftest import SignedIn, sign_up
from tests.jobs import jobtypes
from tests.jobs.support import new_user_id, service_for, services_for

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday
H, D = timedelta(hours=1), timedelta(days=1)


def _job(user: str, status: str, created: timedelta, **values: Any) -> BackgroundJob:
    ended = values.pop("ended", None)
    return BackgroundJob(
        user_id=user,
        job_type="ad_analysis",
        status=status,
        progress=100 if status == "completed" else 0,
        message="",
        parameters={},
        created_at=NOW - created,
        completed_at=None if ended is None else NOW - ended,
        **values,
    )


async def _seed(factory: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    u1 = await new_user_id(factory)
    u2 = await new_user_id(factory)
    u3 = await new_user_id(factory)
    jobs = {
        "c1": _job(u1, "completed", 2 * H, ended=1 * H, actual_duration_seconds=10, result_count=2),
        "c2": _job(u1, "completed", 3 * H, ended=2 * H, actual_duration_seconds=20, result_count=0),
        "f3": _job(
            u1,
            "failed",
            5 * H,
            ended=4 * H,
            actual_duration_seconds=40,
            error_code="graph_error",
            error_message="The newest Graph failure.",
        ),
        "c4": _job(
            u2, "completed", 3 * D, ended=3 * D - H, actual_duration_seconds=100, result_count=5
        ),
        "f5": _job(
            u2,
            "failed",
            4 * D,
            ended=4 * D - H,
            error_code="graph_error",
            error_message="An older Graph failure.",
        ),
        "f6": _job(
            u3,
            "failed",
            6 * D,
            ended=6 * D - H,
            error_code="job_timeout",
            error_message="Timed out.",
        ),
        "x7": _job(u3, "cancelled", 2 * D, ended=2 * D - H),
        "c8": _job(
            u1, "completed", 20 * D, ended=20 * D - H, actual_duration_seconds=300, result_count=1
        ),
        "f9": _job(
            u1, "failed", 25 * D, ended=25 * D - H, error_code="internal_error", error_message="x"
        ),
        "c10": _job(
            u1, "completed", 40 * D, ended=40 * D - H, actual_duration_seconds=999, result_count=1
        ),
        "c13": _job(
            u2, "completed", 10 * D, ended=10 * D - H, actual_duration_seconds=50, result_count=0
        ),
        "p11": _job(u1, "pending", timedelta(minutes=30)),
        "r12": _job(u2, "running", 1 * H, worker_id="w", heartbeat_at=NOW - timedelta(seconds=3)),
    }
    # u1's second pending job would break the one-active rule: another job type.
    jobs["p14"] = _job(u1, "pending", timedelta(minutes=10))
    jobs["p14"].job_type = "test_steps"
    async with factory() as session:
        session.add_all(jobs.values())
        await session.flush()
        stage = "Downloading videos (#/#)..."
        session.add_all(
            [
                _stage(jobs["c1"].id, stage, 90, 1000),
                _stage(jobs["c1"].id, "Analyzing videos...", 80, 3000),
                _stage(jobs["c2"].id, stage, 150, 2000),
                _stage(jobs["c8"].id, stage, 20 * 24 * 60, 9000),
                JobStageTiming(job_id=jobs["r12"].id, stage=stage, started_at=NOW - H),
            ]
        )
        await session.commit()
    return {name: job.id for name, job in jobs.items()}


def _stage(job_id: str, stage: str, minutes_ago: int, ms: int) -> JobStageTiming:
    started = NOW - timedelta(minutes=minutes_ago)
    return JobStageTiming(
        job_id=job_id,
        stage=stage,
        started_at=started,
        ended_at=started + timedelta(milliseconds=ms),
        duration_ms=ms,
    )


async def test_week_figures_are_exact(session_factory: async_sessionmaker[AsyncSession]) -> None:
    ids = await _seed(session_factory)
    m = await job_metrics(session_factory, range_=MetricsRange.WEEK, now=NOW)

    assert (m.success.day.completed, m.success.day.failed) == (2, 1)
    assert m.success.day.rate == pytest.approx(2 / 3)
    assert (m.success.week.completed, m.success.week.failed, m.success.week.rate) == (3, 3, 0.5)
    assert (m.success.month.completed, m.success.month.failed) == (5, 4)
    assert m.success.month.rate == pytest.approx(5 / 9)

    d = m.durations
    assert d.count == 3
    assert d.average_seconds == pytest.approx(130 / 3)
    assert d.p95_seconds == 100
    assert d.seconds_per_video == pytest.approx(110 / 7)  # jobs with videos: 10 s/2 and 100 s/5
    assert [(b.le_seconds, b.count) for b in d.buckets] == [
        (30, 2),
        (60, 0),
        (120, 1),
        (300, 0),
        (600, 0),
        (1800, 0),
        (3600, 0),
        (None, 0),
    ]

    assert [(s.stage, s.count, s.average_ms, s.total_ms) for s in m.stages] == [
        ("Analyzing videos...", 1, 3000.0, 3000),
        ("Downloading videos (#/#)...", 2, 1500.0, 3000),
    ]

    cells = {(c.weekday, c.hour): c.count for c in m.peak_usage}
    assert cells == {
        (2, 7): 1,  # f3, Wednesday
        (2, 9): 1,
        (2, 10): 1,
        (2, 11): 3,  # r12, p11, p14
        (6, 12): 1,  # c4, Sunday
        (5, 12): 1,  # f5, Saturday
        (3, 12): 1,  # f6, Thursday
        (0, 12): 1,  # x7, Monday
    }

    assert [(e.error_code, e.count, e.example_job_id) for e in m.errors] == [
        ("graph_error", 2, ids["f3"]),
        ("job_timeout", 1, ids["f6"]),
    ]
    assert m.errors[0].example_message == "The newest Graph failure."
    assert m.errors[0].last_at == NOW - 4 * H

    assert m.active_users == 3
    days = {day.day: day for day in m.engagement}
    assert len(days) == 8  # 2026-02-25 .. 2026-03-04
    today = days["2026-03-04"]
    assert (today.created, today.active_users) == (6, 2)
    assert (today.completed, today.failed, today.cancelled) == (2, 1, 0)
    assert today.success_rate == pytest.approx(2 / 3)
    monday = days["2026-03-02"]
    assert (monday.created, monday.cancelled, monday.success_rate) == (1, 1, None)

    assert (m.queue.pending, m.queue.running) == (2, 1)
    assert m.queue.oldest_pending_at == NOW - timedelta(minutes=30)
    assert m.queue.oldest_pending_age_seconds == 1800


async def test_ranges_bound_the_figures(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await _seed(session_factory)
    month = await job_metrics(session_factory, range_=MetricsRange.MONTH, now=NOW)
    day = await job_metrics(session_factory, range_=MetricsRange.DAY, now=NOW)
    assert month.durations.count == 5
    assert month.durations.average_seconds == pytest.approx(96)
    assert month.durations.p95_seconds == 300
    assert [(e.error_code, e.count) for e in month.errors] == [
        ("graph_error", 2),
        ("internal_error", 1),
        ("job_timeout", 1),
    ]
    assert day.durations.count == 2 and day.durations.p95_seconds == 20
    assert day.active_users == 2
    assert len(day.engagement) == 2


async def test_empty_history(session_factory: async_sessionmaker[AsyncSession]) -> None:
    m = await job_metrics(session_factory, now=NOW)
    assert m.success.week.rate is None
    assert m.durations.count == 0 and m.durations.p95_seconds is None
    assert m.stages == [] and m.errors == [] and m.peak_usage == []
    assert m.queue.oldest_pending_at is None


async def test_stage_timings_are_recorded_by_progress(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    services = services_for(session_factory, settings)
    user_id = await new_user_id(session_factory)
    async with session_factory() as session:
        job = await service_for(services).start_job(
            session, user_id=user_id, job_type=jobtypes.STEPS, parameters={"steps": 3}
        )
    assert await run_job(job.id, services) == "completed"
    m = await job_metrics(session_factory)
    # "Step (1/3)", "(2/3)", "(3/3)" are one stage, opened once and closed by the end.
    assert [(s.stage, s.count) for s in m.stages] == [("Step (#/#)...", 1)]
    assert m.durations.count == 1


async def _make_admin(app: Any, user: SignedIn) -> None:
    async with app.state.session_factory() as session:
        await session.execute(update(User).where(User.id == user.user_id).values(is_admin=True))
        await session.commit()


async def test_only_admins_read_metrics(client: httpx.AsyncClient, app: Any) -> None:
    url = "/api/v1/admin/job-metrics"
    assert (await client.get(url)).status_code == 401
    user = await sign_up(client)
    r = await client.get(url, headers=user.headers)
    assert r.status_code == 403 and r.json()["detail"] == "Admins only."
    assert (await client.get("/api/v1/admin/jobs/active", headers=user.headers)).status_code == 403
    await _make_admin(app, user)
    r = await client.get(url, params={"range": "30d"}, headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["range"] == "30d" and r.json()["queue"]["pending"] == 0
    assert (await client.get(url, params={"range": "1y"}, headers=user.headers)).status_code == 422
