"""Keeping the job table healthy: reap jobs whose worker died, re-dispatch forgotten pending
jobs, delete old ended ones. The local executor schedules these; so does `adanalysis beat`."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from adanalysis.db import utcnow
from adanalysis.jobs.context import JobServices
from adanalysis.jobs.errors import InvalidTransitionError
from adanalysis.jobs.models import BackgroundJob, JobStatus

log = logging.getLogger(__name__)
CLEANUP_EVERY_SECONDS = 24 * 3600


@dataclass(frozen=True)
class PendingJob:
    """What an executor needs to dispatch a pending job."""

    id: str
    priority: int
    user_id: str


Dispatch = Callable[[PendingJob], Awaitable[None]]


def make_worker_id(kind: str) -> str:
    """An id naming this process: kind, host and pid (so a restart can tell its dead self)."""
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def is_dead_local_worker(worker_id: str | None, *, current: str) -> bool:
    """Whether worker_id names a process on this host that is certainly gone."""
    if not worker_id or worker_id == current:
        return False
    parts = worker_id.split(":")
    if len(parts) != 4 or parts[1] != socket.gethostname():
        return False
    try:
        pid = int(parts[2])
    except ValueError:
        return False
    if pid == os.getpid():  # same pid, other incarnation: an earlier runner of this process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Maintenance:
    """The periodic chores of the job system, each safe to run from several processes at once."""

    def __init__(self, services: JobServices, *, dispatch: Dispatch) -> None:
        self.services = services
        self.dispatch = dispatch

    async def reap(self) -> list[str]:
        """Requeue (attempt + 1), fail or cancel running jobs whose worker is gone; requeued ids."""
        settings = self.services.settings
        cutoff = utcnow() - timedelta(seconds=settings.stale_after_seconds)
        async with self.services.session_factory() as session:
            running = list(
                (
                    await session.execute(
                        select(BackgroundJob).where(BackgroundJob.status == JobStatus.RUNNING)
                    )
                ).scalars()
            )
            await session.commit()
        requeued: list[str] = []
        for job in running:
            if job.worker_id == self.services.worker_id:
                continue  # run by this very process, which is alive: a late heartbeat is load
            stale = job.heartbeat_at is None or job.heartbeat_at < cutoff
            dead = is_dead_local_worker(job.worker_id, current=self.services.worker_id)
            if not (stale or dead):
                continue
            try:
                if await self._reap_one(job):
                    requeued.append(job.id)
                    await self.dispatch(PendingJob(job.id, job.priority, job.user_id))
            except InvalidTransitionError:
                continue  # it moved on (its worker came back, or another reaper got it)
        return requeued

    async def _reap_one(self, job: BackgroundJob) -> bool:
        """End or requeue one orphaned job in its dead worker's name; True if requeued."""
        lifecycle = self.services.lifecycle
        wording = self.services.registry.wording(job.job_type)
        worker = job.worker_id or ""
        kept = {"started_at": job.started_at}
        async with self.services.session_factory() as session:
            if job.cancel_requested_at is not None:
                await lifecycle.cancel_running(
                    session,
                    job_id=job.id,
                    worker_id=worker,
                    message=wording.cancelled_unconfirmed(),
                    **kept,
                )
                return False
            if job.attempts >= job.max_attempts:
                log.warning("job %s failed after %d interrupted attempts", job.id, job.attempts)
                await lifecycle.fail(
                    session,
                    job_id=job.id,
                    worker_id=worker,
                    error_code="worker_lost",
                    error_message=wording.gave_up(attempts=job.attempts),
                    message=wording.failed(),
                    **kept,
                )
                return False
            log.warning("job %s lost its worker; requeued for attempt %d", job.id, job.attempts + 1)
            message = wording.resuming(attempt=job.attempts + 1, max_attempts=job.max_attempts)
            await lifecycle.recover(session, job_id=job.id, worker_id=worker, message=message)
            return True

    async def pending_jobs(self, *, idle_seconds: float = 0.0) -> list[PendingJob]:
        """Pending jobs not being cancelled and untouched for idle_seconds, best first."""
        cutoff = utcnow() - timedelta(seconds=idle_seconds)
        async with self.services.session_factory() as session:
            rows = await session.execute(
                select(BackgroundJob.id, BackgroundJob.priority, BackgroundJob.user_id)
                .where(
                    BackgroundJob.status == JobStatus.PENDING,
                    BackgroundJob.cancel_requested_at.is_(None),
                    BackgroundJob.updated_at <= cutoff,
                )
                .order_by(BackgroundJob.priority.desc(), BackgroundJob.created_at)
            )
            return [PendingJob(row[0], row[1], row[2]) for row in rows]

    async def redispatch_pending(self, *, idle_seconds: float) -> list[str]:
        """Dispatch again pending jobs that waited idle_seconds (a lost message, a restart)."""
        jobs = await self.pending_jobs(idle_seconds=idle_seconds)
        for job in jobs:
            await self.dispatch(job)
        return [job.id for job in jobs]

    async def cleanup(self, *, days: int | None = None) -> int:
        """Delete jobs that ended more than days (default: the cleanup_days setting) ago."""
        days = days or self.services.settings.cleanup_days
        async with self.services.session_factory() as session:
            removed = await self.services.lifecycle.delete_ended_before(
                session, cutoff=utcnow() - timedelta(days=days)
            )
        if removed:
            log.info("cleanup removed %d jobs older than %d days", removed, days)
        return removed


async def maintain_forever(maintenance: Maintenance) -> None:
    """Reap orphans and re-dispatch forgotten pending jobs every stale_after/2; clean up daily."""
    settings = maintenance.services.settings
    next_cleanup = 0.0
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(settings.stale_after_seconds / 2)
        try:
            await maintenance.reap()
            await maintenance.redispatch_pending(idle_seconds=settings.stale_after_seconds)
        except Exception:
            log.exception("job maintenance failed; will retry")
        if loop.time() >= next_cleanup:
            next_cleanup = loop.time() + CLEANUP_EVERY_SECONDS
            try:
                await maintenance.cleanup()
            except Exception:
                log.exception("job cleanup failed")
