"""A runner's claim and end (jobs/runner_writes.py): the same guards, rows and events as the
lifecycle's session writes. On PostgreSQL they run straight on asyncpg; on SQLite through the
lifecycle, so both passes check the same behaviour."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.config import Settings
from adanalysis.db import utcnow
from adanalysis.db_direct import DirectPool, is_postgres
from adanalysis.jobs import runner_writes
from adanalysis.jobs.context import JobServices
from adanalysis.jobs.errors import InvalidTransitionError, JobDeferredError
from adanalysis.jobs.events import JobEventKind, LocalJobEvents, job_topic
from adanalysis.jobs.models import BackgroundJob, JobStageTiming, JobStatus
from adanalysis.jobs.schemas import JobDocument
from tests.conftest import BACKEND
from tests.jobs.support import new_user_id, race_capped_claims, services_for
from tests.jobs.test_lifecycle import WORKER, add_job, read

ENDS = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)
FINAL = {"message": "Over.", "progress": 40, "results": [{"status": "analyzed"}], "result_count": 1}


@pytest.fixture
async def services(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> AsyncIterator[JobServices]:
    """Runner services as a process builds them: with the direct pool on PostgreSQL."""
    built = services_for(session_factory, settings)
    built.worker_id = WORKER
    pool = DirectPool(settings.sqlalchemy_url, max_size=4)
    if is_postgres(settings.sqlalchemy_url):
        built.direct = pool
    try:
        yield built
    finally:
        await built.lifecycle.drain_hooks()
        await pool.aclose()


@pytest.mark.parametrize("start", list(JobStatus))
async def test_claim_from_every_state(
    services: JobServices, session_factory: async_sessionmaker[AsyncSession], start: JobStatus
) -> None:
    """Only a pending job is claimed; the row, the returned document and the event agree."""
    events = services.lifecycle.events
    assert isinstance(events, LocalJobEvents)
    job = await add_job(session_factory, start)
    async with events.subscribe(job_topic(job.id)) as watched:
        if start != JobStatus.PENDING:
            with pytest.raises(InvalidTransitionError) as refused:
                await runner_writes.claim(services, job_id=job.id, max_running_per_user=1)
            assert refused.value.status == start and refused.value.owner_id == job.user_id
            assert watched.drain() == []
            return
        claimed = await runner_writes.claim(services, job_id=job.id, max_running_per_user=1)
        seen = watched.drain()
    row = await read(session_factory, job.id)
    assert row is not None and row.status == JobStatus.RUNNING and row.worker_id == WORKER
    assert row.attempts == 1 and row.started_at is not None and row.heartbeat_at is not None
    assert claimed == JobDocument.model_validate(row)
    assert [e.kind for e in seen] == [JobEventKind.CLAIMED]
    assert seen[0].document == claimed.model_dump(mode="json", by_alias=True)


@pytest.mark.parametrize("status", ENDS)
@pytest.mark.parametrize("start", list(JobStatus))
async def test_end_from_every_state(
    services: JobServices,
    session_factory: async_sessionmaker[AsyncSession],
    start: JobStatus,
    status: JobStatus,
) -> None:
    """Only a running job of this worker ends; its final values, duration and event are written."""
    events = services.lifecycle.events
    assert isinstance(events, LocalJobEvents)
    job = await add_job(session_factory, start)
    final = {**FINAL, "started_at": job.started_at}
    if status == JobStatus.FAILED:
        final.update(error_message="It broke.", error_code="boom")
    async with events.subscribe(job_topic(job.id)) as watched:
        if start != JobStatus.RUNNING:
            with pytest.raises(InvalidTransitionError) as refused:
                await runner_writes.end(services, status, job_id=job.id, **final)
            assert refused.value.status == start
            assert watched.drain() == []
            row = await read(session_factory, job.id)
            assert row is not None and row.status == start and row.message == "As it was."
            return
        ended = await runner_writes.end(services, status, job_id=job.id, **final)
        seen = watched.drain()
    row = await read(session_factory, job.id)
    assert row is not None and row.status == status and ended == JobDocument.model_validate(row)
    assert row.message == "Over." and row.results == FINAL["results"] and row.result_count == 1
    assert row.result_summary == {"analyzed": 1}
    assert row.completed_at is not None and row.actual_duration_seconds in (5, 6)
    if status == JobStatus.FAILED:
        assert (row.error_message, row.error_code) == ("It broke.", "boom")
    else:
        assert row.error_message is None
    assert [e.kind for e in seen] == [JobEventKind(status.value)]


async def test_end_needs_the_owning_worker(
    services: JobServices, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    job = await add_job(session_factory, JobStatus.RUNNING)
    services.worker_id = "another:worker"
    with pytest.raises(InvalidTransitionError) as refused:
        await runner_writes.end(services, JobStatus.COMPLETED, job_id=job.id, message="Mine.")
    assert refused.value.status == JobStatus.RUNNING
    row = await read(session_factory, job.id)
    assert row is not None and row.status == JobStatus.RUNNING and row.progress == 30


async def test_end_closes_the_open_stage_with_its_duration(
    services: JobServices, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    job = await add_job(session_factory, JobStatus.RUNNING)
    opened = utcnow() - timedelta(seconds=2)
    async with session_factory() as session:
        session.add(JobStageTiming(job_id=job.id, stage="Step (#/#)...", started_at=opened))
        await session.commit()
    await runner_writes.end(services, JobStatus.COMPLETED, job_id=job.id, message="Done.")
    async with session_factory() as session:
        [stage] = (await session.execute(select(JobStageTiming))).scalars().all()
    assert stage.ended_at is not None and stage.duration_ms is not None
    assert 2000 <= stage.duration_ms < 60_000
    assert stage.duration_ms == round((stage.ended_at - opened).total_seconds() * 1000)


async def test_missing_job_is_refused_as_missing(services: JobServices) -> None:
    for write in (
        runner_writes.claim(services, job_id="f" * 24, max_running_per_user=1),
        runner_writes.claim(services, job_id="f" * 24),
        runner_writes.end(services, JobStatus.COMPLETED, job_id="f" * 24, message="m"),
    ):
        with pytest.raises(InvalidTransitionError) as refused:
            await write
        assert refused.value.status is None


async def test_claims_over_the_user_cap_are_deferred_even_when_concurrent(
    services: JobServices, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """Two of one user's jobs claimed at once with a cap of 1: one runs, the other waits."""
    user_id = await new_user_id(session_factory)
    async with session_factory() as session:
        jobs = [BackgroundJob(user_id=user_id, job_type=kind) for kind in "ab"]
        session.add_all(jobs)
        await session.commit()

    async def claim(job_id: str) -> object:
        return await runner_writes.claim(services, job_id=job_id, max_running_per_user=1)

    await race_capped_claims(session_factory, user_id, [job.id for job in jobs], claim)
    # Without the cap both run.
    outcomes = await asyncio.gather(*(runner_writes.claim(services, job_id=job.id) for job in jobs))
    assert {job.status for job in outcomes} == {JobStatus.RUNNING}


async def test_a_cancel_requested_job_is_refused_not_deferred(
    services: JobServices, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    job = await add_job(session_factory, JobStatus.PENDING)
    async with session_factory() as session:
        await session.execute(
            update(BackgroundJob)
            .where(BackgroundJob.id == job.id)
            .values(cancel_requested_at=utcnow())
        )
        await session.commit()
    for cap in (1, None):
        with pytest.raises(InvalidTransitionError) as refused:
            await runner_writes.claim(services, job_id=job.id, max_running_per_user=cap)
        assert not isinstance(refused.value, JobDeferredError)
        assert refused.value.status == JobStatus.PENDING


async def test_next_pending_is_the_highest_priority_then_the_oldest(
    services: JobServices, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    user_id = await new_user_id(session_factory)
    assert await runner_writes.next_pending_of(services, user_id) is None
    now = utcnow()
    async with session_factory() as session:
        session.add_all(
            [
                BackgroundJob(user_id=user_id, job_type="old", created_at=now - timedelta(3)),
                BackgroundJob(user_id=user_id, job_type="new", created_at=now - timedelta(1)),
                BackgroundJob(
                    user_id=user_id,
                    job_type="cancelled",
                    priority=9,
                    created_at=now - timedelta(4),
                    cancel_requested_at=now,
                ),
            ]
        )
        await session.commit()
    first = await runner_writes.next_pending_of(services, user_id)
    async with session_factory() as session:
        old = (
            await session.execute(select(BackgroundJob).where(BackgroundJob.job_type == "old"))
        ).scalar_one()
        assert first is not None and (first.id, first.priority) == (old.id, 0)
        new = (
            await session.execute(select(BackgroundJob).where(BackgroundJob.job_type == "new"))
        ).scalar_one()
        new.priority = 1
        await session.commit()
    first = await runner_writes.next_pending_of(services, user_id)
    assert first is not None and (first.id, first.priority) == (new.id, 1)


@pytest.mark.skipif(BACKEND != "postgresql", reason="the direct pool is PostgreSQL's")
async def test_direct_writes_survive_the_server_closing_their_connections(
    services: JobServices, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """A restart or an idle timeout closes pooled connections: the next write still lands."""
    first = await add_job(session_factory, JobStatus.PENDING)
    await runner_writes.claim(services, job_id=first.id)  # opens the pool's connection
    async with session_factory() as session:
        await session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    second = await add_job(session_factory, JobStatus.PENDING)
    claimed = await runner_writes.claim(services, job_id=second.id, max_running_per_user=1)
    assert claimed.status == JobStatus.RUNNING
    ended = await runner_writes.end(services, JobStatus.COMPLETED, job_id=second.id, message="m")
    assert ended.status == JobStatus.COMPLETED
