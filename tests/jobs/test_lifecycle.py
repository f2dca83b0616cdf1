"""The state machine: every transition from every state, allowed or refused, and its one event."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.config import Settings
from adanalysis.db import utcnow
from adanalysis.jobs import lifecycle as lifecycle_module
from adanalysis.jobs.errors import ActiveJobExistsError, InvalidTransitionError
from adanalysis.jobs.events import JobEvent, JobEventKind, LocalJobEvents, job_topic
from adanalysis.jobs.lifecycle import ALLOWED, JobLifecycle, Transition
from adanalysis.jobs.models import BackgroundJob, JobStatus
from tests.jobs.support import new_user_id

WORKER = "local:test:w1:000000"
Call = Callable[[JobLifecycle, AsyncSession, BackgroundJob], Awaitable[Any]]

# How each transition is called by its legitimate caller (the owning worker, the job's user).
CALLS: dict[Transition, Call] = {
    Transition.CLAIM: lambda lc, s, j: lc.claim(s, job_id=j.id, worker_id=WORKER),
    Transition.PROGRESS: lambda lc, s, j: lc.progress(
        s, job_id=j.id, worker_id=WORKER, progress=40, message="Step", results=[], result_count=0
    ),
    Transition.HEARTBEAT: lambda lc, s, j: lc.heartbeat(s, job_id=j.id, worker_id=WORKER),
    Transition.REQUEST_CANCEL: lambda lc, s, j: lc.request_cancel(
        s, job_id=j.id, user_id=j.user_id, message="Cancelling..."
    ),
    Transition.CANCEL_PENDING: lambda lc, s, j: lc.cancel_pending(
        s, job_id=j.id, user_id=j.user_id, message="Cancelled."
    ),
    Transition.DISCARD: lambda lc, s, j: lc.discard(
        s, job_id=j.id, error_message="Not queued.", message="Job failed."
    ),
    Transition.CANCEL_RUNNING: lambda lc, s, j: lc.cancel_running(
        s, job_id=j.id, worker_id=WORKER, message="Cancelled."
    ),
    Transition.COMPLETE: lambda lc, s, j: lc.complete(
        s, job_id=j.id, worker_id=WORKER, message="Done.", started_at=j.started_at
    ),
    Transition.FAIL: lambda lc, s, j: lc.fail(
        s, job_id=j.id, worker_id=WORKER, error_message="Broke.", error_code="x"
    ),
    Transition.REQUEUE: lambda lc, s, j: lc.requeue(
        s, job_id=j.id, worker_id=WORKER, message="Paused."
    ),
    Transition.RECOVER: lambda lc, s, j: lc.recover(
        s, job_id=j.id, worker_id=WORKER, message="Resuming."
    ),
    Transition.DELETE: lambda lc, s, j: lc.delete(s, job_id=j.id),
}
# The status after each allowed transition (None: the row is gone).
AFTER: dict[Transition, JobStatus | None] = {
    Transition.CLAIM: JobStatus.RUNNING,
    Transition.PROGRESS: JobStatus.RUNNING,
    Transition.HEARTBEAT: JobStatus.RUNNING,
    Transition.REQUEST_CANCEL: JobStatus.RUNNING,
    Transition.CANCEL_PENDING: JobStatus.CANCELLED,
    Transition.DISCARD: JobStatus.FAILED,
    Transition.CANCEL_RUNNING: JobStatus.CANCELLED,
    Transition.COMPLETE: JobStatus.COMPLETED,
    Transition.FAIL: JobStatus.FAILED,
    Transition.REQUEUE: JobStatus.PENDING,
    Transition.RECOVER: JobStatus.PENDING,
    Transition.DELETE: None,
}
EVENT: dict[Transition, JobEventKind | None] = {
    Transition.CLAIM: JobEventKind.CLAIMED,
    Transition.PROGRESS: JobEventKind.PROGRESS,
    Transition.HEARTBEAT: None,  # liveness is not a change anyone watches
    Transition.REQUEST_CANCEL: JobEventKind.CANCEL_REQUESTED,
    Transition.CANCEL_PENDING: JobEventKind.CANCELLED,
    Transition.DISCARD: JobEventKind.FAILED,
    Transition.CANCEL_RUNNING: JobEventKind.CANCELLED,
    Transition.COMPLETE: JobEventKind.COMPLETED,
    Transition.FAIL: JobEventKind.FAILED,
    Transition.REQUEUE: JobEventKind.REQUEUED,
    Transition.RECOVER: JobEventKind.RECOVERED,
    Transition.DELETE: JobEventKind.DELETED,
}


def test_every_transition_is_called_and_described() -> None:
    """The tables below cover the whole state machine."""
    assert set(CALLS) == set(AFTER) == set(EVENT) == set(ALLOWED) == set(Transition)


async def add_job(factory: async_sessionmaker[AsyncSession], status: JobStatus) -> BackgroundJob:
    """A job in status, as its legitimate owner left it."""
    user_id = await new_user_id(factory)
    now = utcnow()
    running_or_ended = status != JobStatus.PENDING
    async with factory() as session:
        job = BackgroundJob(
            user_id=user_id,
            job_type="t",
            status=status,
            progress=30,
            message="As it was.",
            attempts=1 if running_or_ended else 0,
            worker_id=WORKER if running_or_ended else None,
            started_at=now - timedelta(seconds=5) if running_or_ended else None,
            heartbeat_at=now if running_or_ended else None,
            completed_at=now if status not in (JobStatus.PENDING, JobStatus.RUNNING) else None,
        )
        session.add(job)
        await session.commit()
        return job


async def read(factory: async_sessionmaker[AsyncSession], job_id: str) -> BackgroundJob | None:
    """The stored row, fresh."""
    async with factory() as session:
        return await session.get(BackgroundJob, job_id)


@pytest.mark.parametrize("start", list(JobStatus))
@pytest.mark.parametrize("transition", list(Transition))
async def test_transition_from_every_state(
    session_factory: async_sessionmaker[AsyncSession], transition: Transition, start: JobStatus
) -> None:
    """Allowed: one write and its one event. Refused: InvalidTransitionError, nothing changes."""
    events = LocalJobEvents()
    lc = JobLifecycle(events=events)
    job = await add_job(session_factory, start)
    async with events.subscribe(job_topic(job.id)) as watched:
        async with session_factory() as session:
            if start in ALLOWED[transition]:
                await CALLS[transition](lc, session, job)
            else:
                with pytest.raises(InvalidTransitionError) as refused:
                    await CALLS[transition](lc, session, job)
                assert refused.value.status == start
        seen = watched.drain()
    row = await read(session_factory, job.id)
    if start not in ALLOWED[transition]:
        assert seen == []
        assert row is not None and row.status == start and row.message == "As it was."
        return
    expected = AFTER[transition]
    assert (row.status if row else None) == expected
    kind = EVENT[transition]
    assert [e.kind for e in seen] == ([kind] if kind else [])
    if kind and expected is not None:
        document = seen[0].document
        assert document["_id"] == job.id and document["status"] == expected
        assert document["updated_at"] is not None and "results" in document


async def test_runner_writes_need_the_owning_worker(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Another worker cannot progress, end or requeue a job it does not run."""
    lc = JobLifecycle(events=LocalJobEvents())
    job = await add_job(session_factory, JobStatus.RUNNING)
    async with session_factory() as session:
        for call in (
            lc.progress(
                session,
                job_id=job.id,
                worker_id="other",
                progress=1,
                message="m",
                results=[],
                result_count=0,
            ),
            lc.complete(session, job_id=job.id, worker_id="other", message="m"),
            lc.requeue(session, job_id=job.id, worker_id="other"),
        ):
            with pytest.raises(InvalidTransitionError):
                await call
    row = await read(session_factory, job.id)
    assert row is not None and row.status == JobStatus.RUNNING and row.progress == 30


async def test_users_cannot_cancel_each_others_jobs(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """The user guard is part of the write: a stranger's cancel is refused and names the owner."""
    lc = JobLifecycle(events=LocalJobEvents())
    job = await add_job(session_factory, JobStatus.PENDING)
    stranger = await new_user_id(session_factory)
    async with session_factory() as session:
        with pytest.raises(InvalidTransitionError) as refused:
            await lc.cancel_pending(session, job_id=job.id, user_id=stranger, message="x")
    assert refused.value.owner_id == job.user_id
    assert (await read(session_factory, job.id)).status == JobStatus.PENDING  # type: ignore[union-attr]


async def test_missing_job_is_refused_as_missing(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """A transition on an id that does not exist says so (status None)."""
    lc = JobLifecycle(events=LocalJobEvents())
    async with session_factory() as session:
        with pytest.raises(InvalidTransitionError) as refused:
            await lc.claim(session, job_id="f" * 24, worker_id=WORKER)
    assert refused.value.status is None


async def test_start_racing_a_job_that_ends_at_that_moment(
    session_factory: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The insert hits the one-active index, the active job ends before it is read: retry, no 500."""
    lc = JobLifecycle(events=LocalJobEvents())
    active = await add_job(session_factory, JobStatus.RUNNING)
    real_active_job = lifecycle_module.active_job
    calls = 0

    async def ends_first(session: AsyncSession, **kwargs: Any) -> BackgroundJob | None:
        nonlocal calls
        calls += 1
        if calls == 1:  # the other job ends between our failed insert and this read
            async with session_factory() as other:
                await lc.complete(other, job_id=active.id, worker_id=WORKER, message="Done.")
        return await real_active_job(session, **kwargs)

    monkeypatch.setattr(lifecycle_module, "active_job", ends_first)
    async with session_factory() as session:
        job = await lc.create(
            session, user_id=active.user_id, job_type=active.job_type, parameters={}, message="q"
        )
    assert calls == 1 and job.id != active.id and job.status == JobStatus.PENDING


async def test_start_against_a_job_that_stays_active_is_a_conflict(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """The retry does not paper over a real conflict: the active job is named."""
    lc = JobLifecycle(events=LocalJobEvents())
    active = await add_job(session_factory, JobStatus.PENDING)
    async with session_factory() as session:
        with pytest.raises(ActiveJobExistsError) as conflict:
            await lc.create(
                session, user_id=active.user_id, job_type="t", parameters={}, message="q"
            )
    assert conflict.value.job.id == active.id


async def test_end_hooks_run_once_per_end_and_never_break_the_write(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """on_job_end hooks see each end once; a failing hook leaves the job ended and others run."""
    lc = JobLifecycle(events=LocalJobEvents())
    seen: list[JobEvent] = []

    async def broken(_event: JobEvent) -> None:
        raise RuntimeError("hook failed")

    async def record(event: JobEvent) -> None:
        seen.append(event)

    lc.on_job_end(broken)
    lc.on_job_end(record)
    done = await add_job(session_factory, JobStatus.RUNNING)
    pending = await add_job(session_factory, JobStatus.PENDING)
    async with session_factory() as session:
        await lc.progress(
            session,
            job_id=done.id,
            worker_id=WORKER,
            progress=50,
            message="m",
            results=[],
            result_count=0,
        )
        await lc.complete(session, job_id=done.id, worker_id=WORKER, message="Done.")
        await lc.cancel_pending(session, job_id=pending.id, user_id=pending.user_id, message="c")
    await lc.drain_hooks()
    assert sorted((e.job_id, e.document["status"]) for e in seen) == sorted(
        [(done.id, "completed"), (pending.id, "cancelled")]
    )
    assert (await read(session_factory, done.id)).status == JobStatus.COMPLETED  # type: ignore[union-attr]


async def test_cleanup_deletes_ended_jobs_with_an_event_each(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """delete_ended_before removes only old ended jobs and tells their watchers."""
    events = LocalJobEvents()
    lc = JobLifecycle(events=events)
    old = await add_job(session_factory, JobStatus.FAILED)
    running = await add_job(session_factory, JobStatus.RUNNING)
    async with events.subscribe(job_topic(old.id)) as watched:
        async with session_factory() as session:
            removed = await lc.delete_ended_before(session, cutoff=utcnow() + timedelta(days=1))
        assert [e.kind for e in watched.drain()] == [JobEventKind.DELETED]
    assert removed == 1
    assert await read(session_factory, old.id) is None
    assert await read(session_factory, running.id) is not None
