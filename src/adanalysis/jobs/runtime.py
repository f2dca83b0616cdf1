"""Running one job: claim it, hand its code a JobContext, keep its heartbeat, record its end."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from adanalysis.jobs import runner_writes
from adanalysis.jobs.context import JobContext, JobServices
from adanalysis.jobs.errors import InvalidTransitionError, JobCancelled, JobError
from adanalysis.jobs.models import JobStatus
from adanalysis.jobs.registry import JobOutcome
from adanalysis.jobs.wording import JobWording
from adanalysis.logging_setup import bind_job

log = logging.getLogger(__name__)


async def run_job(
    job_id: str,
    services: JobServices,
    *,
    task_ready: Callable[[JobContext], None] | None = None,
    max_running_per_user: int | None = None,
) -> JobStatus | None:
    """Claim and run job_id to an end state; the one entry point of every executor.

    Returns the end reached, or None when this runner did not claim the job or lost it.
    max_running_per_user makes the claim itself enforce the per-user cap (scale-out).
    """
    try:
        job = await runner_writes.claim(
            services, job_id=job_id, max_running_per_user=max_running_per_user
        )
    except InvalidTransitionError:
        return None  # taken by another runner, cancelled, or already ended
    ctx = JobContext(job, services)
    # Every line logged while the job runs names it (structlog contextvars).
    with bind_job(job_id=job.id, user_id=job.user_id, job_type=job.job_type):
        return await _run_claimed(ctx, task_ready)


async def _run_claimed(
    ctx: JobContext, task_ready: Callable[[JobContext], None] | None
) -> JobStatus | None:
    """Run a claimed job's code to an end state."""
    services, job_id = ctx.services, ctx.job_id
    if task_ready is not None:
        task_ready(ctx)
    job_type = services.registry.get(ctx.job_type)
    wording = services.registry.wording(ctx.job_type)
    if job_type is None:
        error = wording.unknown_type(job_type=ctx.job_type)
        return await _end(ctx, JobStatus.FAILED, **_failure(wording, error, "unknown_job_type"))
    log.info("job %s (%s) started, attempt %d", job_id, ctx.job_type, ctx.attempt)
    heartbeat = asyncio.create_task(_heartbeat(ctx, asyncio.current_task()))
    try:
        async with asyncio.timeout(services.settings.job_timeout_seconds):
            outcome = await job_type.run(ctx)
    except JobCancelled:
        return await _end(
            ctx, JobStatus.CANCELLED, message=wording.cancelled(kept=ctx.result_count)
        )
    except asyncio.CancelledError:
        if ctx.lost:
            return None
        if ctx.cancel_requested:
            message = wording.cancelled(kept=ctx.result_count)
            with _uncancelled():
                return await _end(ctx, JobStatus.CANCELLED, message=message)
        await asyncio.shield(_requeue(ctx, wording.paused()))
        raise
    except TimeoutError:
        minutes = max(1, services.settings.job_timeout_seconds // 60)
        error = wording.timed_out(minutes=minutes)
        return await _end(ctx, JobStatus.FAILED, **_failure(wording, error, "job_timeout"))
    except InvalidTransitionError:
        log.warning("job %s was taken over elsewhere; this runner stops", job_id)
        return None
    except JobError as exc:
        return await _end(ctx, JobStatus.FAILED, **_failure(wording, exc.message, exc.code))
    except Exception:
        log.exception("job %s crashed", job_id)
        error = wording.internal_error(job_id=job_id)
        return await _end(ctx, JobStatus.FAILED, **_failure(wording, error, "internal_error"))
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
    return await _end(ctx, JobStatus.COMPLETED, **_completion(outcome, ctx))


def _failure(wording: JobWording, error: str, code: str) -> dict[str, Any]:
    return {"error_message": error, "error_code": code, "message": wording.failed()}


def _completion(outcome: JobOutcome, ctx: JobContext) -> dict[str, Any]:
    return {
        "message": outcome.message,
        "result_count": outcome.result_count,
        "results": outcome.results if outcome.results is not None else ctx.results,
        "progress": 100,
    }


async def _end(ctx: JobContext, status: JobStatus, **values: Any) -> JobStatus | None:
    """Write the end state, if this runner still owns the job."""
    final = {**ctx.final_values(), **values}

    async def write() -> None:
        await runner_writes.end(ctx.services, status, job_id=ctx.job_id, **final)

    try:
        # Shielded: a cancel that lands during the final write (the user's, or the heartbeat
        # noticing that request a moment later) must not abort it, or the job would stay
        # `running` until the reaper. The write finishes even if this task is cancelled.
        await asyncio.shield(write())
    except InvalidTransitionError:
        return None
    log.info("job %s ended %s", ctx.job_id, status.value)
    return status


@contextlib.contextmanager
def _uncancelled() -> Any:
    """Let the final write of a cancelled task run (uncancel so awaits inside it work)."""
    task = asyncio.current_task()
    if task is not None:
        while task.uncancel():
            pass
    yield


async def _heartbeat(ctx: JobContext, job_task: asyncio.Task[Any] | None) -> None:
    """Keep the job alive in the store and notice cancel requests made by other processes."""
    interval = ctx.settings.heartbeat_interval_seconds
    while True:
        await asyncio.sleep(interval)
        try:
            async with ctx.session_factory() as session:
                cancel_at = await ctx.services.lifecycle.heartbeat(
                    session, job_id=ctx.job_id, worker_id=ctx.services.worker_id
                )
        except InvalidTransitionError:
            ctx.lost = True  # reaped or ended elsewhere: stop without writing anything
            cancel_at = None
        if cancel_at is not None or ctx.lost:
            ctx.cancel_requested = cancel_at is not None
            if job_task is not None:
                job_task.cancel()
            return


async def _requeue(ctx: JobContext, message: str) -> None:
    """A graceful stop puts the job back to pending, without spending one of its attempts."""
    with contextlib.suppress(InvalidTransitionError):
        async with ctx.session_factory() as session:
            await ctx.services.lifecycle.requeue(
                session,
                job_id=ctx.job_id,
                worker_id=ctx.services.worker_id,
                results=ctx.results,
                result_count=ctx.result_count,
                message=message,
            )
