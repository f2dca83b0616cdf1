"""Finding jobs whose process died, and resuming or failing them; dispatching what waits."""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from adanalysis.db import utcnow
from adanalysis.jobs.models import BackgroundJob, JobStatus

log = logging.getLogger(__name__)


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


async def recover_orphans(
    session: AsyncSession, *, current_worker: str, stale_after_seconds: float
) -> list[str]:
    """Requeue (attempt + 1) or fail running jobs whose runner is gone; ids requeued."""
    cutoff = utcnow() - timedelta(seconds=stale_after_seconds)
    running = (
        await session.execute(
            select(BackgroundJob).where(BackgroundJob.status == JobStatus.RUNNING)
        )
    ).scalars()
    requeued: list[str] = []
    for job in list(running):
        stale = job.heartbeat_at is None or job.heartbeat_at < cutoff
        if not (stale or is_dead_local_worker(job.worker_id, current=current_worker)):
            continue
        if await _recover_one(session, job):
            requeued.append(job.id)
    await session.commit()
    return requeued


async def _recover_one(session: AsyncSession, job: BackgroundJob) -> bool:
    """Requeue one orphaned job, or fail it when its attempts are spent; True if requeued."""
    now = utcnow()
    guard = (
        BackgroundJob.id == job.id,
        BackgroundJob.status == JobStatus.RUNNING,
        BackgroundJob.worker_id == job.worker_id,
    )
    if job.cancel_requested_at is not None:
        await session.execute(
            update(BackgroundJob)
            .where(*guard)
            .values(
                status=JobStatus.CANCELLED,
                completed_at=now,
                updated_at=now,
                message="Job cancelled by user (its worker stopped before it could confirm).",
            )
        )
        return False
    if job.attempts >= job.max_attempts:
        log.warning("job %s failed after %d interrupted attempts", job.id, job.attempts)
        await session.execute(
            update(BackgroundJob)
            .where(*guard)
            .values(
                status=JobStatus.FAILED,
                completed_at=now,
                updated_at=now,
                error_code="worker_lost",
                error_message=(
                    f"The job was interrupted {_times(job.attempts)} "
                    "(the server or worker running it "
                    "stopped) and was given up. Partial results were kept; please start it again."
                ),
                message="Job failed.",
            )
        )
        return False
    log.warning("job %s lost its worker; requeued for attempt %d", job.id, job.attempts + 1)
    await session.execute(
        update(BackgroundJob)
        .where(*guard)
        .values(
            status=JobStatus.PENDING,
            worker_id=None,
            updated_at=now,
            message=(
                "Resuming after an interruption "
                f"(attempt {job.attempts + 1} of {job.max_attempts}); "
                "finished videos are kept."
            ),
        )
    )
    return True


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


async def pending_job_ids(session: AsyncSession) -> list[tuple[str, int]]:
    """Pending jobs not being cancelled, highest priority and oldest first."""
    result = await session.execute(
        select(BackgroundJob.id, BackgroundJob.priority)
        .where(
            BackgroundJob.status == JobStatus.PENDING, BackgroundJob.cancel_requested_at.is_(None)
        )
        .order_by(BackgroundJob.priority.desc(), BackgroundJob.created_at)
    )
    return [(row[0], row[1]) for row in result]
