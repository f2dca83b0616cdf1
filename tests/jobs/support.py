"""Building blocks for job-system tests: services on the test database, a recording executor."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.auth.service import create_user
from adanalysis.bootstrap import build_job_registry
from adanalysis.config import Settings
from adanalysis.crypto import SecretBox
from adanalysis.jobs.context import JobServices
from adanalysis.jobs.errors import JobDeferredError
from adanalysis.jobs.events import LocalJobEvents
from adanalysis.jobs.executors import Executor
from adanalysis.jobs.lifecycle import JobLifecycle
from adanalysis.jobs.models import BackgroundJob, JobStatus
from adanalysis.jobs.service import BackgroundJobService
from tests.jobs import jobtypes


class RecordingExecutor:
    """An executor that only records what it was asked (jobs stay pending)."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, int]] = []
        self.cancelled: list[str] = []

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def submit(self, job_id: str, *, priority: int = 0, user_id: str = "") -> None:
        """Record."""
        self.submitted.append((job_id, priority))

    async def cancel(self, job_id: str) -> None:
        """Record."""
        self.cancelled.append(job_id)


def services_for(
    factory: async_sessionmaker[AsyncSession], settings: Settings, worker: str = "w1"
) -> JobServices:
    """Job services for a runner in this test, knowing the ad job and the test job types."""
    registry = build_job_registry(settings, secrets=SecretBox(settings.resolved_secret_key()))
    jobtypes.register_jobs(registry)
    return JobServices(
        session_factory=factory,
        settings=settings,
        lifecycle=JobLifecycle(events=LocalJobEvents()),
        registry=registry,
        worker_id=f"local:test:{worker}:000000",
    )


def service_for(
    services: JobServices, executor: Executor | None = None, **options: int
) -> BackgroundJobService:
    """A job service over services, recording submissions unless given an executor."""
    return BackgroundJobService(
        lifecycle=services.lifecycle,
        registry=services.registry,
        executor=executor or RecordingExecutor(),
        **options,
    )


async def new_user_id(factory: async_sessionmaker[AsyncSession]) -> str:
    """A user row to own jobs."""
    async with factory() as session:
        user = await create_user(
            session, email=f"u{uuid.uuid4().hex[:10]}@example.com", password="pass-word-1"
        )
        return user.id


async def race_capped_claims(
    factory: async_sessionmaker[AsyncSession],
    user_id: str,
    job_ids: list[str],
    claim: Callable[[str], Awaitable[object]],
) -> None:
    """Claim two of user_id's pending jobs at once, five times, with a cap of 1 in claim:
    each time one runs and the other is deferred (then both are pending again)."""

    async def outcome(job_id: str) -> str:
        try:
            await claim(job_id)
        except JobDeferredError:
            return "deferred"
        return "claimed"

    for _ in range(5):
        outcomes = await asyncio.gather(*(outcome(job_id) for job_id in job_ids))
        assert sorted(outcomes) == ["claimed", "deferred"]
        async with factory() as session:
            mine = BackgroundJob.user_id == user_id
            states = (await session.execute(select(BackgroundJob.status).where(mine))).scalars()
            assert sorted(states) == [JobStatus.PENDING, JobStatus.RUNNING]
            await session.execute(
                update(BackgroundJob).where(mine).values(status=JobStatus.PENDING, worker_id=None)
            )
            await session.commit()
