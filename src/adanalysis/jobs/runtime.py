"""Running one job: claim it, give its code a JobContext, keep its heartbeat, record the end."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.config import Settings
from adanalysis.crypto import SecretBox
from adanalysis.db import utcnow
from adanalysis.jobs.errors import JobCancelled, JobError, JobLost
from adanalysis.jobs.events import JobEvents
from adanalysis.jobs.models import BackgroundJob, JobStatus
from adanalysis.jobs.registry import get_job_function

log = logging.getLogger(__name__)
_DIGITS = re.compile(r"\d+")


def stage_of(message: str) -> str:
    """The stage a progress message names: 'Transcribing videos (3/8)' and '(4/8)' are one stage."""
    return _DIGITS.sub("#", message)


@dataclass
class JobServices:
    """What the runtime needs from the process it runs in."""

    session_factory: async_sessionmaker[AsyncSession]
    settings: Settings
    events: JobEvents
    worker_id: str
    secrets: SecretBox


class JobContext:
    """Handed to job code: report progress, record results, honour cancellation."""

    def __init__(self, job: BackgroundJob, services: JobServices) -> None:
        self.job_id = job.id
        self.user_id = job.user_id
        self.job_type = job.job_type
        self.parameters: dict[str, Any] = dict(job.parameters or {})
        self.attempt = job.attempts
        self.services = services
        self.session_factory = services.session_factory
        self.settings = services.settings
        self.results: list[Any] = list(job.results or [])
        self.result_count = job.result_count or 0
        self.progress_pct = job.progress
        self.message = job.message or ""
        self.cancel_requested = job.cancel_requested_at is not None
        self._last_write = 0.0
        self._last_stage = stage_of(self.message)
        self._lock = asyncio.Lock()

    async def progress(self, pct: int, message: str, *, force: bool = False) -> None:
        """Report progress; never backwards, written at most ~1/s unless the stage changes."""
        self.check_cancelled()
        self.progress_pct = max(self.progress_pct, min(100, int(pct)))
        self.message = message
        stage = stage_of(message)
        interval = self.settings.progress_min_interval_seconds
        if force or stage != self._last_stage or time.monotonic() - self._last_write >= interval:
            self._last_stage = stage
            await self.flush()

    def add_result(self, item: Any, *, counts: bool = False) -> None:
        """Record a result or warning in the job's results; written with the next flush."""
        self.results.append(item)
        if counts:
            self.result_count += 1

    def check_cancelled(self) -> None:
        """Raise JobCancelled when the user asked to cancel this job."""
        if self.cancel_requested:
            raise JobCancelled

    async def flush(self) -> None:
        """Write progress, message and results now; JobLost when this runner lost the job."""
        async with self._lock:
            now = utcnow()
            values = {
                "progress": self.progress_pct,
                "message": self.message,
                "results": self.results,
                "result_count": self.result_count,
                "heartbeat_at": now,
                "updated_at": now,
            }
            async with self.session_factory() as session:
                result = await session.execute(
                    update(BackgroundJob)
                    .where(*_owned(self.job_id, self.services.worker_id))
                    .values(**values)
                )
                await session.commit()
            self._last_write = time.monotonic()
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise JobLost(self.job_id)
            self.services.events.publish(
                self.job_id, {"_id": self.job_id, "status": "running", **values}
            )


def _owned(job_id: str, worker_id: str) -> tuple[Any, ...]:
    """The WHERE clause for 'still running here': guards every write against a reaped job."""
    return (
        BackgroundJob.id == job_id,
        BackgroundJob.status == JobStatus.RUNNING,
        BackgroundJob.worker_id == worker_id,
    )


async def claim(job_id: str, services: JobServices) -> BackgroundJob | None:
    """Move a pending job to running for this worker; None if someone else has it or it ended."""
    now = utcnow()
    async with services.session_factory() as session:
        result = await session.execute(
            update(BackgroundJob)
            .where(
                BackgroundJob.id == job_id,
                BackgroundJob.status == JobStatus.PENDING,
                BackgroundJob.cancel_requested_at.is_(None),
            )
            .values(
                status=JobStatus.RUNNING,
                worker_id=services.worker_id,
                attempts=BackgroundJob.attempts + 1,
                heartbeat_at=now,
                updated_at=now,
            )
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            await session.rollback()
            return None
        job = await session.get(BackgroundJob, job_id)
        assert job is not None
        if job.started_at is None:
            job.started_at = now
        await session.commit()
        return job


async def run_job(
    job_id: str, services: JobServices, *, task_ready: Any = None
) -> JobStatus | None:
    """Claim and run job_id to an end state; the one entry point of every executor."""
    job = await claim(job_id, services)
    if job is None:
        return None
    ctx = JobContext(job, services)
    if task_ready is not None:
        task_ready(ctx)
    fn = get_job_function(job.job_type)
    if fn is None:
        return await _finish_failed(ctx, f"Unknown job type '{job.job_type}'.", "unknown_job_type")
    log.info("job %s (%s) started, attempt %d", job_id, job.job_type, job.attempts)
    heartbeat = asyncio.create_task(_heartbeat(ctx, asyncio.current_task()))
    try:
        async with asyncio.timeout(services.settings.job_timeout_seconds):
            outcome = await fn(ctx)
    except JobCancelled:
        return await _finish_cancelled(ctx)
    except asyncio.CancelledError:
        if ctx.cancel_requested:
            with _uncancelled():
                return await _finish_cancelled(ctx)
        await asyncio.shield(_requeue_on_shutdown(ctx))
        raise
    except TimeoutError:
        minutes = max(1, services.settings.job_timeout_seconds // 60)
        return await _finish_failed(
            ctx,
            f"The job took longer than its {minutes}-minute limit and was stopped. "
            "Partial results were kept; try again with fewer ads.",
            "job_timeout",
        )
    except JobLost:
        log.warning("job %s was taken over elsewhere; this runner stops", job_id)
        return None
    except JobError as exc:
        return await _finish_failed(ctx, exc.message, exc.code)
    except Exception:
        log.exception("job %s crashed", job_id)
        return await _finish_failed(
            ctx,
            "The analysis stopped because of an unexpected internal error. Please try again; "
            f"if it keeps failing, contact support with job id {job_id}.",
            "internal_error",
        )
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
    return await _finish(
        ctx,
        JobStatus.COMPLETED,
        progress=100,
        message=outcome.message,
        result_count=outcome.result_count,
        results=outcome.results if outcome.results is not None else ctx.results,
    )


@contextlib.contextmanager
def _uncancelled() -> Any:
    """Let the final write of a cancelled task run (uncancel so awaits inside it work)."""
    task = asyncio.current_task()
    if task is not None:
        while task.uncancel():
            pass
    yield


async def _heartbeat(ctx: JobContext, job_task: asyncio.Task[Any] | None) -> None:
    """Keep heartbeat_at fresh and notice cancel requests made by other processes."""
    interval = ctx.settings.heartbeat_interval_seconds
    while True:
        await asyncio.sleep(interval)
        now = utcnow()
        async with ctx.session_factory() as session:
            result = await session.execute(
                update(BackgroundJob)
                .where(*_owned(ctx.job_id, ctx.services.worker_id))
                .values(heartbeat_at=now)
            )
            cancel_at = await session.scalar(
                select(BackgroundJob.cancel_requested_at).where(BackgroundJob.id == ctx.job_id)
            )
            await session.commit()
        if result.rowcount == 0 or cancel_at is not None:  # type: ignore[attr-defined]
            ctx.cancel_requested = cancel_at is not None
            if job_task is not None:
                job_task.cancel()
            return


async def _finish_cancelled(ctx: JobContext) -> JobStatus | None:
    """End as cancelled, keeping progress and partial results."""
    done = ctx.result_count
    kept = "1 analysis was kept." if done == 1 else f"{done} analyses were kept."
    message = "Job cancelled by user." + (f" {kept}" if done else "")
    return await _finish(ctx, JobStatus.CANCELLED, message=message)


async def _finish_failed(ctx: JobContext, error: str, code: str) -> JobStatus | None:
    """End as failed with a message a user can act on, keeping progress and partial results."""
    return await _finish(
        ctx, JobStatus.FAILED, message="Job failed.", error_message=error, error_code=code
    )


async def _finish(ctx: JobContext, status: JobStatus, **values: Any) -> JobStatus | None:
    """Write the end state, if this runner still owns the job."""
    now = utcnow()
    values.setdefault("progress", ctx.progress_pct)
    values.setdefault("result_count", ctx.result_count)
    values.setdefault("results", ctx.results)
    async with ctx.session_factory() as session:
        job = await session.get(BackgroundJob, ctx.job_id)
        if (
            job is None
            or job.status != JobStatus.RUNNING
            or job.worker_id != ctx.services.worker_id
        ):
            return None
        started = job.started_at or now
        values.update(
            status=status.value,
            completed_at=now,
            updated_at=now,
            actual_duration_seconds=max(0, round((now - started).total_seconds())),
        )
        result = await session.execute(
            update(BackgroundJob)
            .where(*_owned(ctx.job_id, ctx.services.worker_id))
            .values(heartbeat_at=now, **values)
        )
        await session.commit()
    if result.rowcount == 0:  # type: ignore[attr-defined]
        return None
    log.info("job %s ended %s", ctx.job_id, status.value)
    # The whole end state, so a live client needs no extra read to show it.
    ctx.services.events.publish(ctx.job_id, {"_id": ctx.job_id, **values})
    return status


async def _requeue_on_shutdown(ctx: JobContext) -> None:
    """A graceful stop puts the job back to pending, without spending one of its attempts."""
    now = utcnow()
    async with ctx.session_factory() as session:
        await session.execute(
            update(BackgroundJob)
            .where(*_owned(ctx.job_id, ctx.services.worker_id))
            .values(
                status=JobStatus.PENDING,
                worker_id=None,
                attempts=BackgroundJob.attempts - 1,
                results=ctx.results,
                result_count=ctx.result_count,
                message="Paused by a server restart; it resumes when the server is back.",
                updated_at=now,
            )
        )
        await session.commit()
